# meterkast: the quarter-hour profile (1-0:99.1.0.255): captures on flash, 40+ days, IDIS status bits
# MIT license
#
# Every UTC instant with t % 900 == 0 the cumulative registers are captured with a status byte.
# NL offsets are whole hours, so UTC quarter hours are local quarter hours and summer time never
# adds or removes an entry (a local day has 92, 96 or 100 of them). The entries live in a
# util.qhstore ring on the metering module's flash.
from util.qhstore import CAPACITY, ENTRY_SIZE, PERIOD, SEGMENT_ENTRIES, QuarterHourStore  # noqa: F401
from util.tz import LocalTime

# IDIS profile status bits (contract.layout)
from contract.layout import (  # noqa: F401
    CLOCK_ADJUSTED, CLOCK_INVALID, CRITICAL_ERROR, DATA_NOT_VALID, DAYLIGHT_SAVING, POWER_DOWN,
    PROFILE_DIR)


class QuarterHourProfile(QuarterHourStore):
    def __init__(self, root):
        QuarterHourStore.__init__(self, root, PROFILE_DIR)
        self._tz = LocalTime()

    def status_at(self, t):
        return DAYLIGHT_SAVING if self._tz.is_summer(t) else 0
