# meterkast: supplier A of the front-end contract: an ADC sample source plus the window DSP
# MIT license
#
# measure(second, out) runs every sample of that second through metering.waveform (one
# WindowDsp per phase, windows of _CYCLES whole cycles) and delivers the energy of the windows
# that closed in it, with the sub-mWs remainder carried per phase. Windows straddle seconds:
# energy is counted in the second its window closes, and every sample lands in exactly one
# window, so nothing is lost or counted twice.
#
# No-load (creep): a window whose |P| is below the creep power or whose Irms is below the creep
# current counts no energy at all, as metering chips do (ADE7953 AP_NOLOAD, Microchip
# CREEP_THRESHOLD_P/I). The thresholds sit at half the starting load (class 1: Ist = 0.004 Ib,
# so 10 mA and 0.5 Un Ist = 2.3 W for a 5(60) A, 230 V meter): the starting current registers,
# the noise of an open current circuit does not.
#
# Representative windows: at emulator speeds above real time a full sample stream per meter
# second is out of reach for MicroPython, so with full_rate=False each second is measured from
# one window of _SUBSET_CYCLES cycles taken at the start of the second and scaled to the second
# (P * 1 s), with the window-edge correction below. A board always runs full rate.
from array import array
from micropython import const

from contract.frontend import (
    CURRENT_MA,
    ENERGY_MWS,
    FLAG_NO_LOAD,
    FLAG_NO_VOLTAGE,
    FLAGS,
    FREQUENCY_MHZ,
    POWER_FACTOR,
    POWER_MW,
    VOLTAGE_DV,
)
from metering import waveform as wf

_CYCLES = const(10)  # per window at full rate: 200 ms at 50 Hz, 5 windows a second
_SUBSET_CYCLES = const(5)
_BLOCK = const(640)  # samples per read from the source (buffer size)
_NO_VOLTAGE_DV = const(200)  # below 20 V a phase counts as dead


