# meterkast: the emulator's real-time clock: any start time, any speed, kept across restarts
# MIT license
#
# Two time lines, as in a real meter: `mono()` counts meter seconds since boot and never jumps
# (energy is integrated over it), `utc()` is the RTC, which can be set or shifted. At speed X
# one wall second is X meter seconds while the meter runs. The RTC survives a restart the way a
# battery-backed RTC does: the anchor (wall time <-> meter time) is kept in a file beside the
# flash image, and while the meter is off the RTC runs in real time, whatever the speed of the
# run before: an outage of W wall seconds is W meter seconds long. The anchor is renewed before
# every write of a time to flash (checkpoint), so after a power cut the RTC resumes after the
# last time the meter stored. Times outside the meter's range (util.tz) are never anchored.
import math
import time

import asyncio
from hal.rtc import RtcTime
from util.ticks import ScaledTicks
from util.tz import TIME_RANGE, UNIX_OFFSET, in_range

# Fastest emulated clock: a wall millisecond is 1,000 meter seconds, far beyond what metrology
# can simulate (it falls behind and says so). The host's `meterkast run --speed` checks the
# same number (meterkast.runcheck).
MAX_SPEED = 1000000


class SimClock(ScaledTicks, RtcTime):
    def __init__(self, start_utc, speed=1, rtc_path=None):
        if not 0 < speed <= MAX_SPEED:  # false for nan too
            raise ValueError("speed must be > 0 and at most %d" % MAX_SPEED)
        if not in_range(start_utc):
            raise ValueError("start time outside the meter's time range %s" % TIME_RANGE)
        self.start_ticks(speed)
        self._rtc_path = rtc_path
        RtcTime.__init__(self, start_utc)
        self._floor = 0  # the anchor is never earlier than this monotonic second (checkpoint)
        self.rtc_note = None  # why resume() did not use the anchor file (reported as a warning)
        self.save()

    @classmethod
    def resume(cls, rtc_path, speed=1, default_utc=None):
        """Boot the RTC from its anchor file; without a usable one, at default_utc (or wall now).

        While the meter was off its battery-backed RTC ran in real time: the wall seconds since
        the anchor are added as they are, never multiplied by the speed of the previous run. An
        anchor outside the meter's time range, or one that would run past its end, is not used.
        """
        utc = None
        note = None
        try:
            if rtc_path is None:
                raise OSError
            with open(rtc_path) as f:
                fields = f.read().split()  # wall time, RTC time[, speed of the run: unused]
            wall_anchor = float(fields[0])
            utc_anchor = float(fields[1])
            elapsed = time.time() - wall_anchor
            if elapsed < 0:
                elapsed = 0
            if not in_range(utc_anchor) or not in_range(utc_anchor + elapsed):
                note = ("RTC anchor %s is outside the meter's time range %s: clock set from the "
                        "host" % (fields[1], TIME_RANGE))
            else:
                # The next whole second: a boot, however quick, never lands in the second of
                # the last anchor, so the meter sees time pass across every restart.
                utc = math.ceil(utc_anchor + elapsed)
        except (OSError, ValueError, IndexError):
            pass
        if utc is None:
            utc = default_utc if default_utc is not None else int(time.time()) - UNIX_OFFSET
        clock = cls(utc, speed, rtc_path)
        clock.rtc_note = note
        return clock


    def checkpoint(self, t):
        """Renew the anchor just before the meter stores RTC time t on flash (a persist or a
        capture), and never below t: after a power cut the RTC resumes after the last time on
        the flash."""
        m = t - self._utc0 - self._offset
        if m > self._floor:
            self._floor = m
        self.save()

    def save(self):
        if not self._rtc_path:
            return
        # Anchor at the current instant: wall time now <-> RTC now (or the checkpoint if later).
        wall = time.time()
        m = self.mono_ms() / 1000
        if m < self._floor:
            m = self._floor
        utc = self._utc0 + m + self._offset
        if not in_range(utc):
            return  # a time the meter cannot hold is never kept: the last good anchor stays
        tmp = self._rtc_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%.3f %.3f %s\n" % (wall, utc, repr(self.speed)))
        import os

        os.rename(tmp, self._rtc_path)

    async def sleep_until(self, mono_s):
        delay = int((mono_s * 1000 - self.mono_ms()) / self.speed)
        if delay > 0:
            await asyncio.sleep_ms(delay)
        else:
            await asyncio.sleep_ms(0)
