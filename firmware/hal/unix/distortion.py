# meterkast: distorted load currents (phase-fired, burst-fired, half-wave rectified, crest factor
# 3) and the emulated ADC's analog anti-alias filter, in closed form
# MIT license
#
# The loads of the standard's distortion influence tests are not sums of a few harmonics: a
# phase-fired current jumps, a burst-fired one repeats every few cycles. Here a current is a
# `CurrentShape`: a pattern of `period` line cycles made of pieces, each a sinusoid
# A sin(2 pi m u + phi) of the phase's own cycle count u (u = 0 at its voltage's positive zero
# crossing; m need not be an integer), zero between the pieces. Everything the emulator needs
# is computed exactly from that description:
#   exact_mws   the energy of v * i over a meter second (the accuracy reference), closed form
#   rms         the true RMS current over the pattern
#   sample      the current as the ADC sees it after the anti-alias filter: the filter's
#               steady-state response to the piece in force plus the decaying transient that
#               every piece boundary started (a second-order filter keeps its output and its
#               derivative continuous, so each boundary starts a natural response that takes up
#               the step in both)
# Emulator code: floats (double on unix) are fine.
import math

TWO_PI = 2 * math.pi


class AntiAlias:
    """A second-order low-pass (Sallen-Key, Butterworth by default) in front of each ADC input,
    the same on the voltage and the current channel, so its phase cancels in V*I."""

    def __init__(self, f0=1500.0, q=0.7071067811865476):
        self.f0 = f0
        self.q = q
        w0 = TWO_PI * f0
        self.w0 = w0
        self.sigma = w0 / (2 * q)  # decay rate of the natural response, 1/s
        self.wd = w0 * math.sqrt(1 - 1 / (4 * q * q))  # its angular frequency

    def gain(self, freq):
        """(|H|, angle of H) at freq Hz."""
        x = freq / self.f0
        re = 1 - x * x
        im = x / self.q
        d = re * re + im * im
        return 1 / math.sqrt(d), math.atan2(-im, re)


class CurrentShape:
    """A periodic current pattern: pieces (u_start, u_end, amplitude A, order m, angle phi) in
    line cycles within [0, period), current A sin(2 pi m u + phi) on a piece, 0 elsewhere."""

    def __init__(self, name, period, pieces):
        self.name = name
        self.period = period
        self.pieces = tuple(sorted(pieces))
        # boundaries of the pattern and the piece after each (None: no current)
        bounds = []
        for a, b, _, _, _ in self.pieces:
            bounds.append(a)
            bounds.append(b)
        bounds = sorted(set(x % period for x in bounds))
        self._bounds = bounds
        self._after = [self._piece_at((x + 1e-9) % period) for x in bounds]

    def _piece_at(self, u):
        for pc in self.pieces:
            if pc[0] <= u < pc[1]:
                return pc
        return None

    def scaled(self, k):
        """The same shape with every amplitude times k."""
        return CurrentShape(self.name, self.period,
                            [(a, b, amp * k, m, ph) for a, b, amp, m, ph in self.pieces])

    # -- truth --------------------------------------------------------------------------------
    def rms(self):
        s = 0.0
        for a, b, amp, m, ph in self.pieces:
            w = TWO_PI * m
            s += amp * amp / 2 * ((b - a) - (math.sin(2 * (w * b + ph)) -
                                            math.sin(2 * (w * a + ph))) / (2 * w))
        return math.sqrt(s / self.period)

    def mean(self):
        s = 0.0
        for a, b, amp, m, ph in self.pieces:
            w = TWO_PI * m
            s -= amp * (math.cos(w * b + ph) - math.cos(w * a + ph)) / w
        return s / self.period

    def exact_mws(self, vcomps, u0, f, advance=0.0):
        """Integral over t in [0, 1) s of v(t) * i(t + advance), mWs; v(t) = sqrt2 sum V_h
        sin(2 pi h u(t) + a_h) for vcomps [(h, V_h, a_h)], u(t) = u0 + f t the phase's cycles."""
        e = 0.0
        ua = u0 + f * advance  # the current's cycle count at t = 0
        ub = ua + f
        p = self.period
        k = math.floor(ua / p)
        while k * p < ub:
            base = k * p
            for a, b, amp, m, ph in self.pieces:
                lo = max(base + a, ua)
                hi = min(base + b, ub)
                if hi <= lo:
                    continue
                # times at which the current's cycle count is lo and hi
                t1 = (lo - ua) / f
                t2 = (hi - ua) / f
                w2 = TWO_PI * m * f
                c2 = TWO_PI * m * (ua - base) + ph  # piece phase measured from this period
                for h, va, ang in vcomps:
                    w1 = TWO_PI * h * f
                    c1 = TWO_PI * h * u0 + ang
                    e += va * amp * (_int_cos(w1 - w2, c1 - c2, t1, t2) -
                                     _int_cos(w1 + w2, c1 + c2, t1, t2)) / 2
            k += 1
        return e * math.sqrt(2) * 1000.0

    # -- the filtered waveform ----------------------------------------------------------------
    def sampler(self, filt, f):
        return _Sampler(self, filt, f)


