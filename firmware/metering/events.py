# meterkast: power-quality events: voltage sags and swells, power failures and their log
# MIT license
from array import array
from micropython import const

from contract.reading import PF_LOG_MAX

_SAG_PERMILLE = const(900)  # below 90 % of nominal: a sag (EN 50160 style limits)
_SWELL_PERMILLE = const(1100)  # above 110 %: a swell
LONG_FAILURE_S = const(180)  # DSMR: a failure of 3 minutes or more is "long"


class VoltageEvents:
    """Counts sags and swells per phase, one count per excursion (edge-triggered)."""

    def __init__(self, nominal_dv=2300):
        self.sags = array("i", [0, 0, 0])
        self.swells = array("i", [0, 0, 0])
        self._state = array("b", [0, 0, 0])  # -1 in a sag, +1 in a swell, 0 normal
        self._low = nominal_dv * _SAG_PERMILLE // 1000
        self._high = nominal_dv * _SWELL_PERMILLE // 1000

    def update(self, phase, dv):
        if dv <= 0:
            return  # no supply: a power failure, not a sag
        s = 0
        if dv < self._low:
            s = -1
        elif dv > self._high:
            s = 1
        if s != self._state[phase]:
            if s < 0:
                self.sags[phase] += 1
            elif s > 0:
                self.swells[phase] += 1
            self._state[phase] = s


class PowerFailures:
    """Power failure counters and the log of long failures (newest first, at most 10)."""

    def __init__(self):
        self.count = 0
        self.long_count = 0
        self.log_n = 0
        self.log = array("i", [0] * (2 * PF_LOG_MAX))  # (end time, duration s) pairs

    def record(self, end_utc, duration_s):
        self.count += 1
        if duration_s < LONG_FAILURE_S:
            return
        self.long_count += 1
        log = self.log
        for i in range(2 * PF_LOG_MAX - 1, 1, -1):
            log[i] = log[i - 2]
        log[0] = end_utc
        log[1] = duration_s
        if self.log_n < PF_LOG_MAX:
            self.log_n += 1
