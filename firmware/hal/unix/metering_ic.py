# meterkast: an emulated metering chip (modelled on the ADE7953) behind an emulated SPI bus
# MIT license
#
# One chip per phase, as a three-phase meter built from single-phase chips would have, on one
# SPI bus with a chip-select pin each. The firmware driver (metering/ade7953.py) sees only
# machine.SPI / machine.Pin behaviour: CS low, bytes clocked both ways, CS high.
#
# Modelled on the ADE7953 datasheet as metering/ade7953.py's header cites it (page by page, and
# which figures are secondary): 16-bit address, command byte 0x80 read / 0x00 write, then the
# data MSB first; the register width follows from the address (0x0xx 8 bits, 0x1xx 16, 0x2xx 24,
# 0x3xx the same registers as 32 bits, signed ones sign-extended); AENERGYA is a 24-bit signed
# accumulator, read-with-reset while LCYCMODE bit 6 (RSTREAD, the default) is set and wrapping
# with the overflow flag otherwise; no-load: while |AWATT| < AP_NOLOAD the energy does not
# accumulate and ACCMODE bit 16 (ACTNLOAD_A) is set; ACCMODE bit 10 (APSIGN_A) is the sign of
# the active power (1: negative, export); ACCMODE AWATTACC 00 signed / 01 positive only /
# 10 absolute; AVGAIN/AIGAIN/AWGAIN scale by value / 0x400000; PHCALA (sign-magnitude) delays
# the current by steps of 1/894.9 kHz; PERIOD counts a 223.75 kHz clock per line cycle; the
# unlock write (0xAD to 0x0FE, then 0x30 to 0x120) is required for rated accuracy; writes are
# reflected in LAST_OP / LAST_ADD / LAST_RWDATA (reads of those three leave them alone: an
# assumption, so a driver can check a write with two reads).
#
# The analog side. Each chip sits behind its board's network (metering/ic_frontend.py
# REFERENCE_DESIGN: a voltage divider, a shunt) and its PGA_V / PGA_IA gains; the phase's Sensor
# adds the parts' tolerances. From the input as a fraction of the +-500 mV peak range:
#   VRMS, IRMSA = 9,032,007 x (input rms / 353.6 mV) x AVGAIN, AIGAIN
#   AWATT       = 4,862,401 x P / P_fs x AVGAIN x AIGAIN x AWGAIN
#   AENERGYA   += 206,900 x P / P_fs LSB per second, the same gains,
# P_fs being the line power of full-scale sines on both channels in phase. An input beyond
# +-500 mV peak clips: that second is then integrated numerically on the clipped waveforms
# (without the small CT-lead / PHCALA shift), so a current beyond the design's headroom reads
# low as on the chip. CONFIG bit 2 (HPFEN, default on) removes DC from every channel: the load's
# DC (a distorted current's mean, hal.unix.distortion) is then missing from IRMSA and from the
# power (the grid voltage has none, so the energy barely changes); with HPFEN off it is
# measured. Not modelled: the chip's own ADC offsets (no datasheet figure seen; they are what
# the HPF or the offset registers remove), the HPF's phase and settling, the chip's own
# sampling (~0.9 MHz) and its 1.23 kHz bandwidth (p. 1): the chip integrates each second's
# waveform exactly. The error model: the Sensor of the phase before calibration, plus 2 mW +
# 0.005 % noise on the power (the datasheet's 0.1 % over 3000:1 is an upper bound, p. 1).
# Of IRQSTATA only AEHFA (bit 0) and AEOFA (bit 3) are modelled (positions as in Analog
# Devices' no-OS driver).
#
# The chip's physics runs per meter second (ChipSet.run_until): the world of hal.unix.signals,
# integrated exactly, through the phase's sensor and the chip's calibration registers.
import math

from metering import ade7953 as _ade
from metering.ic_frontend import BOARD_SCALE, REFERENCE_DESIGN

# register addresses (24-bit view; 0x100 higher for the 32-bit view)
DISNOLOAD = 0x001
LCYCMODE = 0x004
PGA_V = 0x007
PGA_IA = 0x008
LAST_OP = 0x0FD
UNLOCK = 0x0FE
LAST_RWDATA8 = 0x0FF
CONFIG = 0x102
PHCALA = 0x108
PFA = 0x10A
PERIOD = 0x10E
RESERVED_120 = 0x120
LAST_ADD = 0x1FE
LAST_RWDATA16 = 0x1FF
ACCMODE = 0x201
AP_NOLOAD = 0x203
AWATT = 0x212
IRMSA = 0x21A
VRMS = 0x21C
AENERGYA = 0x21E
IRQSTATA = 0x22D
RSTIRQSTATA = 0x22E
AIGAIN = 0x280
AVGAIN = 0x281
AWGAIN = 0x282
LAST_RWDATA24 = 0x2FF
VERSION = 0x702

