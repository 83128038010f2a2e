# meterkast: which tariff register counts now, by the Dutch low/normal tariff times
# MIT license
#
# Tariff 1 (low, "dal") on weekdays 23:00-07:00 local time, all weekend and on the fixed-date
# national holidays (New Year, King's Day, Christmas); tariff 2 (normal) otherwise. This is the
# common Dutch switching programme; grid operators that switch at 21:00 would change _LOW_FROM.
from micropython import const

LOW = const(1)
NORMAL = const(2)
_LOW_FROM = const(23)
_LOW_UNTIL = const(7)


def tariff(civil):
    """Tariff for a local civil time civil = [Y, M, D, h, m, s, weekday(0=Mon)]."""
    if civil[6] >= 5:
        return LOW
    m = civil[1]
    d = civil[2]
    if (m == 1 and d == 1) or (m == 4 and d == 27) or (m == 12 and (d == 25 or d == 26)):
        return LOW
    h = civil[3]
    if h >= _LOW_FROM or h < _LOW_UNTIL:
        return LOW
    return NORMAL
