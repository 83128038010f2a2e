# meterkast: whole-cycle window DSP: integer sample sums to P, Vrms, Irms, PF and frequency
# MIT license
#
# One `WindowDsp` per phase. Samples arrive as two int16 buffers (voltage and current counts of
# the same ADC instants). The sample kernel (viper in metering.waveform_viper, or the bytecode
# twin below, bit for bit the same) removes the DC offset, applies the phase and gain
# calibration, and accumulates per window:
#     Σ v'·i'   active energy, directly in 2^-15 mWs (see the unit choice below)
#     Σ v'², Σ i'²  for the RMS values;  Σ v, Σ i (raw) for the offset estimate
#     Σ i (raw) teaches the current offset only in no-load windows (a load's DC is no offset)
# A window closes on a confirmed positive zero crossing of the voltage seen through a narrow
# band-pass at f_nominal (noise, notches and harmonics filtered out) after `cycles` whole cycles
# (emonLibCM style: a crossing counts once the new polarity held for CONFIRM samples, only after
# a negative half-cycle that went below -hysteresis, and never within half a cycle of the
# previous one, so noise on a dead line never makes a crossing). The ripple of instantaneous
# power (twice line frequency) sums to zero over whole cycles, so the window mean is the active
# power without ripple.
#
# Units are chosen so that every intermediate value stays below 2**30: allocation-free even in
# the bytecode kernel on a 32-bit board, where larger ints become heap objects. The proof, for
# any int16 samples: |offset| <= OFFSET_LIMIT so |v - offset| <= 34816; calibration() accepts
# only |X|, |Y| <= 30840, so |X v[n]|, |Y v[n-1]| < 2**30 (each rounded >> 14 on its own: the
# sum of the two is never formed); v' and i' are clamped to +-32766, so
# v'^2, i'^2 and v'*i' are at most 32766^2 = 2**30 - 131068, and adding a low word (< 2**16) or
# E_LO (< 2**15) stays below 2**30; the window sums over N_MAX = fs (cycles + 1) / 45 samples
# (1,567 at 6400/s and 10 cycles) of raw counts stay below 32768 N_MAX ~ 2**26.
#   i' = the raw current count minus its offset, exact: a rescaled current would be rounded a
#        second time, without dither, and at a few counts (the starting current is ~4.6 counts
#        peak at 200 A full scale) that rounding maps small values onto themselves and undoes the gain calibration.
#   v' = (X v[n] >> 14) + (Y v[n-1] >> 14), each rounded: the voltage advanced by the calibrated
#        phase lead and scaled by BOTH channels' gains so that one v'*i' unit is exactly
#        2^-15 mWs at fs samples/s (about 1/32 V per v' unit for a 6 mA current count at
#        6400 samples/s, the board design).
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
N = const(8)  # samples in the open window (negative: the crossing detector still settles)
OFF_V = const(9)  # DC offsets in use, raw counts
OFF_I = const(10)
CAL_X = const(11)  # Q14: v' = (X * v[n] + Y * v[n-1]) >> 14 (phase and gain in one)
CAL_Y = const(12)
I_MAX = const(13)  # |i'| and |v'| are clamped here: keeps i'^2, v'^2, v'*i' below 2**30
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
HYST = const(26)  # zero-crossing hysteresis, on the band-passed voltage (1/16 counts)
LAST_P = const(27)  # v'*i' of the latest sample (the window-edge correction, see AdcFrontend)
# The crossing detector sees the voltage through a two-pole band-pass (resonator) at f_nominal,
# unity gain there, 8 Hz wide: y[n] = (2 - A) y[n-1] - (1 - E) y[n-2] + G (x[n] - x[n-2]),
# A, E, G in Q14, y in 1/16 counts. White noise keeps ~6 % of its rms (12.6 Hz of noise band of
# fs/2), commutation notches and harmonics are gone; its phase is constant at a steady frequency,
# so the windows stay whole cycles. It settles in 5 time constants of 1/(pi 8 Hz) = 40 ms.
RES_Y1 = const(28)
RES_Y2 = const(29)
RES_X2 = const(30)  # the offset-free voltage two samples back
RES_A = const(31)
RES_E = const(32)
RES_G = const(33)
GAP = const(34)  # samples since the latest accepted crossing (negative: still settling)
MIN_GAP = const(35)  # no crossing is accepted sooner than this after the previous one
WORDS = const(36)

