# metering.pulse: 1000 imp/kWh = one pulse per 3,600,000 mWs, remainder carried exactly; other
# meter constants; the LED and callback; the metrology task feeds it |net energy|.
import micropython

from contract import frontend as fe
from contract.reading import ReadingQueue
from metering.metrology import Metrology
from metering.pulse import PulseOutput


class Led:
    def __init__(self):
        self.ons = 0

    def on(self):
        self.ons += 1

    def off(self):
        pass


def remainder_carried():
    p = PulseOutput(1000)
    assert p.mws_per_pulse == 3600000
    total = 0
    step = 999999  # never a whole pulse per step: only the carried remainder makes pulses
    for k in range(1, 40):
        total += step
        n = p.add(step)
        assert n == total // 3600000 - (total - step) // 3600000
        assert p.pulses == total // 3600000 and p.remainder_mws == total % 3600000, k
    assert p.pulses == 10
    big = PulseOutput(1000)
    assert big.add(3 * 3600000 + 5) == 3 and big.remainder_mws == 5  # several in one go


def constants():
    for mc, per in ((1000, 3600000), (800, 4500000), (1600, 2250000), (3200, 1125000),
                    (10000, 360000)):
        assert PulseOutput(mc).mws_per_pulse == per
    for bad in (0, -1000, 7):  # 3.6e9 / 7 is not a whole number of mWs
        try:
            PulseOutput(bad)
            raise AssertionError("accepted meter constant %d" % bad)
        except ValueError:
            pass


def led_and_callback():
    led = Led()
    seen = []
    p = PulseOutput(1000, led, seen.append)
    p.add(3599999)
    assert led.ons == 0 and seen == []
    p.add(1)
    assert led.ons == 1 and seen == [1]
    p.add(2 * 3600000)
    assert led.ons == 2 and seen == [1, 2]


def no_allocation():
    p = PulseOutput(1000)
    p.add(1)
    micropython.heap_lock()
    try:
        for _ in range(2000):
            p.add(123456)
    finally:
        micropython.heap_unlock()
    assert p.pulses == (1 + 2000 * 123456) // 3600000


class Clock:
    def mono(self):
        return 0

    def utc_at(self, s):
        return 820000000 + s

    def take_adjustment(self):
        return 0


class Flat:
    """+1.2 kW on L1, -0.5 kW on L2: 700 W net import."""

    phases = 3

    def measure(self, second, out):
        out[fe.ENERGY_MWS] = 1200000
        out[fe.ENERGY_MWS + 1] = -500000
        out[fe.ENERGY_MWS + 2] = 0


def metrology_feeds_the_led():
    m = Metrology(Clock(), Flat(), ReadingQueue())
    for _ in range(3600):
        m.step()
    # 700 W for an hour: 700 Wh in the registers and 700 pulses, nothing left over
    assert m.registers.total_mws(0) + m.registers.total_mws(1) == 700 * 3600000
    assert m.pulse.pulses == 700 and m.pulse.remainder_mws == 0


remainder_carried()
constants()
led_and_callback()
no_allocation()
metrology_feeds_the_led()
print("OK")
