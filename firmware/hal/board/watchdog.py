# meterkast: the hardware watchdog, fed only while every task shows signs of life
# MIT license
#
# The meter's control loop calls feed() once a second (every 100 ms in a run of fixed length).
# Feeding there alone would only prove that the asyncio loop turns: a metrology task stuck in an endless wait, or a P1 task that died with
# an exception, would go unnoticed while the loop kept feeding. So each task checks in, and feed()
# reaches machine.WDT only when every task has checked in within its own limit. A task that
# stops checking in starves the watchdog and the board resets after `timeout_ms`. A task that
# raises ends, and the same happens; a crash of the whole loop returns to the REPL, where
# nobody feeds at all.
#
# Check-ins come from what the tasks already do: metrology calls its listeners' second_done()
# once a meter second (a Heartbeat is such a listener), the port tasks poll their UART every few
# milliseconds (hal.board.uart checks in on each read). No task code knows about the watchdog.
import time


class Heartbeat:
    """One task's check-in slot; also a metrology listener (second_done)."""

    def __init__(self, watchdog, slot):
        self._wd = watchdog
        self._slot = slot

    def checkin(self):
        self._wd.seen[self._slot] = self._wd.ticks.ticks_ms()

    def second_done(self, metrology, t):
        self.checkin()


class TaskWatchdog:
    def __init__(self, wdt, ticks=time):
        """wdt: a started machine.WDT (or None: no hardware watchdog, checks still kept)."""
        self._wdt = wdt
        self.ticks = ticks
        self.names = []
        self.limits = []
        self.seen = []
        self.feeds = 0
        self.starved_by = None  # name of the first task that went quiet (diagnostics)

    def watch(self, name, limit_ms):
        """Register a task; it counts as seen now, so booting is not mistaken for a hang."""
        self.names.append(name)
        self.limits.append(limit_ms)
        self.seen.append(self.ticks.ticks_ms())
        return Heartbeat(self, len(self.seen) - 1)

    def healthy(self):
        now = self.ticks.ticks_ms()
        diff = self.ticks.ticks_diff
        seen = self.seen
        limits = self.limits
        for i in range(len(seen)):
            if diff(now, seen[i]) > limits[i]:
                if self.starved_by is None:
                    self.starved_by = self.names[i]
                return False
        return True

    def feed(self):
        if not self.healthy():
            return False
        if self._wdt is not None:
            self._wdt.feed()
        self.feeds = (self.feeds + 1) & 0x3FFFFFFF  # stays a small int on boards
        return True
