# meterkast: the emulated ADC: integer voltage and current samples per phase, from the mains model
# MIT license
#
# A board fills its sample buffers from the ADC by DMA; the emulator synthesises the same int16
# samples from hal.unix.signals: the waveform through the phase's Sensor (gain errors, CT phase
# lead, V-to-I conversion delay), plus the ADC offset, white noise, rounding to whole counts and
# clipping at full scale. Deterministic: the samples of (second, phase, position) are always the
# same, whatever was read before.
#
# The anti-alias filter (hal.unix.distortion.AntiAlias, a second-order Butterworth at 1.5 kHz by
# default, the same on both channels) is applied exactly: per harmonic as its complex gain, and to
# a distorted current (a CurrentShape set on the Mains) as steady state plus the transients its
# edges start. Full scale is 450 V and 200 A peak: a crest-factor-3 current at Imax (60 A rms,
# 180 A peak) fits with 10 % to spare for gain tolerance, offset and the filter's overshoot.
#
# Sample-source contract (what metering.adc_frontend asks of a board's ADC driver too):
#   fs, phases                      samples per second per channel; 1 or 3 phases
#   read(second, phase, offset, n, vbuf, ibuf)
#                                   fill vbuf[0:n] / ibuf[0:n] (array 'h') with the samples
#                                   offset .. offset+n-1 of meter second `second` of that phase
#
# Speed: each harmonic is a Chebyshev recurrence s[n+1] = 2cos(d) s[n] - s[n-1] in Q14 counts
# with 2cos(d) in Q30, run by a viper kernel with 64-bit ints (unix x64; the emulator never runs
# on a board), restarted from exact sines at every read so no error accumulates: within a read
# of 640 samples the waveform stays within 0.1 count of the formula (the Q30 coefficient is a
# 1e-7 frequency error, common to voltage and current, so it does not touch the energy).
import math
from array import array

import micropython
from micropython import const

from hal.unix.distortion import AntiAlias

DEFAULT_FS = 6400  # samples per second per channel: 128 per cycle at 50 Hz
DEFAULT_ANTI_ALIAS = AntiAlias(1500.0)

_MAX_COMPONENTS = const(6)
_HEAD = const(4)  # words before the components: sign, offset (Q14), noise scale, noise state
_LCG_A = const(1103515245)


@micropython.viper
def _synth(out: ptr16, n: int, st: ptr32, ncomp: int):
    m = st[0]
    off = (st[1] ^ m) - m
    namp = st[2]
    x = st[3]
    k = 0
    while k < n:
        acc = off
        c = 0
        j = 4
        while c < ncomp:
            s0 = (st[j] ^ m) - m
            s1 = (st[j + 1] ^ m) - m
            cc = (st[j + 2] ^ m) - m
            acc += s1
            st[j] = s1
            st[j + 1] = ((cc * s1 + 0x20000000) >> 30) - s0
            j += 3
            c += 1
        if namp:
            x = (x * _LCG_A + 12345) & 0x7FFFFFFF
            u = x >> 15
            x = (x * _LCG_A + 12345) & 0x7FFFFFFF
            acc += (((u + (x >> 15)) - 65536) * namp) >> 16  # triangular noise
        acc = (acc + 8192) >> 14
        if acc > 32767:
            acc = 32767
        elif acc < -32767:
            acc = -32767
        out[k] = acc
        k += 1
    st[3] = x


def _mix(a, b, c, d):
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + c * 0xC2B2AE3D + d * 0x27D4EB2F) & 0x7FFFFFFF
    x ^= x >> 15
    x = (x * 0x2C1B3C6D) & 0x7FFFFFFF
    x ^= x >> 12
    return x or 1