RSTREAD = 0x40
HPFEN = 0x04  # CONFIG bit 2
ACTNLOAD_A = 1 << 16
APSIGN_A = 1 << 10
AEHFA = 1 << 0  # active energy register half full
AEOFA = 1 << 3  # active energy register overflowed
PERIOD_CLOCK_HZ = _ade.PERIOD_CLOCK_HZ
PHCAL_STEP_HZ = _ade.PHCAL_STEP_HZ
CLOCK_HZ = PHCAL_STEP_HZ  # the PHCALA step rate, under the name hal.unix.factory imports

_DEFAULTS = {
    DISNOLOAD: 0, LCYCMODE: RSTREAD, PGA_V: 0, PGA_IA: 0, CONFIG: 0x8004, PHCALA: 0,
    RESERVED_120: 0, ACCMODE: 0, AP_NOLOAD: 0x00E419, AIGAIN: 0x400000, AVGAIN: 0x400000, AWGAIN: 0x400000, VERSION: 0x80,
}
_SIGNED = (AWATT, AENERGYA, PFA)
_CHECK = (LAST_OP, LAST_ADD, LAST_RWDATA8, LAST_RWDATA16, LAST_RWDATA24)
_READ_ONLY = (LAST_OP, LAST_RWDATA8, PFA, PERIOD, LAST_ADD, LAST_RWDATA16, AWATT, IRMSA, VRMS,
              AENERGYA, IRQSTATA, RSTIRQSTATA, LAST_RWDATA24, VERSION)
_INPUT_PEAK_V = _ade.INPUT_FULL_SCALE_UV / 1e6  # +-500 mV peak
_INPUT_RMS_V = _INPUT_PEAK_V / math.sqrt(2)  # a full-scale sine


def width_of(addr):
    """Register width in bytes, from the address range."""
    if addr < 0x100 or addr >= 0x700:
        return 1
    if addr < 0x200:
        return 2
    if addr < 0x300:
        return 3
    return 4


