# meterkast: the board clock: machine.RTC for the time of day, ticks_ms for meter seconds
# MIT license
#
# Same contract as hal.unix.clock.SimClock (see hal/README.md), at speed 1.
#
# Monotonic time: ticks_ms wraps at 2**30 on boards (about 12.4 days), so raw ticks are never
# subtracted or compared; every step goes through ticks_diff, which is exact as long as two
# readings are less than 2**29 ms (6.2 days) apart (the metrology task reads the clock every
# second). Elapsed time is kept as whole seconds plus a millisecond remainder, so the count
# stays a small int (31 bits on boards) for 34 years instead of overflowing into a heap-
# allocated long int after 12 days as a plain millisecond counter would.
#
# RTC: the port's epoch differs (1970 on RP2, 2000 on ESP32) and time.time() is an int on boards
# but a float on unix. Both are avoided: the RTC is read and written as a calendar tuple
# (year, month, day, weekday, hours, minutes, seconds, subseconds), which means the same on
# every port, and converted to meter-epoch seconds (since 2000-01-01 UTC, util.tz) here.
# The RTC keeps UTC. It is read once at boot; afterwards the meter's time is the boot reading
# plus monotonic seconds, so the two time lines cannot drift apart inside the firmware.
import time

import asyncio
from hal.rtc import RtcTime
from util.tz import civil_from_days, in_range, to_seconds, weekday


def rtc_to_meter(dt):
    """machine.RTC().datetime() tuple -> meter-epoch seconds (the weekday field is ignored)."""
    return to_seconds(dt[0], dt[1], dt[2], dt[4], dt[5], dt[6])


def meter_to_rtc(t):
    """Meter-epoch seconds -> tuple for machine.RTC().datetime(); weekday 0 = Monday."""
    days = t // 86400
    rem = t - days * 86400
    y, m, d = civil_from_days(days)
    return (y, m, d, weekday(days), rem // 3600, (rem // 60) % 60, rem % 60, 0)


class BoardClock(RtcTime):
    speed = 1  # a board runs in real time

    def __init__(self, rtc, ticks=time):
        """rtc: machine.RTC(); ticks: anything with ticks_ms() and ticks_diff() (tests pass a
        source that wraps at 2**30, as the boards do)."""
        self._rtc = rtc
        self._ticks = ticks
        self._last = ticks.ticks_ms()
        self._sec = 0  # monotonic: whole seconds since boot
        self._ms = 0  # monotonic: and milliseconds, 0..999
        RtcTime.__init__(self, rtc_to_meter(rtc.datetime()))

    def _advance(self):
        now = self._ticks.ticks_ms()
        d = self._ticks.ticks_diff(now, self._last)
        if d > 0:
            self._last = now
            ms = self._ms + d
            if ms >= 1000:
                self._sec += ms // 1000
                ms %= 1000
            self._ms = ms

    def mono(self):
        self._advance()
        return self._sec

    def mono_ms(self):
        """Milliseconds since boot; a long int after 12 days on boards: not for hot paths."""
        self._advance()
        return self._sec * 1000 + self._ms

    def save(self):
        """Write the meter's time back into the RTC (it keeps running through a reset); a time
        outside the meter's range (util.tz.in_range) is never written."""
        t = self.utc()
        if in_range(t):
            self._rtc.datetime(meter_to_rtc(t))

    async def sleep_until(self, mono_s):
        self._advance()
        delay = (mono_s - self._sec) * 1000 - self._ms
        await asyncio.sleep_ms(delay if delay > 0 else 0)