CONFIRM = const(3)  # samples of positive polarity that confirm a crossing
_HALF_Q14 = const(8192)
# Learnt DC offsets are kept within +-OFFSET_LIMIT counts (6 % of full scale; more is a faulty
# front-end, not an offset): with int16 samples |v - offset| <= 34816, so a calibration with
# |X|, |Y| <= _XY_LIMIT keeps X v[n] and Y v[n-1] below 2**30 (checked by calibration()); the
# two products are shifted (rounded) separately, so their sum never forms.
OFFSET_LIMIT = const(2048)
_XY_LIMIT = const(30840)  # floor(2**30 / (32768 + OFFSET_LIMIT))


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
    y1 = st[RES_Y1]
    y2 = st[RES_Y2]
    x2 = st[RES_X2]
    ra = st[RES_A]
    re = st[RES_E]
    rg = st[RES_G]
    gap = st[GAP]
    mingap = st[MIN_GAP]
    while k < n:
        rv = v[k]
        ri = i[k]
        k += 1
        vc = rv - offv
        if sync:
            sv += rv
            si += ri
            vp = ((x * vc + _HALF_Q14) >> 14) + ((y * prev + _HALF_Q14) >> 14)
            if vp > imax:  # only an adversarial input gets here; it keeps v'^2 below 2**30
                vp = imax
            elif vp < 0 - imax:
                vp = 0 - imax
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
        # zero crossings of the band-passed voltage: noise and commutation notches are gone from
        # it, and its constant phase moves every window edge alike (still whole cycles)
        yy = (y1 + y1 - y2 - ((ra * y1 + _HALF_Q14) >> 14) + ((re * y2 + _HALF_Q14) >> 14)
              + ((rg * (vc - x2) + _HALF_Q14) >> 14))
        x2 = prev
        y2 = y1
        gap += 1
        if yy >= 0:
            if y1 < 0:
                dcand = (yy << 8) // (yy - y1)
                run = 0
            run += 1
            if run == CONFIRM and armed and gap >= mingap:
                armed = 0
                gap = 0
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
            if yy < -hyst:
                armed = 1
        prev = vc
        y1 = yy
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
    st[RES_Y1] = y1
    st[RES_Y2] = y2
    st[RES_X2] = x2
    st[GAP] = gap


def _settle(fs, width=8.0):
    """Samples the crossing detector's band-pass needs to settle: 5 time constants of
    1 / (pi width), its transient then down to 0.7 %."""
    return int(5 * fs / (3.14159 * width))


def _limit(offset):
    if offset > OFFSET_LIMIT:
        return OFFSET_LIMIT
    if offset < -OFFSET_LIMIT:
        return -OFFSET_LIMIT
    return offset


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
    if abs(x) > _XY_LIMIT or abs(y) > _XY_LIMIT:
        raise ValueError("calibration out of the DSP's range (gain or phase lead too large)")
    return x, y, _factor(v_unit * 10 / 16), _factor(amps_per_count * 1000 / 16)


def _factor(k):
    """(f, shift) with k ~= f / 2**shift, f below 2**19."""
    shift = 11
    while k * (1 << (shift + 1)) < 0x80000:
        shift += 1
    return int(round(k * (1 << shift))), shift