def _int_cos(w, c, t1, t2):
    if abs(w) < 1e-12:
        return math.cos(c) * (t2 - t1)
    return (math.sin(w * t2 + c) - math.sin(w * t1 + c)) / w


class _Sampler:
    """The current after the anti-alias filter at any time t (seconds), for a pattern whose
    cycle count is u(t) = u0 + f t. Evaluate at increasing times (a read of samples)."""

    def __init__(self, shape, filt, f):
        self.shape = shape
        self.filt = filt
        self.f = f
        # the steady-state response of every piece: (amp |H|, order, angle + arg H)
        self._ss = {}
        for pc in shape.pieces:
            a, b, amp, m, ph = pc
            if filt is None:
                self._ss[pc] = (amp, m, ph)
            else:
                g, d = filt.gain(m * f)
                self._ss[pc] = (amp * g, m, ph + d)

    def _steady(self, pc, u, base):
        """(value, d/dt) of the piece's filtered steady state at cycle count u (period base)."""
        if pc is None:
            return 0.0, 0.0
        amp, m, ph = self._ss[pc]
        x = TWO_PI * m * (u - base) + ph
        return amp * math.sin(x), amp * TWO_PI * m * self.f * math.cos(x)

    def fill(self, out, u_first, du, n, scale):
        """out[k] = scale * filtered current at cycle counts u_first + k du, k < n (floats)."""
        shape = self.shape
        p = shape.period
        filt = self.filt
        bounds = shape._bounds
        after = shape._after
        f = self.f
        # boundaries from a little before the first sample (their transients still ring) to the
        # last sample, in absolute cycle counts, with the jump each starts
        back = 0.0 if filt is None else 25.0 / filt.sigma * f
        u_last = u_first + du * (n - 1)
        edges = []
        k = math.floor((u_first - back) / p)
        while k * p <= u_last:
            base = k * p
            for j, x in enumerate(bounds):
                ue = base + x
                if u_first - back < ue <= u_last:
                    before = after[j - 1]
                    b_base = base if j > 0 else base - p
                    y0, d0 = self._steady(before, ue, b_base)
                    y1, d1 = self._steady(after[j], ue, base)
                    edges.append((ue, y0 - y1, d0 - d1))
            k += 1
        e = 0
        ne = len(edges)
        live = []
        for k in range(n):
            u = u_first + k * du
            while e < ne and edges[e][0] <= u:
                live.append(edges[e])
                e += 1
            base = math.floor(u / p) * p
            pc = shape._piece_at(u - base)
            y = self._steady(pc, u, base)[0] if pc is not None else 0.0
            if filt is not None and live:
                sig = filt.sigma
                wd = filt.wd
                keep = []
                for ue, a, b in live:
                    t = (u - ue) / f
                    if t * sig > 25:
                        continue
                    keep.append((ue, a, b))
                    y += math.exp(-sig * t) * (a * math.cos(wd * t) +
                                               (b + sig * a) / wd * math.sin(wd * t))
                live = keep
            out[k] = y * scale


# -- the standard's test currents --------------------------------------------------------------
# IEC 62053-21 (2003) Annex A describes the influence-test waveforms; the notes the project has
# (shared/reference/metrology_style.md) saw only the table row for DC and even harmonics. The
# shapes below follow the commonly described test circuits: a 90 degree phase-fired (triac)
# current for odd harmonics, a burst-fired (2 cycles on, 2 off) current for sub-harmonics, a
# half-wave rectified current for DC and even harmonics. The crest-factor-3 current is the
# pulse of a capacitor-input rectifier (LED drivers, chargers): a half cosine of 40 degrees
# centred on each voltage peak, crest factor sqrt(2 * 4.5) = 3 exactly.
def sine(peak):
    return CurrentShape("sine", 1, [(0.0, 1.0, peak, 1, 0.0)])


def phase_fired(peak, angle_deg=90.0):
    s = angle_deg / 360.0
    return CurrentShape("phase-fired %g deg" % angle_deg, 1,
                        [(s, 0.5, peak, 1, 0.0), (0.5 + s, 1.0, peak, 1, 0.0)])


def burst_fired(peak, on=2, off=2):
    return CurrentShape("burst-fired %d on %d off" % (on, off), on + off,
                        [(0.0, float(on), peak, 1, 0.0)])


def half_wave(peak):
    return CurrentShape("half-wave rectified", 1, [(0.0, 0.5, peak, 1, 0.0)])


def crest_factor_3(peak):
    # cos(4.5 * 2 pi (u - c)) = sin(2 pi 4.5 u + pi/2 - 9 pi c) on |u - c| < 1/18
    k = 4.5
    pieces = []
    for c, sign in ((0.25, 1.0), (0.75, -1.0)):
        ph = math.pi / 2 - TWO_PI * k * c + (0.0 if sign > 0 else math.pi)
        pieces.append((c - 1 / 18, c + 1 / 18, peak, k, ph))
    return CurrentShape("crest factor 3", 1, pieces)
