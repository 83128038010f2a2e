# The front-end contract (contract/frontend.py), checked the same way on both suppliers: every
# field written, units, signs, flags, energy against the exact integral, single-phase builds,
# and the full-rate path allocation-free on plain hardware objects.
import math
import micropython
from array import array

from contract import frontend as fe
from hal.unix.frontends import build_measuring
from hal.unix.signals import ConstantWorld, Mains
from metering.adc_frontend import AdcFrontend

KINDS = ("waveform", "ic")
SENTINEL = 0x5A5A5A5


def front(kind, vrms=230.0, irms=5.0, phi=0.0, f=50.0, loaded=(0, 1, 2), phases=3, full=True):
    mains = Mains(ConstantWorld(vrms, irms, phi, f, loaded), phases)
    return build_measuring(kind, mains, full_rate=full), mains


def seconds(fe_, mains, n, first=0):
    """Run n seconds; (per-phase energy sums, exact per-phase sums, last out)."""
    out = array("i", [SENTINEL] * fe.FIELDS)
    got = [0, 0, 0]
    exact = [0.0, 0.0, 0.0]
    for s in range(first, first + n):
        for k in range(fe.FIELDS):
            out[k] = SENTINEL
        fe_.measure(s, out)
        for k in range(fe.FIELDS):
            assert out[k] != SENTINEL, ("field not written", k)
        mains.load(s)
        for p in range(3):
            got[p] += out[fe.ENERGY_MWS + p]
            if p < mains.phases:
                exact[p] += mains.exact_mws(p)
    return got, exact, out


def near(x, want, tol, what):
    assert abs(x - want) <= tol, (what, x, want)


def units_and_signs(kind):
    phi = math.acos(0.5)
    for irms, sign in ((5.0, 1), (-5.0, -1)):
        f, mains = front(kind, irms=irms, phi=phi)
        got, exact, out = seconds(f, mains, 4)
        for p in range(3):
            near(out[fe.POWER_MW + p], sign * 575000, 600, "P mW")
            near(out[fe.VOLTAGE_DV + p], 2300, 2, "V dV")
            near(out[fe.CURRENT_MA + p], 5000, 8, "I mA")  # 1.5 % third harmonic adds 0.6 mA
            near(out[fe.POWER_FACTOR + p], sign * 500, 3, "PF")
            # energy: signed, and over whole seconds the exact integral (first second aside)
            assert got[p] * sign > 0
        near(out[fe.FREQUENCY_MHZ], 50000, 5, "f mHz")
        assert out[fe.FLAGS] == 0
        f, mains = front(kind, irms=irms, phi=phi)
        seconds(f, mains, 1)
        got, exact, out = seconds(f, mains, 5, 1)
        for p in range(3):
            near(got[p], exact[p], abs(exact[p]) * 0.002, "energy vs integral")


def frequency(kind):
    for hz in (49.0, 50.5, 51.0):
        f, mains = front(kind, f=hz)
        out = seconds(f, mains, 3)[2]
        near(out[fe.FREQUENCY_MHZ], hz * 1000, 5, "f")


def flags(kind):
    f, mains = front(kind, irms=0.0, vrms=264.5)  # current circuits open, 115 % Un
    got, exact, out = seconds(f, mains, 30)
    assert got == [0, 0, 0] and out[fe.FLAGS] == fe.FLAG_NO_LOAD, (got, out[fe.FLAGS])
    f, mains = front(kind, irms=0.006)  # 1.4 W a phase: below the 2.3 W creep level
    got, exact, out = seconds(f, mains, 10)
    assert got == [0, 0, 0] and out[fe.FLAGS] == fe.FLAG_NO_LOAD
    f, mains = front(kind, irms=0.02)  # the starting current counts, on every phase
    got, exact, out = seconds(f, mains, 10)
    assert min(got) > 0 and out[fe.FLAGS] == 0, got
    f, mains = front(kind, irms=0.0, vrms=0.0)  # supply gone
    got, exact, out = seconds(f, mains, 5)
    assert got == [0, 0, 0] and out[fe.FLAGS] == fe.FLAG_NO_VOLTAGE
    assert out[fe.FREQUENCY_MHZ] == 0 and out[fe.VOLTAGE_DV] < 200
    f, mains = front(kind, irms=5.0, loaded=(1,))  # one phase loaded is not no-load
    got, exact, out = seconds(f, mains, 3)
    assert out[fe.FLAGS] == 0 and got[0] == 0 and got[1] > 0 and got[2] == 0, got


def single_phase(kind):
    f, mains = front(kind, loaded=(0,), phases=1)
    assert f.phases == 1
    got, exact, out = seconds(f, mains, 3)
    assert got[1] == got[2] == 0 and got[0] > 0
    for k in (fe.POWER_MW, fe.VOLTAGE_DV, fe.CURRENT_MA, fe.POWER_FACTOR):
        assert out[k + 1] == 0 and out[k + 2] == 0, k


def representative_windows():
    # above real time the waveform front-end measures one window a second and scales it
    f, mains = front("waveform", irms=7.0, phi=0.6, f=50.02, full=False)
    assert not f.full_rate
    got, exact, out = seconds(f, mains, 20)
    for p in range(3):
        near(got[p], exact[p], abs(exact[p]) * 0.001, "representative energy")
    assert f.windows == 60  # one a second a phase


class PlainSource:
    """Samples from preallocated arrays, copied without allocating (a DMA ring stands in)."""

    fs = 3200
    phases = 3

    def __init__(self):
        self.v = []
        self.i = []
        for p in range(3):
            th = 2 * math.pi * p / 3
            self.v.append(array("h", [int(23680 * math.sin(2 * math.pi * k / 64 - th)) + 15
                                      for k in range(3200)]))
            self.i.append(array("h", [int(2317 * math.sin(2 * math.pi * k / 64 - th - 0.5)) - 9
                                      for k in range(3200)]))

    def read(self, second, phase, offset, n, vbuf, ibuf):
        v = self.v[phase]
        i = self.i[phase]
        for k in range(n):
            vbuf[k] = v[offset + k]
            ibuf[k] = i[offset + k]


def full_rate_allocates_nothing():
    src = PlainSource()
    cal = [(450 / 32767, 100 / 32767, 0.0, 0, 0)] * 3
    f = AdcFrontend(src, cal)
    out = array("i", [0] * fe.FIELDS)
    total = array("i", [0])
    f.measure(0, out)
    micropython.heap_lock()
    try:
        for s in range(1, 4):
            f.measure(s, out)
            total[0] += out[fe.ENERGY_MWS] + out[fe.ENERGY_MWS + 1] + out[fe.ENERGY_MWS + 2]
    finally:
        micropython.heap_unlock()
    p = 23680 * 450 / 32767 * 2317 * 100 / 32767 / 2 * math.cos(0.5)  # W a phase
    near(total[0], 3 * 3 * p * 1000, 3 * 3 * p * 1000 * 0.002, "energy under heap_lock")


for kind in KINDS:
    units_and_signs(kind)
    frequency(kind)
    flags(kind)
    single_phase(kind)
    print(kind, "ok")
representative_windows()
full_rate_allocates_nothing()
print("OK")
