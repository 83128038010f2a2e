# meterkast: whole-cycle window DSP: integer sample sums to P, Vrms, Irms, PF and frequency
# MIT license
#
# One `WindowDsp` per phase. Samples arrive as two int16 buffers (voltage and current counts of
# the same ADC instants). The sample kernel (viper in metering.waveform_viper, or the bytecode
# twin below, bit for bit the same) removes the DC offset, applies the phase and gain
# calibration, and accumulates per window:
#     Σ v'·i'   active energy, directly in 2^-15 mWs (see the unit choice below)
#     Σ v'², Σ i'²  for the RMS values;  Σ v, Σ i (raw) for the offset estimate
# A window closes on a confirmed positive voltage zero crossing after `cycles` whole cycles
# (emonLibCM style: a crossing counts once the new polarity held for CONFIRM samples, and
# only after a negative half-cycle that went below -hysteresis, so noise on a dead line never
# makes a crossing). The ripple of instantaneous power (twice line frequency) sums to zero
# over whole cycles, so the window mean is the active power without ripple.
#
# Units are chosen so that every intermediate value stays below 2**30: allocation-free even in
# the bytecode kernel on a 32-bit board, where larger ints become heap objects.
#   i' = the raw current count minus its offset, exact: a rescaled current would be rounded a
#        second time, without dither, and at a few counts (the starting current is ~9 counts
#        peak) that rounding maps small values onto themselves and undoes the gain calibration.
#   v' = (X v[n] + Y v[n-1]) >> 14: the voltage advanced by the calibrated phase lead and scaled
#        by BOTH channels' gains so that one v'*i' unit is exactly 2^-15 mWs at fs samples/s
#        (about 1/32 V per v' unit for a 3 mA current count at 3200 samples/s).
# Energy sums are split (hi, lo): hi whole mWs (floor), lo the remainder in 2^-15 mWs; squares
# are split the same way with 16 bits in lo. Nothing is lost between windows or seconds.
from array import array
from micropython import const

from metering.power import power_factor

try:
    from metering import waveform_viper as _native
except (ImportError, SyntaxError, ValueError):  # no native emitter, or an .mpy for another arch
    _native = None  # type: ignore[assignment]

# per-phase state words (array 'i')
E_HI = const(0)  # window active energy, whole mWs (floor), signed
E_LO = const(1)  # window energy remainder, 2^-15 mWs, 0..32767
V2_HI = const(2)  # Σ v'² >> 16
V2_LO = const(3)
I2_HI = const(4)
I2_LO = const(5)
SUM_V = const(6)  # Σ raw voltage counts: the DC offset estimate
SUM_I = const(7)
N = const(8)  # samples in the open window
OFF_V = const(9)  # DC offsets in use, raw counts
OFF_I = const(10)
CAL_X = const(11)  # Q14: v' = (X * v[n] + Y * v[n-1]) >> 14 (phase and gain in one)
CAL_Y = const(12)
I_MAX = const(13)  # |i - offset| is clamped here: keeps i'^2 below 2**30 at full scale
PREV = const(14)  # previous offset-free voltage sample
RUN = const(15)  # consecutive non-negative voltage samples (0 after a negative one)
ARMED = const(16)  # 1 once a negative half-cycle went below -HYST: a crossing may follow
CYCLES = const(17)  # confirmed positive crossings since the window opened
TARGET = const(18)  # cycles per window
D_OPEN = const(19)  # crossing fraction (Q8 of a sample, before the crossing sample) at open
D_CAND = const(20)  # fraction of the latest candidate crossing
CLOSED = const(21)  # set by the kernel: 1 window complete, 2 N_MAX reached without it
SYNC = const(22)  # 0: waiting for the first crossing (samples not accumulated); 1: open
N_MAX = const(23)  # fallback window length when no crossing comes (no voltage)
START = const(24)  # next buffer index the kernel reads
SIGN = const(25)  # constant -2**31: sign-extends ptr32 loads on 64-bit viper
HYST = const(26)  # zero-crossing hysteresis, raw counts
LAST_P = const(27)  # v'*i' of the latest sample (the window-edge correction, see AdcFrontend)
WORDS = const(28)

CONFIRM = const(3)  # samples of positive polarity that confirm a crossing
_HALF_Q14 = const(8192)


