# meterkast: waiting for a UART without polling it, on both HALs
# MIT license
#
# asyncio's I/O queue wakes a task when a stream becomes readable (select.poll underneath: a
# pty or file on the unix port, machine.UART on a board, which supports the poll ioctl). A task
# waits here instead of looking at its port every few milliseconds, so an idle meter costs
# close to nothing: it runs when bytes arrive, when a reading is published, or at its timeout.
import asyncio
from asyncio import core  # type: ignore[attr-defined]  # MicroPython's scheduler


def _readable(stream):
    yield core._io_queue.queue_read(stream)


async def wait_readable(stream, timeout_ms):
    """True as soon as `stream` has bytes to read, False after timeout_ms without any."""
    try:
        await asyncio.wait_for_ms(_readable(stream), timeout_ms)
    except asyncio.TimeoutError:
        return False
    return True
