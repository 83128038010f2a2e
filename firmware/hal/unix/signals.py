# meterkast: the emulated mains: voltage and current waveforms per phase, and their exact energy
# MIT license
#
# The physical side of the emulator, shared by the ADC sample source (waveform_source) and the
# emulated metering chip (metering_ic): both measure the same waveforms. Per meter second and
# phase the waveform is a sum of harmonics with constant amplitudes; the fundamental phase runs
# on continuously from second to second (the line frequency may drift), so a window that spans
# a second boundary sees one continuous signal.
#
#   v(t) = sqrt2 * V1 * [sin(th) + sum r_h sin(h th + a_h)]
#   i(t) = sqrt2 * I1 * sgn * [sin(th - phi) + sum s_h sin(h th + b_h)]
#   th(t) = 2 pi (cycles before this second + f t) - 2 pi p / 3 for phase p
#
# `exact_mws` integrates v*i over the second in closed form: the reference every accuracy test
# compares against. `Sensor` is the measuring chain of one phase (divider and CT gain errors, the
# CT's phase lead, the ADC's V-to-I conversion delay, offsets and noise): what the factory
# calibration of a real meter corrects. This is emulator code: floats (double on unix) are fine.
import math
from array import array

from util.tz import LocalTime

TWO_PI = 2 * math.pi
SQRT2 = math.sqrt(2)

# Reference conditions ("sinusoidal, distortion below 2 %"): a little of what a Dutch grid has.
V_HARMONICS = ((5, 0.012, 0.0), (7, 0.006, 0.5))  # (order, ratio to fundamental, angle rad)
I_HARMONICS = ((3, 0.015, 0.3), (5, 0.01, 0.0))


class Sensor:
    """One phase's measuring chain as the ADC sees it (all relative to the nominal design)."""

    def __init__(self, v_gain=0.0, i_gain=0.0, ct_lead_deg=0.0, skew_s=0.0, v_offset=0,
                 i_offset=0, v_noise=0.0, i_noise=0.0):
        self.v_gain = v_gain  # relative error of the voltage divider (0.01 = reads 1 % high)
        self.i_gain = i_gain
        self.ct_lead = ct_lead_deg * math.pi / 180  # CT secondary leads the primary current
        self.skew = skew_s  # the current is converted this long after the voltage
        self.v_offset = v_offset  # ADC offsets, counts
        self.i_offset = i_offset
        self.v_noise = v_noise  # white noise, counts rms
        self.i_noise = i_noise

    def lead_deg(self, f_nominal=50):
        """The total phase lead of the current samples at f_nominal: what calibration removes."""
        return self.ct_lead * 180 / math.pi + 360 * f_nominal * self.skew


def default_sensors(fs=3200):
    """Three slightly different phases, as three production sensors would be."""
    # A 16-bit SAR ADC scanning V then I: the current is converted 5 us after the voltage (a
    # slow multiplexed ADC, half a sample apart, would need the two-tap correction to extrapolate
    # by several degrees, which lifts the 5th harmonic by ~10 %: a board needs a fast scan).
    skew = 5e-6
    return [
        Sensor(0.012, -0.008, 0.55, skew, 41, -27, 1.0, 1.5),
        Sensor(0.004, 0.009, 0.70, skew, -18, 33, 1.0, 1.5),
        Sensor(-0.009, -0.003, 0.62, skew, 7, -12, 1.0, 1.5),
    ]


