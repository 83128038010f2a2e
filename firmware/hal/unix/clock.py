# meterkast: the emulator's real-time clock: any start time, any speed, kept across restarts
# MIT license
#
# Two time lines, as in a real meter: `mono()` counts meter seconds since boot and never jumps
# (energy is integrated over it), `utc()` is the RTC, which can be set or shifted. At speed X
# one wall second is X meter seconds. The RTC survives a restart the way a battery-backed RTC
# does: the anchor (wall time <-> meter time) is kept in a file beside the flash image, so an
# outage of W wall seconds is W*X meter seconds long.
import time

import asyncio
from hal.rtc import RtcTime
from util.tz import UNIX_OFFSET


class SimClock(RtcTime):
    def __init__(self, start_utc, speed=1, rtc_path=None):
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._rtc_path = rtc_path
        self._t0 = time.ticks_ms()
        RtcTime.__init__(self, start_utc)
        self._last_mono = 0
        self.save()

    @classmethod
    def resume(cls, rtc_path, speed=1, default_utc=None):
        """Boot the RTC from its anchor file; without one, start at default_utc (or wall now)."""
        utc = None
        try:
            if rtc_path is None:
                raise OSError
            with open(rtc_path) as f:
                wall_anchor, utc_anchor, speed_anchor = f.read().split()
            elapsed = time.time() - float(wall_anchor)
            if elapsed < 0:
                elapsed = 0
            utc = int(utc_anchor) + int(elapsed * float(speed_anchor))
        except (OSError, ValueError):
            pass
        if utc is None:
            utc = default_utc if default_utc is not None else int(time.time()) - UNIX_OFFSET
        return cls(utc, speed, rtc_path)

    def mono_ms(self):
        return int(time.ticks_diff(time.ticks_ms(), self._t0) * self.speed)

    def mono(self):
        m = self.mono_ms() // 1000
        if m > self._last_mono:
            self._last_mono = m
        return self._last_mono

    def save(self):
        if not self._rtc_path:
            return
        # Anchor at the current instant: wall time now <-> RTC now.
        wall = time.time()
        utc = self._utc0 + self.mono_ms() / 1000 + self._offset
        tmp = self._rtc_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%.3f %d %s\n" % (wall, int(utc), repr(self.speed)))
        import os

        os.rename(tmp, self._rtc_path)

    async def sleep_until(self, mono_s):
        delay = int((mono_s * 1000 - self.mono_ms()) / self.speed)
        if delay > 0:
            await asyncio.sleep_ms(delay)
        else:
            await asyncio.sleep_ms(0)
