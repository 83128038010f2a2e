# meterkast: the quarter-hour profile (1-0:99.1.0.255): captures on flash, 40+ days, IDIS status bits
# MIT license
#
# Every UTC instant with t % 900 == 0 the cumulative registers are captured with a status byte.
# NL offsets are whole hours, so UTC quarter hours are local quarter hours and summer time never
# adds or removes an entry (a local day has 92, 96 or 100 of them). The entries live in a
# util.qhstore ring on the metering module's flash.
from micropython import const

from util.qhstore import CAPACITY, ENTRY_SIZE, PERIOD, SEGMENT_ENTRIES, QuarterHourStore  # noqa: F401
from util.tz import LocalTime

# IDIS profile status bits
POWER_DOWN = const(0x80)
CLOCK_ADJUSTED = const(0x20)
DAYLIGHT_SAVING = const(0x08)
DATA_NOT_VALID = const(0x04)
CLOCK_INVALID = const(0x02)
CRITICAL_ERROR = const(0x01)


class QuarterHourProfile(QuarterHourStore):
    def __init__(self, root):
        QuarterHourStore.__init__(self, root, "qh")
        self._tz = LocalTime()

    def status_at(self, t):
        return DAYLIGHT_SAVING if self._tz.is_summer(t) else 0
