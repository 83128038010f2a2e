# meterkast: a UART on a pseudo-terminal, with the line time of a real port
# MIT license
#
# The host tool owns the other end of the pty and carries the bytes to the outside world at the
# line rate. Here the pty is put in raw mode with VMIN=0/VTIME=0 so a read returns what is there
# instead of blocking the asyncio loop until a count is reached. `txdone()` models the shift
# register: after a write the line is busy for len * bits-per-char / baud seconds, which is how
# the P1 port knows when it may send the newest telegram.
import time

import termios
from hal.aio import wait_readable

_VMIN = 6  # Linux c_cc indices; the termios module has no names for them
_VTIME = 5


class PtyUart:
    def __init__(self, path, baudrate=115200, bits_per_char=10):
        self.baudrate = baudrate
        self._bits = bits_per_char
        self._f = open(path, "r+b")
        fd = self._f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[6][_VMIN] = 0
        attrs[6][_VTIME] = 0
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self._busy_until = time.ticks_ms()
        self.rx_discarded = 0

    def write(self, buf, n=None):
        if n is None:
            n = len(buf)
        mv = memoryview(buf)
        done = 0
        while done < n:
            w = self._f.write(mv[done:n])
            if w:
                done += w
        now = time.ticks_ms()
        if time.ticks_diff(now, self._busy_until) > 0:
            self._busy_until = now
        self._busy_until = time.ticks_add(self._busy_until, (n * self._bits * 1000) // self.baudrate)
        return n

    def txdone(self):
        return time.ticks_diff(time.ticks_ms(), self._busy_until) >= 0

    def tx_wait_ms(self):
        """Milliseconds until the line is idle (0 when it is)."""
        return max(0, time.ticks_diff(self._busy_until, time.ticks_ms()))

    async def wait_rx(self, timeout_ms):
        """Until bytes arrive (True) or timeout_ms passes (False); reads nothing."""
        return await wait_readable(self._f, timeout_ms)

    def readinto(self, buf):
        n = self._f.readinto(buf)
        return n or 0

    def drain(self, scratch):
        """Read and drop everything waiting (for send-only ports); returns the count."""
        total = 0
        while True:
            n = self._f.readinto(scratch)
            if not n:
                return total
            total += n
            self.rx_discarded += n

    def close(self):
        self._f.close()