class AdcFrontend:
    def __init__(self, source, calibration, full_rate=True, ib_ma=5000, un_dv=2300,
                 f_nominal=50, impl=None):
        """source: a sample source (see hal/unix/waveform_source.py for the contract);
        calibration: per phase (volts_per_count, amps_per_count, lead_deg, v_offset, i_offset),
        the factory calibration kept in the meter's non-volatile memory."""
        self.phases = source.phases
        self.fs = fs = source.fs
        self.full_rate = full_rate
        self._source = source
        cycles = _CYCLES if full_rate else _SUBSET_CYCLES
        self.dsp = []
        for ph in range(self.phases):
            vpc, apc, lead, v_off, i_off = calibration[ph]
            d = wf.WindowDsp(wf.calibration(vpc, apc, lead, fs, f_nominal), fs, cycles, impl,
                             f_nominal=f_nominal)
            d.st[wf.OFF_V] = max(-wf.OFFSET_LIMIT, min(wf.OFFSET_LIMIT, v_off))
            d.st[wf.OFF_I] = max(-wf.OFFSET_LIMIT, min(wf.OFFSET_LIMIT, i_off))
            # the crossing detector's hysteresis at 10 % of the nominal peak voltage: 20 % of
            # noise or deep commutation notches, band-passed, stay well inside it
            d.set_hysteresis(int(un_dv * 0.1 * 1.4142 * 0.10 / vpc))
            # a window below 3/4 of the starting current (AC part) is no-load: its mean is the
            # current channel's ADC offset (a load's DC never is, see WindowDsp)
            d.quiet16 = int(ib_ma * 3 / 1000 * 16 / (apc * 1000)) + 1
            self.dsp.append(d)
        self.impl = self.dsp[0].impl
        # creep thresholds: half the class-1 starting current and the power it would draw
        ist_ma = ib_ma * 4 // 1000
        self.creep_ma = ist_ma // 2
        self.creep_mw = un_dv * ist_ma // 20  # 0.5 * Un[V] * Ist[mA] = mW
        n = _BLOCK if full_rate else self._subset_len(fs, self.dsp[0].settle, f_nominal)
        self._v = array("h", bytes(2 * n))
        self._i = array("h", bytes(2 * n))
        self._block = n
        # energy delivered per phase: whole mWs this second, and the carried 2^-15 mWs remainder
        self._mws = array("i", [0, 0, 0])
        self._lo = array("i", [0, 0, 0])
        self._counted = array("b", [0, 0, 0])  # a window counted energy this second
        # the line frequency over the whole second: the whole windows' spans and cycles
        self._span = array("i", [0, 0, 0])
        self._cycles = array("i", [0, 0, 0])
        self.windows = 0  # windows closed so far (all phases)

    @staticmethod
    def _subset_len(fs, settle, f_nominal):
        # the crossing detector settling after a reset and its half-cycle lockout, then one
        # crossing to wait for, _SUBSET_CYCLES cycles and the confirmation, down to 47.5 Hz
        return (settle + fs // (2 * f_nominal) + fs * (_SUBSET_CYCLES + 1) * 2 // 95
                + wf.CONFIRM + 1)

    def measure(self, second, out):
        for ph in range(self.phases):
            self._counted[ph] = 0
            if self.full_rate:
                self._full_second(second, ph)
            else:
                self._representative(second, ph)
        dead = 0
        idle = 0
        freq = 0
        for ph in range(3):
            if ph < self.phases:
                d = self.dsp[ph]
                out[ENERGY_MWS + ph] = self._mws[ph]
                self._mws[ph] = 0
                out[POWER_MW + ph] = d.p_mw
                out[VOLTAGE_DV + ph] = d.v_dv
                out[CURRENT_MA + ph] = d.i_ma
                out[POWER_FACTOR + ph] = d.pf
                if d.v_dv < _NO_VOLTAGE_DV:
                    dead += 1
                elif not self._counted[ph]:
                    idle += 1
                if freq == 0:
                    freq = d.f_mhz
                    if self._cycles[ph]:
                        # over every whole window that closed this second (~1 s rather than
                        # one window's 0.2 s: the crossings' noise jitter weighs 5 times less)
                        freq = d.frequency(self._span[ph] // self._cycles[ph])
                self._span[ph] = 0
                self._cycles[ph] = 0
            else:
                out[ENERGY_MWS + ph] = 0
                out[POWER_MW + ph] = 0
                out[VOLTAGE_DV + ph] = 0
                out[CURRENT_MA + ph] = 0
                out[POWER_FACTOR + ph] = 0
        out[FREQUENCY_MHZ] = freq
        flags = 0
        if dead == self.phases:
            flags |= FLAG_NO_VOLTAGE
        elif dead + idle == self.phases:
            flags |= FLAG_NO_LOAD
        out[FLAGS] = flags

    def _full_second(self, second, ph):
        d = self.dsp[ph]
        src = self._source
        v = self._v
        i = self._i
        fs = self.fs
        block = self._block
        offset = 0
        while offset < fs:
            n = fs - offset
            if n > block:
                n = block
            src.read(second, ph, offset, n, v, i)
            start = 0
            while d.feed(v, i, start, n):
                d.close()
                if d.span:
                    self._span[ph] += d.span
                    self._cycles[ph] += d.cycles
                self._deliver(ph, d.e_hi, d.e_lo)
                self.windows += 1
                start = d.st[wf.START]
            offset += n

    def _deliver(self, ph, e_hi, e_lo):
        d = self.dsp[ph]
        if d.i_ma < self.creep_ma or -self.creep_mw < d.p_mw < self.creep_mw:
            return  # no-load: the window's energy is not counted, nor carried
        self._counted[ph] = 1
        lo = self._lo[ph] + e_lo
        self._mws[ph] += e_hi + (lo >> 15)
        self._lo[ph] = lo & 0x7FFF

    def _representative(self, second, ph):
        # Unix only (speed > 1): ints here exceed 2**30, which the 64-bit port keeps small.
        d = self.dsp[ph]
        n = self._block
        self._source.read(second, ph, 0, n, self._v, self._i)
        d.reset()
        if not d.feed(self._v, self._i, 0, n):
            d.st[wf.CLOSED] = 3  # no whole window in the block: measure what there is
        st = d.st
        dq = st[wf.D_CAND] - st[wf.D_OPEN] if st[wf.CLOSED] == 1 else 0
        last_p = st[wf.LAST_P]
        d.close()
        self.windows += 1
        n = d.n
        if n <= 0:
            return  # the block ended before the crossing detector settled
        # The window spans whole cycles in time, but its samples overshoot them by
        # dq/256 of a sample at the closing edge; take that sliver (at the edge's power) off
        # and scale by the true length: P error from the edge drops from ~1/n to ~1/n^2.
        e = (d.e_hi << 15) + d.e_lo - (dq * last_p >> 8)
        units = (e * self.fs << 8) // ((n << 8) - dq)  # energy of one second, 2^-15 mWs
        d.p_mw = units >> 15
        self._deliver(ph, units >> 15, units & 0x7FFF)

    def pending_mws(self, ph):
        """Energy measured but not yet delivered on phase ph (open window plus remainder), as
        (whole mWs, 2^-15 mWs); for test benches that compare against an exact integral."""
        st = self.dsp[ph].st
        lo = st[wf.E_LO] + self._lo[ph]
        return st[wf.E_HI] + (lo >> 15), lo & 0x7FFF