class Ade7953Model:
    """The chip: registers, one SPI transaction at a time, and one second of physics at a time.
    design: (voltage divider ratio, shunt in uOhm, ...) of the board it sits on."""

    def __init__(self, mains, phase, sensor, seed=1, design=REFERENCE_DESIGN):
        self.mains = mains
        self.phase = phase
        self.sensor = sensor
        self.seed = seed
        self.divider = design[0]
        self.shunt = design[1] * 1e-6  # ohm
        self.clipped = 0  # seconds in which an input went beyond +-500 mV peak
        self.reset()

    def reset(self):
        self.regs = dict(_DEFAULTS)
        self.regs.update({AWATT: 0, IRMSA: 0, VRMS: 0, AENERGYA: 0, IRQSTATA: 0, PFA: 0,
                          PERIOD: 0, LAST_OP: 0, LAST_ADD: 0, LAST_RWDATA8: 0, LAST_RWDATA16: 0,
                          LAST_RWDATA24: 0})
        self._unlocked = False
        self._energy_frac = 0  # the accumulator's bits below the register LSB, in 2^-16 LSB
        self._frame = None

    def full_scale(self):
        """(V, A) on the line that drive the inputs to +-500 mV peak, at the PGA gains set."""
        r = self.regs
        gv = _ade.PGA_GAINS[r[PGA_V] & 7] if (r[PGA_V] & 7) < 6 else 1
        gi = _ade.PGA_GAINS[r[PGA_IA] & 7] if (r[PGA_IA] & 7) < 6 else 1
        return _INPUT_PEAK_V * self.divider / gv, _INPUT_PEAK_V / (gi * self.shunt)

    # -- physics -----------------------------------------------------------------------------
    def physics(self, second):
        """What the chip's ADCs and DSP see in one second, before its gain registers, in line
        units: (active energy mWs, Vrms, Irms, line frequency). The phase's sensor errors are
        in; the PHCALA delay of the current takes the CT's lead out; clipping and the HPF as
        the header says."""
        m = self.mains
        m.load(second)
        s = self.sensor
        p = self.phase
        ph = self.regs[PHCALA]
        delay = ((ph & 0x1FF) * (-1 if ph & 0x200 else 1)) / PHCAL_STEP_HZ
        gv = 1 + s.v_gain
        gi = 1 + s.i_gain
        hpf = self.regs[CONFIG] & HPFEN
        v_lim, i_lim = self.full_scale()
        if _peak(m, p, True) * gv > v_lim or _peak(m, p, False) * gi > i_lim:
            self.clipped += 1
            mws, vrms, irms = _clipped(m, p, gv, gi, v_lim, i_lim, hpf)
            return mws, vrms, irms, m.freq
        mws = m.exact_mws(p, s.ct_lead, -delay, True) * gv * gi
        vrms, irms = m.rms(p)
        shape = m.shape[p]
        if hpf and shape is not None:
            dc = shape.mean()  # what the filter takes out of the current
            mws -= dc * _v_integral(m, p) * 1000.0 * gv * gi
            irms = math.sqrt(max(0.0, irms * irms - dc * dc))
        return mws, vrms * gv, irms * gi, m.freq

    def run_second(self, second):
        r = self.regs
        mws, vrms, irms, freq = self.physics(second)
        v_fs, i_fs = self.full_scale()
        v_fs /= math.sqrt(2)  # rms of a full-scale sine
        i_fs /= math.sqrt(2)
        g = 1 / 0x400000
        kv = r[AVGAIN] * g
        ki = r[AIGAIN] * g
        if r[RESERVED_120] != 0x30:
            ki *= 1.004  # not set up as the datasheet asks: off its rated accuracy
        mws *= kv * ki * r[AWGAIN] * g
        mws += _noise(self.seed, second, self.phase) * (2.0 + 5e-5 * abs(mws))
        vrms *= kv
        irms *= ki
        r[VRMS] = min(0xFFFFFF, int(vrms / v_fs * _ade.RMS_FULL_SCALE))
        r[IRMSA] = min(0xFFFFFF, int(irms / i_fs * _ade.RMS_FULL_SCALE))
        p_fs = v_fs * i_fs * 1000  # mW
        awatt = int(round(mws / p_fs * _ade.AWATT_FULL_SCALE))
        r[AWATT] = awatt & 0xFFFFFF
        va = vrms * irms
        pf = mws / 1000 / va if va > 0 else 0.0
        r[PFA] = int(round(max(-1.0, min(1.0, pf)) * 0x7FFF)) & 0xFFFF
        r[PERIOD] = int(round(PERIOD_CLOCK_HZ / freq)) - 1 if vrms > 10 else 0xFFFF
        acc = r[ACCMODE] & ~(ACTNLOAD_A | APSIGN_A)
        if awatt < 0:
            acc |= APSIGN_A
        if not (r[DISNOLOAD] & 1) and abs(awatt) < r[AP_NOLOAD]:
            r[ACCMODE] = acc | ACTNLOAD_A
            return  # no-load: nothing accumulates (and nothing is carried)
        r[ACCMODE] = acc
        mode = acc & 3  # AWATTACC: 0 signed, 1 positive only, 2 absolute
        if mode == 1 and mws < 0:
            return
        if mode == 2:
            mws = abs(mws)
        lsb = mws / p_fs * _ade.AENERGY_FULL_SCALE_HZ  # this second's energy in AENERGYA LSB
        frac = self._energy_frac + int(round(lsb * 65536))
        whole = frac >> 16
        self._energy_frac = frac - (whole << 16)
        e = _s24(r[AENERGYA]) + whole
        if e >= 1 << 23 or e < -(1 << 23):
            r[IRQSTATA] |= AEOFA
        if abs(_s24(e & 0xFFFFFF)) >= 1 << 22:
            r[IRQSTATA] |= AEHFA
        r[AENERGYA] = e & 0xFFFFFF

    # -- the SPI slave --------------------------------------------------------------------------
    def select(self):
        self._frame = bytearray()
        self._out = b""

    def deselect(self):
        f = self._frame
        self._frame = None
        if f is None or len(f) < 3 or f[2] != 0x00:
            return
        addr = f[0] << 8 | f[1]
        w = width_of(addr)
        if len(f) < 3 + w:
            return  # a short write does nothing
        value = 0
        for k in range(3, 3 + w):
            value = value << 8 | f[k]
        self._write(addr, value, w)

    def clock(self, byte):
        """One byte in on MOSI, one byte out on MISO (the chip answers from byte 3 on)."""
        f = self._frame
        if f is None:
            return 0xFF
        k = len(f)
        f.append(byte)
        if k == 2 and byte == 0x80:
            addr = f[0] << 8 | f[1]
            w = width_of(addr)
            v = self._read(addr, w)
            self._out = bytes((v >> (8 * (w - 1 - j))) & 0xFF for j in range(w))
        if k >= 3 and k - 3 < len(self._out):
            return self._out[k - 3]
        return 0

    def transfer(self, tx, rx):
        """A whole frame in one call (the usual case): the same as clock() byte by byte."""
        n = len(tx)
        if self._frame is None or len(self._frame) or n < 3:
            for k in range(n):
                rx[k] = self.clock(tx[k])
            return
        addr = tx[0] << 8 | tx[1]
        w = width_of(addr)
        rx[0] = rx[1] = rx[2] = 0
        if tx[2] == 0x80:
            v = self._read(addr, w)
            for k in range(3, n):
                j = k - 3
                rx[k] = (v >> (8 * (w - 1 - j))) & 0xFF if j < w else 0
            self._frame.extend(tx)  # later bytes of this frame (if any) are ignored
            self._out = b""
        else:
            self._frame.extend(tx)  # committed when CS rises, as on the chip
            for k in range(3, n):
                rx[k] = 0

    def _key(self, addr):
        return addr - 0x100 if 0x300 <= addr < 0x400 else addr

    def _read(self, addr, w):
        key = self._key(addr)
        r = self.regs
        v = r.get(key, 0)
        if key == AENERGYA and r[LCYCMODE] & RSTREAD:
            r[AENERGYA] = 0  # read with reset: atomically, no energy falls between
        if key == RSTIRQSTATA:
            v = r[IRQSTATA]
            r[IRQSTATA] = 0
        if w == 4 and key in _SIGNED and v & 0x800000:
            v |= 0xFF000000  # 32-bit view of a signed 24-bit register
        if key not in _CHECK:  # reading the check registers leaves them as they were
            r[LAST_OP] = 0x35
            r[LAST_ADD] = addr
        return v & ((1 << (8 * w)) - 1)

    def _write(self, addr, value, w):
        key = self._key(addr)
        r = self.regs
        if key == UNLOCK:
            self._unlocked = value == 0xAD
            return
        if key == RESERVED_120 and not self._unlocked:
            return
        self._unlocked = False
        if key in _READ_ONLY or key not in r:
            return
        if key == CONFIG and value & 0x80:
            self.reset()  # SWRST
            return
        r[key] = value & ((1 << (8 * min(w, 3))) - 1)
        r[LAST_OP] = 0xCA
        r[LAST_ADD] = addr
        last = LAST_RWDATA8 if w == 1 else (LAST_RWDATA16 if w == 2 else LAST_RWDATA24)
        r[last] = r[key]


