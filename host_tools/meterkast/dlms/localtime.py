"""Europe/Amsterdam civil time by the EU rule (the meter's own rule), without the host's tzdata.

Summer time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday of
October (Directive 2000/84/EC): UTC+2 then, UTC+1 otherwise.
"""

from datetime import date, datetime, time, timedelta, timezone

CET = timezone(timedelta(hours=1), "CET")
CEST = timezone(timedelta(hours=2), "CEST")


def _last_sunday(year, month):
    d = date(year, month, 31)
    return d - timedelta(days=(d.weekday() + 1) % 7)


def summer_bounds(year):
    """(start, end) of summer time in `year` as aware UTC datetimes."""
    one = time(1, 0, tzinfo=timezone.utc)
    return (
        datetime.combine(_last_sunday(year, 3), one),
        datetime.combine(_last_sunday(year, 10), one),
    )


def is_summer(utc_dt):
    start, end = summer_bounds(utc_dt.astimezone(timezone.utc).year)
    return start <= utc_dt < end


def to_local(utc_dt):
    """An aware datetime in Amsterdam wall time (fixed-offset tzinfo CET or CEST)."""
    return utc_dt.astimezone(CEST if is_summer(utc_dt) else CET)


def from_local(naive):
    """Amsterdam wall time (naive) to aware UTC. In the repeated hour of October the first
    (summer) occurrence is taken; a time in the skipped hour of March maps as winter time."""
    for tz in (CEST, CET):
        cand = naive.replace(tzinfo=tz).astimezone(timezone.utc)
        if to_local(cand).replace(tzinfo=None) == naive:
            return cand
    return naive.replace(tzinfo=CET).astimezone(timezone.utc)


def day_bounds(day):
    """[start, end) of a local calendar day as aware UTC datetimes (23, 24 or 25 hours)."""
    start = from_local(datetime.combine(day, time(0, 0)))
    end = from_local(datetime.combine(day + timedelta(days=1), time(0, 0)))
    return start, end