class WaveformSource:
    """ADC samples of every phase, from a signals.Mains and one Sensor per phase."""

    def __init__(self, mains, sensors, fs=DEFAULT_FS, volts_full_scale=450.0,
                 amps_full_scale=200.0, seed=1, anti_alias=DEFAULT_ANTI_ALIAS):
        self.mains = mains
        self.sensors = sensors
        self.fs = fs
        self.anti_alias = anti_alias  # None: the samples of the unfiltered waveform
        self.phases = mains.phases
        self.seed = seed
        # the nominal design: full scale (32767 counts) is this peak voltage / current
        self.volts_per_count = volts_full_scale / 32767
        self.amps_per_count = amps_full_scale / 32767
        self._st = array("i", [0] * (_HEAD + 3 * _MAX_COMPONENTS))
        self._st[0] = -0x80000000
        self._floats = array("d")

    def factory_calibration(self, f_nominal=50):
        """The exact inverse of the sensor model, per phase: counts -> V and A, and the
        current's phase lead. The yardstick for hal.unix.factory, whose calibration found by
        measurement is the one the emulated meters get (calibration="model" selects this)."""
        cal = []
        for s in self.sensors[: self.phases]:
            cal.append((self.volts_per_count / (1 + s.v_gain), self.amps_per_count / (1 + s.i_gain),
                        s.lead_deg(f_nominal), s.v_offset, s.i_offset))
        return cal

    def read(self, second, phase, offset, n, vbuf, ibuf):
        m = self.mains
        m.load(second)
        sensor = self.sensors[phase]
        vc, ic = m.components(phase)
        w = TWO_PI * m.freq
        t0 = offset / self.fs
        th = m.theta0(phase) + w * t0
        dt = 1 / self.fs
        kv = SQRT2 * (1 + sensor.v_gain) / self.volts_per_count
        self._fill(vbuf, n, vc, th, w, dt, kv, 0.0, sensor.v_offset, sensor.v_noise,
                   _mix(self.seed, second, 2 * phase, offset))
        ki = SQRT2 * (1 + sensor.i_gain) / self.amps_per_count
        shape = m.shape[phase]
        if shape is not None:
            self._fill_shape(ibuf, n, shape, m, phase, t0, sensor,
                             _mix(self.seed, second, 2 * phase + 1, offset))
            return
        # the CT leads by ct_lead at every order; the late conversion adds h * w * skew
        self._fill(ibuf, n, ic, th, w, dt, ki, sensor.ct_lead, sensor.i_offset, sensor.i_noise,
                   _mix(self.seed, second, 2 * phase + 1, offset), sensor.skew)

    def _fill_shape(self, buf, n, shape, m, phase, t0, sensor, state):
        """A distorted current: the filtered waveform in floats, then the ADC (offset, the same
        triangular noise as _synth, rounding, clipping) in Python: only the distortion benches
        take this path."""
        f = m.freq
        fs = self.fs
        # the CT's lead as a time advance (exact at the fundamental), plus the conversion delay
        adv = sensor.ct_lead / (TWO_PI * f) + sensor.skew
        u0 = m.theta0(phase) / TWO_PI + f * (t0 + adv)
        vals = self._floats
        if len(vals) < n:
            vals = self._floats = array("d", bytes(8 * n))
        shape.sampler(self.anti_alias, f).fill(vals, u0, f / fs, n,
                                               (1 + sensor.i_gain) / self.amps_per_count)
        off = sensor.i_offset
        namp = sensor.i_noise / 26755.2
        x = state
        for k in range(n):
            acc = vals[k] + off
            if namp:
                x = (x * _LCG_A + 12345) & 0x7FFFFFFF
                u = x >> 15
                x = (x * _LCG_A + 12345) & 0x7FFFFFFF
                acc += ((u + (x >> 15)) - 65536) * namp
            r = int(math.floor(acc + 0.5))
            buf[k] = 32767 if r > 32767 else (-32767 if r < -32767 else r)

    def _fill(self, buf, n, comps, th, w, dt, scale, lead, offset, noise, state, skew=0.0):
        st = self._st
        j = _HEAD
        used = 0
        filt = self.anti_alias
        for h, amp, ang in comps:
            a = amp * scale * 16384  # peak, Q14 counts
            if a == 0 or used == _MAX_COMPONENTS:
                continue
            ph = h * (th + w * skew) + ang + lead
            if filt is not None:
                g, d = filt.gain(h * w / TWO_PI)
                a *= g
                ph += d
            d = h * w * dt
            st[j] = int(round(a * math.sin(ph - d)))  # s[-1]
            st[j + 1] = int(round(a * math.sin(ph)))  # s[0]
            st[j + 2] = int(round(2 * math.cos(d) * (1 << 30)))  # < 2**31 for d > 0.005
            j += 3
            used += 1
        st[1] = int(offset * 16384)
        st[2] = int(noise * 16384 * 65536 / 26755.2)  # triangular(-1, 1) * 65536 has sd 26755
        st[3] = state
        _synth(buf, n, st, used)


TWO_PI = 2 * math.pi
SQRT2 = math.sqrt(2)