def _peak(m, p, voltage):
    """An upper bound of |v| or |i| on the line in the loaded second (the sum of the
    amplitudes; a distorted current's largest piece)."""
    vc, ic = m.components(p)
    shape = m.shape[p]
    if not voltage and shape is not None:
        return max(abs(pc[2]) for pc in shape.pieces)
    return math.sqrt(2) * sum(abs(c[1]) for c in (vc if voltage else ic))


def _v_integral(m, p):
    """Integral of the phase's voltage over the loaded second, V s."""
    vc = m.components(p)[0]
    th0 = m.theta0(p)
    w = 2 * math.pi * m.freq
    t = 0.0
    for h, va, a in vc:
        t += va * (math.cos(h * th0 + a) - math.cos(h * (th0 + w) + a)) / (h * w)
    return math.sqrt(2) * t


def _clipped(m, p, gv, gi, v_lim, i_lim, hpf, per_cycle=1000):
    """(mWs, Vrms, Irms) of one second of the waveforms as inputs that clip at v_lim / i_lim
    (line units, sensor gains in), by the midpoint rule at `per_cycle` points per cycle."""
    vc, ic = m.components(p)
    shape = m.shape[p]
    th0 = m.theta0(p)
    f = m.freq
    w = 2 * math.pi * f
    n = int(per_cycle * f)
    u0 = th0 / (2 * math.pi)
    r2 = math.sqrt(2)
    svi = svv = sii = si = sv = 0.0
    for k in range(n):
        t = (k + 0.5) / n
        th = th0 + w * t
        v = 0.0
        for h, va, a in vc:
            v += va * math.sin(h * th + a)
        v = max(-v_lim, min(v_lim, v * r2 * gv))
        i = 0.0
        if shape is None:
            for h, ia, b in ic:
                i += ia * math.sin(h * th + b)
            i *= r2
        else:
            u = u0 + f * t
            x = u - math.floor(u / shape.period) * shape.period
            for lo, hi, amp, order, ang in shape.pieces:
                if lo <= x < hi:
                    i = amp * math.sin(2 * math.pi * order * x + ang)
        i = max(-i_lim, min(i_lim, i * gi))
        svi += v * i
        svv += v * v
        sii += i * i
        si += i
        sv += v
    dc = si / n if hpf else 0.0
    return ((svi - dc * sv) / n * 1000.0, math.sqrt(svv / n),
            math.sqrt(max(0.0, sii / n - dc * dc)))


