# meterkast: monotonic seconds from the tick counter, at an emulator's time scale
# MIT license
#
# The metering module's emulated RTC (hal.unix.clock.SimClock) and the comms module's clock
# (comms.link.clock.LinkClock) both count time from ticks_ms since they started, `speed` meter
# seconds per wall second (1 on a board), and never let the seconds go back.
import time


class ScaledTicks:
    def start_ticks(self, speed):
        self.speed = speed
        self._t0 = time.ticks_ms()
        self._last_mono = 0

    def mono_ms(self):
        return int(time.ticks_diff(time.ticks_ms(), self._t0) * self.speed)

    def mono(self):
        """Whole seconds since start, never going back."""
        m = self.mono_ms() // 1000
        if m > self._last_mono:
            self._last_mono = m
        return self._last_mono
