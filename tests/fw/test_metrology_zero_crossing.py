# metering.waveform's crossing detector under the real MicroPython: every window whole cycles
# (no false crossing) and the line frequency the front-end reports each second (what P1 and P3
# show) within 0.01 Hz, on a voltage with 20 % noise (white, rms 20 % of Un) or deep commutation
# notches, at 6400 samples/s with the board design's scales. Samples made here with math.sin and
# a seeded generator.
import math
from array import array

from contract import frontend as fe
from metering import waveform as wf
from metering.adc_frontend import AdcFrontend

FS = 6400
VPC = 450 / 32767
APC = 200 / 32767
IMPLS = ("viper", "bytecode")


def noise(seed):
    """Deterministic, roughly Gaussian noise of unit rms (the sum of four uniforms)."""
    x = seed

    def nxt():
        nonlocal x
        s = 0
        for _ in range(4):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            s += x
        return (s / 0x7FFFFFFF - 2.0) * 1.7320508

    return nxt


def samples(n, f, vnoise=0.0, notches=(), depth=1.0, width_s=0.0, irms=10.0, seed=7):
    """230 V (+ white noise of vnoise * 230 V rms), and commutation notches: at each angle of
    `notches` (degrees) the voltage is pulled `depth` of the way to zero for width_s."""
    v = array("h", bytes(2 * n))
    i = array("h", bytes(2 * n))
    rnd = noise(seed)
    av = 230 * math.sqrt(2) / VPC
    ai = irms * math.sqrt(2) / APC
    half = width_s * f * 360 / 2
    for k in range(n):
        th = 2 * math.pi * f * k / FS + 0.4
        x = av * math.sin(th)
        deg = (th * 180 / math.pi) % 360
        for a in notches:
            d = (deg - a + 180) % 360 - 180
            if -half <= d < half:
                x *= 1 - depth
        x += vnoise * 230 / VPC * rnd()
        v[k] = max(-32767, min(32767, int(round(x))))
        i[k] = int(round(ai * math.sin(th - 0.3)))
    return v, i


class ArraySource:
    """One phase of precomputed samples, served per meter second as the board's DMA would."""

    fs = FS
    phases = 1

    def __init__(self, v, i):
        self.v = v
        self.i = i

    def read(self, second, phase, offset, n, vbuf, ibuf):
        base = second * FS + offset
        for k in range(n):
            vbuf[k] = self.v[base + k]
            ibuf[k] = self.i[base + k]


def windows(impl, v, i):
    d = wf.WindowDsp(wf.calibration(VPC, APC, 0.0, FS), FS, 10, impl)
    d.set_hysteresis(int(230 * math.sqrt(2) * 0.10 / VPC))  # what AdcFrontend sets
    out = []
    start = 0
    while d.feed(v, i, start, len(v)):
        d.close()
        out.append((d.complete, d.n))
        start = d.st[wf.START]
    return out


CASES = (
    ("20 % noise", dict(vnoise=0.20)),
    # a six-pulse rectifier's notches, 100 % deep, 0.4 ms, two of them next to the crossings
    ("notches", dict(notches=(2, 62, 122, 182, 242, 302), width_s=0.0004)),
    ("notches and 20 % noise", dict(vnoise=0.2, notches=(30, 90, 150, 210, 270, 330),
                                    depth=0.8, width_s=0.0005)),
)
SECONDS = 4

for f in (49.5, 50.0, 50.37):
    for name, kw in CASES:
        v, i = samples(SECONDS * FS, f, **kw)
        for impl in IMPLS:
            # no false crossing: every window after the first is 10 whole cycles
            res = windows(impl, v, i)
            assert len(res) >= 5 * SECONDS - 3, (name, f, len(res))
            for complete, n in res[1:]:
                # (the crossings jitter by a fraction of a sample in the noise)
                assert complete and abs(n - 10 * FS / f) <= 2, (impl, name, f, n)
            # the frequency the front-end reports each second (P1, P3): within 0.01 Hz
            front = AdcFrontend(ArraySource(v, i), [(VPC, APC, 0.0, 0, 0)], impl=impl)
            out = array("i", [0] * fe.FIELDS)
            for s in range(SECONDS):
                front.measure(s, out)
                if s:
                    assert abs(out[fe.FREQUENCY_MHZ] - f * 1000) <= 10, (
                        impl, name, f, s, out[fe.FREQUENCY_MHZ])
        print(name, f, "ok")
print("OK")