def _s24(v):
    return v - 0x1000000 if v & 0x800000 else v


def _noise(seed, second, phase):
    """Deterministic zero-mean noise of unit variance (a uniform, scaled), cheap."""
    x = (seed * 0x9E3779B1 + second * 0x85EBCA77 + phase * 0xC2B2AE3D) & 0x7FFFFFFF
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return (x / 0x7FFFFFFF - 0.5) * 3.4641016


class EmulatedPin:
    """machine.Pin as a chip select: pin(0) selects, pin(1) deselects the attached chip."""

    def __init__(self, value=1):
        self._v = value
        self.chip = None
        self.bus = None

    def __call__(self, value=None):
        return self.value(value)

    def value(self, value=None):
        if value is None:
            return self._v
        value = 1 if value else 0
        if value != self._v and self.chip is not None:
            if value == 0:
                self.chip.select()
                self.bus.selected += 1
                self.bus.chip = self.chip
            else:
                self.chip.deselect()
                self.bus.selected -= 1
        self._v = value

    def init(self, *args, **kw):
        pass


class EmulatedSpi:
    """machine.SPI: full duplex, the selected chip answers; MISO floats high when no chip or
    more than one is selected (a bus fight reads as garbage, here as 0xFF)."""

    def __init__(self):
        self.pins = []
        self.transfers = 0
        self.selected = 0
        self.chip = None

    def attach(self, pin, chip):
        pin.chip = chip
        pin.bus = self
        self.pins.append(pin)

    def write_readinto(self, tx, rx):
        self.transfers += 1
        if self.selected == 1:
            self.chip.transfer(tx, rx)
        else:
            for k in range(len(tx)):
                rx[k] = 0xFF

    def write(self, buf):
        if self.selected == 1:
            for b in buf:
                self.chip.clock(b)

    def readinto(self, buf, write=0):
        for k in range(len(buf)):
            buf[k] = self.chip.clock(write) if self.selected == 1 else 0xFF


class ChipSet:
    """The chips of one meter on one bus; run_until(second) lets their physics catch up."""

    def __init__(self, mains, sensors, seed=1, design=REFERENCE_DESIGN):
        self.bus = EmulatedSpi()
        self.chips = []
        self.pins = []
        self.design = design
        for p in range(mains.phases):
            chip = Ade7953Model(mains, p, sensors[p], seed, design)
            pin = EmulatedPin()
            self.bus.attach(pin, chip)
            self.chips.append(chip)
            self.pins.append(pin)
        self.second = 0

    def run_until(self, end):
        """Advance every chip through the meter seconds before `end`."""
        while self.second < end:
            for chip in self.chips:
                chip.run_second(self.second)
            self.second += 1

    def factory_calibration(self, f_nominal=50, scale=BOARD_SCALE):
        """Per phase (AVGAIN, AIGAIN, AWGAIN, PHCALA) from the sensor model and the design: the
        yardstick for hal.unix.factory, which finds them by measurement through the SPI
        driver. The gains bring the chip to `scale` (ic_frontend.BOARD_SCALE): VRMS and IRMSA
        from the design's natural LSB/V and LSB/A to the scale's, AWGAIN the energy LSB."""
        divider, shunt_uohm, pga_v, pga_i = self.design
        v_fs = _INPUT_RMS_V * divider / pga_v  # line rms of a full-scale sine
        i_fs = _INPUT_RMS_V / (pga_i * shunt_uohm * 1e-6)
        fs = _ade.RMS_FULL_SCALE
        lsb_v = scale[0] * 10  # per V
        lsb_i = scale[1] * 1000  # per A
        e_natural = _ade.AENERGY_FULL_SCALE_HZ * lsb_v * lsb_i / (fs * fs)  # LSB/Ws, V, I set
        e_wanted = 1000 * scale[5] / scale[4]
        aw = int(round(0x400000 * e_wanted / e_natural))
        cal = []
        for chip in self.chips:
            s = chip.sensor
            ph = int(round(s.ct_lead / (2 * math.pi * f_nominal) * PHCAL_STEP_HZ))
            ph = (0x200 | -ph) if ph < 0 else ph
            av = 0x400000 * lsb_v / (fs / v_fs) / (1 + s.v_gain)
            ai = 0x400000 * lsb_i / (fs / i_fs) / (1 + s.i_gain)
            cal.append((int(round(av)), int(round(ai)), aw, ph))
        return cal
