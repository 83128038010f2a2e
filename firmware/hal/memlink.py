# meterkast: the internal link of a single-board build: the same bytes, carried by a call
# MIT license
#
# On one board both modules run in one interpreter, but they still meet only through the link's
# wire format: the metering module writes frames here as it would to its TX line, and the comms
# module's link port receives a copy of the bytes (never the sender's buffer), at once, in the
# metering task's time slice, as a UART's receive interrupt would hand them over.
#
# It keeps the line time of the two-board link (115200 8N1): faster than real time, the
# metering module skips the seconds that would not fit on that line (metering.link_tx), so the
# single-board build costs what the two-board meter does, and never more than the line allows.
import time

import asyncio
from micropython import const

_MAX = const(322)  # contract.link.SECOND_MAX: the most one meter second sends
_BYTE_US = const(87)  # 10 bits at 115200 baud


class MemoryLink:
    def __init__(self):
        self.receiver = None  # callable(buf, n): the comms module's link port (feed)
        self.bytes = 0
        self._buf = bytearray(_MAX)
        self._free_at = time.ticks_us()

    # the metering module's side: a TX line that is never busy
    def write(self, buf, n):
        own = self._buf
        if n > _MAX:
            n = _MAX
        for i in range(n):
            own[i] = buf[i]
        self.bytes += n
        self._free_at = time.ticks_add(time.ticks_us(), n * _BYTE_US)
        if self.receiver is not None:
            self.receiver(own, n)
        return n

    def txdone(self):
        return time.ticks_diff(time.ticks_us(), self._free_at) >= 0

    # the comms module's side: everything was delivered by write(); nothing waits here
    def readinto(self, buf):
        return 0

    async def wait_rx(self, timeout_ms):
        await asyncio.sleep_ms(timeout_ms)
        return False