class WindowDsp:
    """Whole-cycle windows for one phase; results of the latest window in plain attributes."""

    def __init__(self, cal, fs, cycles, impl=None, quiet16=40, f_nominal=50):
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
        self.fs = fs
        self.f_nominal = f_nominal
        self.settle = _settle(fs)  # samples from boot or reset() to the first crossing
        self._v_scale = cal[2]
        self._i_scale = cal[3]
        # below this current (1/16 count, about its window mean) a window counts as no-load and
        # teaches the current offset; the front-end sets it from its amps per count
        self.quiet16 = quiet16
        # 32766, not 32767: i2lo (up to 0xFFFF) + 32767**2 is exactly 2**30, a long int on a
        # 32-bit port; 0xFFFF + 32766**2 = 2**30 - 65533
        st[I_MAX] = 32766
        st[TARGET] = cycles
        # enough for `cycles` whole cycles down to 45 Hz, plus the confirmation delay
        st[N_MAX] = fs * (cycles + 1) // 45 + CONFIRM
        st[SIGN] = -0x80000000
        self._resonator(st, fs, f_nominal)
        st[MIN_GAP] = fs // (2 * f_nominal)  # half a cycle: one crossing per half cycle at most
        st[N] = -self.settle  # no dead-line fallback window before the detector has settled
        self.st = st
        self.set_hysteresis(600)  # ~2.5 % of nominal amplitude on a 450 V full-scale ADC
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
        self.span = 0  # its length crossing to crossing in 2^-fbits samples (0: not complete)
        self.cycles = cycles

    @staticmethod
    def _resonator(st, fs, f0, width=8.0):
        """The crossing detector's band-pass coefficients (runs once, at boot)."""
        import math

        r = 1 - math.pi * width / fs
        w = 2 * math.pi * f0 / fs
        a = int(round((2 - 2 * r * math.cos(w)) * 16384))
        e = int(round((1 - r * r) * 16384))
        # unity gain at f0 with the coefficients as rounded: |1 - z^-2| / |1 - a1 z^-1 + a2 z^-2|
        a1 = 2 - a / 16384
        a2 = 1 - e / 16384
        re = 1 - a1 * math.cos(w) + a2 * math.cos(2 * w)
        im = a1 * math.sin(w) - a2 * math.sin(2 * w)
        num = 2 * math.sin(w)
        st[RES_A] = a
        st[RES_E] = e
        st[RES_G] = int(round(16 * 16384 * math.sqrt(re * re + im * im) / num))
        st[GAP] = -_settle(fs, width)  # settle before the first crossing counts

    def set_hysteresis(self, counts):
        """Zero-crossing hysteresis in raw voltage counts (the band-pass has unity gain at
        f_nominal)."""
        self.st[HYST] = counts * 16

    def frequency(self, t):
        """Line frequency in mHz for a cycle length t in 2^-fbits samples."""
        return (self._fnum + (t >> 1)) // t if t > 0 else 0

    def _track_current_offset(self, st, n):
        """The current channel's ADC offset, learnt only from windows without load.

        A load may draw DC (a half-wave rectifier draws a third of its peak), and a window mean
        would take that for the ADC's offset: Irms and PF would read low and high. So the mean
        replaces the offset only when the window's current, taken about its own mean (the AC
        part: rms about the offset in use, squared, less the mean's distance from it), is below
        `quiet16` (1/16 counts): then nothing flows and the mean is the ADC's own. A load with
        DC always has a larger AC part (half-wave: 0.39 of the peak against 0.32 of DC), so at
        most 0.8 quiet16 of DC can ever be mistaken for offset. Between such windows the offset
        stays what it was (the factory's no-load value at first)."""
        q16 = self.quiet16
        r16 = _rms16(st[I2_HI], st[I2_LO], n)  # about the offset in use
        if r16 >= 0x4000:
            return  # over 1024 counts rms: loaded whatever the offset (and squares stay small)
        s = st[SUM_I]
        q = s // n
        mean16 = q * 16 + ((s - q * n) * 16) // n  # the window mean, 1/16 count
        dev16 = mean16 - 16 * st[OFF_I]  # |dev16| <= r16 (+ rounding): below 2**15
        if r16 * r16 - dev16 * dev16 < q16 * q16:
            st[OFF_I] = _limit((mean16 + 8) >> 4)

    def reset(self):
        """Forget the open window and wait for the next crossing (used per representative
        window); calibration and offset estimates stay."""
        st = self.st
        for k in (E_HI, E_LO, V2_HI, V2_LO, I2_HI, I2_LO, SUM_V, SUM_I, N, RUN, ARMED, CYCLES,
                  CLOSED, SYNC, START):
            st[k] = 0
        st[PREV] = 0
        for k in (RES_Y1, RES_Y2, RES_X2):
            st[k] = 0
        self._resonator(st, self.fs, self.f_nominal)  # settles again before a crossing counts
        st[N] = -self.settle

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
        self.span = 0
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
                span = (n << fb) + ((st[D_OPEN] - st[D_CAND]) >> (8 - fb))
                self.span = span
                t = span // st[TARGET]
                self.f_mhz = self.frequency(t)
                st[OFF_V] = _limit((2 * st[SUM_V] + n) // (2 * n))  # whole cycles: mean = DC
                self._track_current_offset(st, n)
            else:
                self.f_mhz = 0
        if st[CLOSED] == 2:
            st[SYNC] = 0  # no crossing came: wait for one so the next window is whole cycles
        for k in (E_HI, E_LO, V2_HI, V2_LO, I2_HI, I2_LO, SUM_V, SUM_I, N, CYCLES, CLOSED):
            st[k] = 0
        st[D_OPEN] = st[D_CAND]