def kernel(st, v, i, n):
    """Accumulate samples v[START:n], i[START:n] into the window `st` (bytecode twin).

    Stops after the sample that closes a window (CLOSED set, START on the next sample) or at n.
    """
    k = st[START]
    ehi = st[E_HI]
    elo = st[E_LO]
    v2hi = st[V2_HI]
    v2lo = st[V2_LO]
    i2hi = st[I2_HI]
    i2lo = st[I2_LO]
    sv = st[SUM_V]
    si = st[SUM_I]
    cnt = st[N]
    offv = st[OFF_V]
    offi = st[OFF_I]
    x = st[CAL_X]
    imax = st[I_MAX]
    y = st[CAL_Y]
    prev = st[PREV]
    run = st[RUN]
    armed = st[ARMED]
    cycles = st[CYCLES]
    target = st[TARGET]
    dcand = st[D_CAND]
    sync = st[SYNC]
    nmax = st[N_MAX]
    hyst = st[HYST]
    closed = 0
    p = st[LAST_P]
    while k < n:
        rv = v[k]
        ri = i[k]
        k += 1
        vc = rv - offv
        if sync:
            sv += rv
            si += ri
            vp = (x * vc + y * prev + _HALF_Q14) >> 14
            ip = ri - offi
            if ip > imax:
                ip = imax
            elif ip < 0 - imax:
                ip = 0 - imax
            p = vp * ip
            elo += p
            ehi += elo >> 15
            elo &= 0x7FFF
            v2lo += vp * vp
            v2hi += v2lo >> 16
            v2lo &= 0xFFFF
            i2lo += ip * ip
            i2hi += i2lo >> 16
            i2lo &= 0xFFFF
        cnt += 1
        # zero crossings of the offset-free voltage
        if vc >= 0:
            if prev < 0:
                dcand = (vc << 8) // (vc - prev)
                run = 0
            run += 1
            if run == CONFIRM and armed:
                armed = 0
                if sync:
                    cycles += 1
                    if cycles >= target:
                        closed = 1
                else:
                    # first crossing: the window opens after this sample
                    sync = 1
                    cnt = 0
                    st[D_OPEN] = dcand
        else:
            run = 0
            if vc < -hyst:
                armed = 1
        prev = vc
        if cnt >= nmax and not closed:
            if sync:
                closed = 2
            else:
                sync = 1  # no crossing in sight: measure without one (dead or odd line)
                cnt = 0
        if closed:
            break
    st[START] = k
    st[E_HI] = ehi
    st[E_LO] = elo
    st[V2_HI] = v2hi
    st[V2_LO] = v2lo
    st[I2_HI] = i2hi
    st[I2_LO] = i2lo
    st[SUM_V] = sv
    st[SUM_I] = si
    st[N] = cnt
    st[PREV] = prev
    st[RUN] = run
    st[ARMED] = armed
    st[CYCLES] = cycles
    st[D_CAND] = dcand
    st[SYNC] = sync
    st[CLOSED] = closed
    st[LAST_P] = p