class Mains:
    """The waveform parameters of every phase for one meter second at a time.

    A world object fills them: world.fill(second, mains) sets v1[p], i1[p] (fundamental RMS,
    V and A), phi[p] (current lag, rad; negative = capacitive), sgn[p] (+1 import, -1 export),
    freq (Hz) and cycles (line cycles before this second, mod 1).
    """

    def __init__(self, world, phases=3, v_harmonics=V_HARMONICS, i_harmonics=I_HARMONICS):
        self.world = world
        self.phases = phases
        self.v_harmonics = v_harmonics
        self.i_harmonics = i_harmonics
        self.v1 = array("d", [0.0] * 3)
        self.i1 = array("d", [0.0] * 3)
        self.phi = array("d", [0.0] * 3)
        self.sgn = array("d", [1.0] * 3)
        self.freq = 50.0
        self.cycles = 0.0
        # a distorted current per phase (hal.unix.distortion.CurrentShape, absolute amplitudes
        # in A) replaces that phase's harmonic current when the world sets one
        self.shape = [None, None, None]
        self.second = None

    def load(self, second):
        if second != self.second:
            self.world.fill(second, self)
            self.second = second
            self._comps = [self._components(p) for p in range(self.phases)]

    def power_factor_sum(self):
        """cos(phi) is not the whole story: the harmonic pairs add r_h s_h cos(a_h - b_h)."""
        extra = 0.0
        for h, r, a in self.v_harmonics:
            for k, s, b in self.i_harmonics:
                if h == k:
                    extra += r * s * math.cos(a - b)
        return extra

    def components(self, p):
        """[(order, V rms, angle)], [(order, I rms, angle)] of phase p, angles at th = 0."""
        return self._comps[p]

    def _components(self, p):
        v1 = self.v1[p]
        i1 = self.i1[p] * self.sgn[p]
        vc = [(1, v1, 0.0)] + [(h, v1 * r, a) for h, r, a in self.v_harmonics]
        ic = [(1, i1, -self.phi[p])] + [(h, i1 * s, b) for h, s, b in self.i_harmonics]
        return vc, ic

    def theta0(self, p):
        """Fundamental phase of phase p at the start of the loaded second."""
        return TWO_PI * (self.cycles - p / 3.0)

    def exact_mws(self, p, i_shift=0.0, i_delay=0.0, same_order_only=False):
        """The exact integral of v*i over the loaded second, mWs.

        i_shift / i_delay move every current component by a phase and a time (a measuring
        chain's residual error, for the emulated chip); zero for the truth. same_order_only
        drops the products of different harmonic orders: they only oscillate, and over a second
        add less than 1e-6 of V*I (the emulated chip uses it: a third of the time).
        """
        vc, ic = self.components(p)
        th0 = self.theta0(p)
        w = TWO_PI * self.freq
        shape = self.shape[p]
        if shape is not None:
            # a constant phase at every order is not a time shift, but for a distorted current
            # the chain's lead is modelled as one (exact at the fundamental, see distortion.py)
            return shape.exact_mws(vc, th0 / TWO_PI, self.freq, i_shift / w + i_delay)
        e = 0.0
        for h, va, a in vc:
            for k, ib, b in ic:
                if same_order_only and h != k:
                    continue
                b2 = b + i_shift + k * w * i_delay
                e += va * ib * (_mean_cos(h - k, th0, w, a - b2) - _mean_cos(h + k, th0, w, a + b2))
        return e * 1000.0

    def rms(self, p):
        """(V rms, I rms) including harmonics."""
        v = self.v1[p] * math.sqrt(1 + sum(r * r for _, r, _ in self.v_harmonics))
        if self.shape[p] is not None:
            return v, self.shape[p].rms()
        i = self.i1[p] * math.sqrt(1 + sum(s * s for _, s, _ in self.i_harmonics))
        return v, i


def _mean_cos(m, th0, w, c):
    """Integral over t in [0, 1) of cos(m (th0 + w t) + c)."""
    if m == 0:
        return math.cos(c)
    return (math.sin(m * (th0 + w) + c) - math.sin(m * th0 + c)) / (m * w)


class ConstantWorld:
    """A test-bench load: the same V, I, lag and frequency every second on the loaded phases."""

    def __init__(self, vrms=230.0, irms=0.0, phi=0.0, freq=50.0, loaded=(0,), v_others=None):
        self.vrms = vrms
        self.irms = irms
        self.phi = phi
        self.freq = freq
        self.loaded = loaded
        self.v_others = vrms if v_others is None else v_others

    def fill(self, second, m):
        for p in range(m.phases):
            on = p in self.loaded
            m.v1[p] = self.vrms if on else self.v_others
            m.i1[p] = abs(self.irms) if on else 0.0
            m.sgn[p] = -1.0 if self.irms < 0 else 1.0
            m.phi[p] = self.phi
        m.freq = self.freq
        c = self.freq * second
        m.cycles = c - math.floor(c)


class HouseholdWorld:
    """The simulated household behind the meter: its per-second power, voltage and power
    factor become waveforms. The household's power is the active power of the waveforms
    (harmonics included), so every front-end can be checked against the same truth."""

    def __init__(self, household, clock):
        self.house = household
        self.clock = clock
        self._tz = LocalTime()
        self._mw = array("i", [0, 0, 0])
        self._dv = array("i", [0, 0, 0])
        self._pf = array("i", [1000, 1000, 1000])

    @staticmethod
    def frequency(second):
        """Slow wander of the grid frequency, +-30 mHz (closed form, so cycles() is too)."""
        return 50.0 + 0.02 * math.sin(second * _A1) + 0.01 * math.sin(second * _A2 + 1.0)

    @staticmethod
    def cycles(second):
        """Line cycles before `second`, mod 1: the sum of frequency(k) for k < second."""
        c = 0.02 * _sin_sum(_A1, 0.0, second) + 0.01 * _sin_sum(_A2, 1.0, second)
        return c - math.floor(c)

    def fill(self, second, m):
        t = self.clock.utc_at(second)
        n = m.phases
        self.house.sample(self._tz.local(t), self._mw, self._dv, self._pf)
        vh = math.sqrt(1 + sum(r * r for _, r, _ in m.v_harmonics))
        extra = m.power_factor_sum()
        for p in range(n):
            v1 = self._dv[p] / 10.0 / vh
            cos_phi = self._pf[p] / 1000.0
            m.v1[p] = v1
            m.phi[p] = math.acos(cos_phi)  # the household's loads are inductive
            w = self._mw[p] / 1000.0
            m.sgn[p] = -1.0 if w < 0 else 1.0
            m.i1[p] = abs(w) / (v1 * (cos_phi + extra)) if v1 > 0 else 0.0
        m.freq = self.frequency(second)
        m.cycles = self.cycles(second)


_A1 = TWO_PI / 900.0
_A2 = TWO_PI / 97.0


def _sin_sum(a, b, s):
    """sum of sin(a k + b) for k = 0 .. s-1, closed form."""
    if s <= 0:
        return 0.0
    return math.sin(a * (s - 1) / 2 + b) * math.sin(a * s / 2) / math.sin(a / 2)
