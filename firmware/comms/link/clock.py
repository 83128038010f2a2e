# meterkast: the comms module's clock: the metering module's time, run on by comms' own ticks
# MIT license
#
# The metering module keeps the legal time (its RTC stamps readings and captures); comms has no
# way to set it (the link is one way) and no business keeping a second opinion. It serves the
# time of the newest reading it believed, plus the time its own tick counter says has passed
# since that reading arrived: between readings, and through a silent link, the clock runs on.
# `speed` is the emulator's time scale (meter seconds per wall second; 1 on a board).
from util.ticks import ScaledTicks


class LinkClock(ScaledTicks):
    def __init__(self, speed=1):
        self.start_ticks(speed)
        self._t = -1  # time of the newest believed reading (meter epoch), -1 none yet
        self._at = 0  # mono_ms() when it arrived

    def set(self, t):
        """A reading with time t was believed just now."""
        self._t = t
        self._at = self.mono_ms()

    def valid(self):
        return self._t >= 0

    def utc(self):
        """Meter time now (meter epoch); 0 before the first reading."""
        if self._t < 0:
            return 0
        return self._t + (self.mono_ms() - self._at) // 1000