def isqrt(n):
    """floor(sqrt(n)) for 0 <= n < 2**30, small ints only."""
    if n <= 0:
        return 0
    x = 1
    while x * x <= n:
        x <<= 1
    while True:
        y = (x + n // x) >> 1
        if y >= x:
            return x
        x = y


def _rms16(hi, lo, n):
    """RMS of a (hi << 16 | lo) sum of squares over n samples, in 1/16 unit."""
    q = hi // n
    ms = (q << 16) + (((hi - q * n) << 16) + lo) // n
    if ms < 0x400000:
        return isqrt(ms << 8)
    return isqrt(ms) << 4


def _scale(r, f, shift):
    """round(r * f / 2**shift) for r < 2**20, f < 2**19, no intermediate above 2**30."""
    a = (r >> 10) * f + ((r & 0x3FF) * f >> 10)
    return (a + (1 << (shift - 11))) >> (shift - 10)


def calibration(volts_per_count, amps_per_count, lead_deg, fs, f_nominal=50):
    """Integer calibration of one phase from its factory calibration (runs once, at boot):
    (X, Y) in Q14 for the voltage path, and (factor, shift) pairs that turn an RMS in 1/16 of
    a v' unit into 0.1 V and an RMS in 1/16 current count into mA.

    lead_deg: how far the current samples lead the voltage samples at f_nominal (CT phase
    error plus the ADC's V-to-I conversion delay). The voltage is advanced by the same angle
    with the two-tap formula of emonLibCM: x*sin(t) + y*sin(t - ts) = sin(t + lead).
    """
    import math

    ts = 2 * math.pi * f_nominal / fs
    g = lead_deg * math.pi / 180
    yy = -math.sin(g) / math.sin(ts)
    xx = math.cos(g) - yy * math.cos(ts)
    # one v' unit: 2^-15 mWs / (amps_per_count * 1/fs s), in volts
    v_unit = fs / (32768 * 1000 * amps_per_count)
    kv = volts_per_count / v_unit
    x = int(round(xx * kv * 16384))
    y = int(round(yy * kv * 16384))
    return x, y, _factor(v_unit * 10 / 16), _factor(amps_per_count * 1000 / 16)


def _factor(k):
    """(f, shift) with k ~= f / 2**shift, f below 2**19."""
    shift = 11
    while k * (1 << (shift + 1)) < 0x80000:
        shift += 1
    return int(round(k * (1 << shift))), shift


class WindowDsp:
    """Whole-cycle windows for one phase; results of the latest window in plain attributes."""

    def __init__(self, cal, fs, cycles, impl=None):
        """cal: from calibration(); fs: samples/s; cycles: cycles per window."""
        if impl is None:
            impl = "viper" if _native is not None else "bytecode"
        if impl == "viper" and _native is None:
            raise ValueError("no native emitter on this port")
        if impl not in ("viper", "bytecode"):
            raise ValueError("impl must be 'viper' or 'bytecode'")
        self.impl = impl
        self._kernel = _native.kernel if impl == "viper" else kernel
        self.fs = fs
        st = array("i", bytes(4 * WORDS))
        st[CAL_X], st[CAL_Y] = cal[0], cal[1]
        self._v_scale = cal[2]
        self._i_scale = cal[3]
        st[I_MAX] = 32767
        st[TARGET] = cycles
        # enough for `cycles` whole cycles down to 45 Hz, plus the confirmation delay
        st[N_MAX] = fs * (cycles + 1) // 45 + CONFIRM
        st[SIGN] = -0x80000000
        st[HYST] = 600  # ~2.5 % of nominal amplitude on a 450 V full-scale ADC
        self.st = st
        # frequency: f = fs * 1000 * 2^fb / T where T is the cycle length in 2^-fb samples
        fb = 8
        while fs * 1000 << fb >= 0x40000000:
            fb -= 1
        self._fbits = fb
        self._fnum = fs * 1000 << fb
        # results of the latest closed window
        self.p_mw = 0
        self.v_dv = 0
        self.i_ma = 0
        self.pf = 0
        self.f_mhz = 0
        self.n = 0  # samples in it
        self.e_hi = 0  # its energy (whole mWs, floor) and remainder (2^-15 mWs)
        self.e_lo = 0
        self.complete = False  # True when it spanned `cycles` whole cycles

    def reset(self):
        """Forget the open window and wait for the next crossing (used per representative
        window); calibration and offset estimates stay."""
        st = self.st
        for k in (E_HI, E_LO, V2_HI, V2_LO, I2_HI, I2_LO, SUM_V, SUM_I, N, RUN, ARMED, CYCLES,
                  CLOSED, SYNC, START):
            st[k] = 0
        st[PREV] = 0

    def feed(self, v, i, start, n):
        """Run the kernel over v[start:n]; returns True if a window closed (call close()),
        then call feed again with start=self.st[START] until it returns False."""
        st = self.st
        st[START] = start
        self._kernel(st, v, i, n)
        return st[CLOSED] != 0

    def close(self):
        """Compute the window's results, update the offset estimates, open the next window."""
        st = self.st
        n = st[N]
        self.n = n
        complete = st[CLOSED] == 1
        self.complete = complete
        ehi = st[E_HI]
        elo = st[E_LO]
        self.e_hi = ehi
        self.e_lo = elo
        if n > 0:
            fs = self.fs
            # P = E * fs / n, in mW, with E = ehi + elo / 2^15 mWs, split to stay small
            q = ehi // n
            self.p_mw = q * fs + ((ehi - q * n) * fs + ((elo * fs) >> 15)) // n
            f, sh = self._v_scale
            self.v_dv = _scale(_rms16(st[V2_HI], st[V2_LO], n), f, sh)
            f, sh = self._i_scale
            self.i_ma = _scale(_rms16(st[I2_HI], st[I2_LO], n), f, sh)
            self.pf = power_factor(self.p_mw, self.v_dv, self.i_ma)
            if complete:
                # cycle length in 2^-fb samples, crossing to crossing
                fb = self._fbits
                t = ((n << fb) + ((st[D_OPEN] - st[D_CAND]) >> (8 - fb))) // st[TARGET]
                self.f_mhz = (self._fnum + (t >> 1)) // t if t > 0 else 0
                st[OFF_V] = (2 * st[SUM_V] + n) // (2 * n)  # whole cycles: the mean is the DC
                st[OFF_I] = (2 * st[SUM_I] + n) // (2 * n)
            else:
                self.f_mhz = 0
        if st[CLOSED] == 2:
            st[SYNC] = 0  # no crossing came: wait for one so the next window is whole cycles
        for k in (E_HI, E_LO, V2_HI, V2_LO, I2_HI, I2_LO, SUM_V, SUM_I, N, CYCLES, CLOSED):
            st[k] = 0
        st[D_OPEN] = st[D_CAND]
