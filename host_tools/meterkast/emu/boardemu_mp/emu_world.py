# meterkast board emulator: the physical world behind the emulated board's SPI bus.
#
# The emulated board measures exactly as a real one: the board table's metering-IC front-end
# (hal.board.ic, metering.ade7953, metering.ic_frontend) talks SPI to ADE7953 chips. Here the
# chips are the emulator's models (firmware/hal/unix/metering_ic.py), measuring the seeded
# simulated household of `meterkast run` (household.py, signals.py). The host copies those files
# here under emu_ names so they cannot collide with the firmware's packages on the flash.
#
# The chips integrate in real time, as real ones do: before every SPI transfer the models are
# run up to the seconds that have passed since power-on.
import time

from emu_household import Household
from emu_metering_ic import ChipSet
from emu_signals import HouseholdWorld, Mains, default_sensors


class _BootClock:
    """Meter second -> UTC of the emulated world: the RTC time at power-on plus the second."""

    def __init__(self, utc0):
        self._utc0 = utc0

    def utc_at(self, second):
        return self._utc0 + second


class LiveBus:
    """machine.SPI of the emulated board: the chips' bus, kept up to real time."""

    def __init__(self, chipset):
        self._chips = chipset
        self._bus = chipset.bus
        self._t0 = time.ticks_ms()

    def _catch_up(self):
        self._chips.run_until(time.ticks_diff(time.ticks_ms(), self._t0) // 1000)

    def write_readinto(self, tx, rx):
        self._catch_up()
        self._bus.write_readinto(tx, rx)

    def write(self, buf):
        self._catch_up()
        self._bus.write(buf)

    def readinto(self, buf, write=0):
        self._catch_up()
        self._bus.readinto(buf, write)


def chips(hw, utc0):
    """(bus, {cs GPIO: pin}) for the chip selects listed in hw["spi_cs"] (L1, L2, L3)."""
    house = Household(hw.get("seed", 1), hw.get("scenario"))
    mains = Mains(HouseholdWorld(house, _BootClock(utc0)), house.phases)
    chipset = ChipSet(mains, default_sensors(), hw.get("seed", 1))
    pins = {}
    for i, gpio in enumerate(hw.get("spi_cs", ())):
        if i < len(chipset.pins):
            pins[gpio] = chipset.pins[i]
    return LiveBus(chipset), pins
