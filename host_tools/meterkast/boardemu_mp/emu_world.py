# meterkast board emulator: the physical world behind the emulated board's front-end.
#
# The board table's "emu" entry names this module as its front-end supplier. It measures the
# same seeded simulated household as `meterkast run` (firmware/hal/unix/household.py and
# frontend_direct.py, copied here by the host under the emu_ names so they cannot collide with
# the firmware's own packages on the flash). hal.board refuses an "emulated" front-end on real
# hardware.
from emu_frontend_direct import DirectFrontend
from emu_household import Household


def from_board(machine, spec, clock):
    hw = machine.hw()
    return DirectFrontend(Household(hw.get("seed", 1), hw.get("scenario")), clock)
