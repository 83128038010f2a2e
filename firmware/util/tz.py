# meterkast: meter time: the meter epoch, civil dates and the EU summer-time rule for Europe/Amsterdam
# MIT license
#
# The firmware counts UTC seconds since 2000-01-01T00:00:00Z ("meter epoch"). Until 2034 that
# stays below 2**30, so it is a small int on 32-bit boards (no heap allocation per tick), and it
# is the ESP32's own epoch. Host tools convert at the boundary with UNIX_OFFSET.
# No time.gmtime/localtime: those depend on the host zone (unix) and the port's epoch (boards).
from micropython import const

UNIX_OFFSET = const(946684800)  # unix time of the meter epoch
_DAYS_1970_TO_2000 = const(10957)
STANDARD_OFFSET = const(3600)  # CET, UTC+1
SUMMER_OFFSET = const(7200)  # CEST, UTC+2

# The range of meter time. The flash records keep times in 32-bit fields, the narrowest a
# signed i32 (register store: time of the last persist, power-failure log: end of each long
# failure; metering/store.py), so the last second a record can hold is 2**31 - 1 seconds after
# the epoch, 2068-01-19T03:14:07Z. The meter accepts times up to the end of the last whole day
# before that; a clock setting outside the range is refused, and a meter whose clock runs past
# the end stops (critical error) instead of storing a wrapped time. Not const(): on a 32-bit
# board UTC_MAX is not a small int. The host tools check the same numbers (meterkast.runcheck).
UTC_MIN = 0  # 2000-01-01T00:00:00Z
UTC_MAX = 2147471999  # 2068-01-18T23:59:59Z
TIME_RANGE = "2000-01-01T00:00:00Z to 2068-01-18T23:59:59Z"


def in_range(t):
    """True if meter-epoch seconds t lie in the range the meter's 32-bit time fields hold."""
    return UTC_MIN <= t <= UTC_MAX


def month_days(y, m):
    """Days in month m of year y (proleptic Gregorian)."""
    if m == 2:
        return 29 if (y % 4 == 0 and y % 100 != 0) or y % 400 == 0 else 28
    return 30 if m in (4, 6, 9, 11) else 31


def days_from_civil(y, m, d):
    """Days since 2000-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 - _DAYS_1970_TO_2000


def _civil(z, out):
    """Write year, month, day of day number z (since 2000-01-01) into out[0..2]; no allocation."""
    z += 719468 + _DAYS_1970_TO_2000
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400
    if m <= 2:
        y += 1
    out[0] = y
    out[1] = m
    out[2] = d


def civil_from_days(z):
    """(year, month, day) of a day number since 2000-01-01."""
    out = [0, 0, 0]
    _civil(z, out)
    return out[0], out[1], out[2]


def weekday(days):
    """0 = Monday .. 6 = Sunday, for a day number since 2000-01-01 (a Saturday)."""
    return (days + 5) % 7


def last_sunday(y, m, last_day):
    d = days_from_civil(y, m, last_day)
    return d - (weekday(d) + 1) % 7


def summer_time_bounds(y):
    """UTC meter-epoch seconds at which summer time starts and ends in year y.

    EU rule (Directive 2000/84/EC): from 01:00 UTC on the last Sunday of March to 01:00 UTC
    on the last Sunday of October.
    """
    return (last_sunday(y, 3, 31) * 86400 + 3600, last_sunday(y, 10, 31) * 86400 + 3600)


class LocalTime:
    """Europe/Amsterdam local time for meter-epoch UTC seconds, with the year's rule cached."""

    def __init__(self):
        self._year_start = 1
        self._year_end = 0
        self._dst_start = 0
        self._dst_end = 0

    def _load_year(self, t):
        y = civil_from_days(t // 86400)[0]
        self._year_start = days_from_civil(y, 1, 1) * 86400
        self._year_end = days_from_civil(y + 1, 1, 1) * 86400
        self._dst_start, self._dst_end = summer_time_bounds(y)

    def is_summer(self, t):
        if not (self._year_start <= t < self._year_end):
            self._load_year(t)
        return self._dst_start <= t < self._dst_end

    def offset(self, t):
        """Seconds to add to UTC to get local time."""
        return SUMMER_OFFSET if self.is_summer(t) else STANDARD_OFFSET

    def local(self, t):
        return t + self.offset(t)


def civil_into(t, out):
    """Break seconds (UTC or already-local) into out[0..6] = Y, M, D, h, m, s, weekday."""
    days = t // 86400
    rem = t - days * 86400
    _civil(days, out)
    out[3] = rem // 3600
    out[4] = (rem // 60) % 60
    out[5] = rem % 60
    out[6] = weekday(days)


def to_seconds(y, mo, d, h=0, mi=0, s=0):
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def parse_iso(text):
    """ISO 8601 date-time to meter-epoch UTC seconds.

    Accepts 'YYYY-MM-DDTHH:MM[:SS][.frac][Z|+HH:MM|-HH:MM]' (a space may replace 'T'); no zone
    means UTC. Raises ValueError with the offending text.
    """
    s = text.strip()
    try:
        y = int(s[0:4])
        mo = int(s[5:7])
        d = int(s[8:10])
        if s[4] != "-" or s[7] != "-":
            raise ValueError
        rest = s[11:]
        if len(s) > 10 and s[10] not in "Tt ":
            raise ValueError
        if rest and rest[2] != ":":
            raise ValueError
        h = int(rest[0:2]) if rest else 0
        mi = int(rest[3:5]) if rest else 0
        sec = 0
        i = 5
        if len(rest) > 5 and rest[5] == ":":
            sec = int(rest[6:8])
            i = 8
        if len(rest) > i and rest[i] == ".":
            i += 1
            while i < len(rest) and "0" <= rest[i] <= "9":
                i += 1
        zone = rest[i:]
        off = 0
        if zone in ("", "Z", "z"):
            pass
        elif zone[0] in "+-" and len(zone) == 6 and zone[3] == ":":
            off = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
            if zone[0] == "-":
                off = -off
        else:
            raise ValueError
        if not (1 <= mo <= 12 and 0 <= h < 24 and 0 <= mi < 60 and 0 <= sec < 61):
            raise ValueError
        if not 1 <= d <= month_days(y, mo):
            raise ValueError
    except (ValueError, IndexError):
        raise ValueError("not an ISO 8601 date-time: %r" % text)
    return to_seconds(y, mo, d, h, mi, sec) - off


def format_iso(t):
    """Meter-epoch UTC seconds as 'YYYY-MM-DDTHH:MM:SSZ' (allocates: not for hot paths)."""
    days = t // 86400
    rem = t - days * 86400
    y, m, d = civil_from_days(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, rem // 3600, (rem // 60) % 60, rem % 60)
