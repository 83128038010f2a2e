# meterkast: P1 and P3 on machine.UART, with the HAL's UART contract (hal/README.md)
# MIT license
#
# The contract: write(buf[, n]) queues bytes and returns at once, txdone() is true when the line
# is idle, readinto(buf) returns what is there (0 when nothing) and never blocks, drain(scratch)
# drops what arrived on a send-only port. machine.UART gives the same with two settings:
# timeout=0 (a read returns what is buffered) and a transmit buffer larger than any frame
# (a write is copied into the buffer instead of waiting for the line).
#
# DSMR P1: 115200 8N1, and the signal is inverted: the open-collector output is on while the
# line idles (see docs/board.md for the wiring). The data-request line (pin 2 of the P1 jack,
# 5 V from the consumer's device) enables sending: while it is low, txdone() reports busy, so
# the P1 task holds the next telegram. A telegram already started is finished.
#
# Each read call is also the task's heartbeat for the watchdog: the P1 task reads its port at
# every reading, the P3 task at least once a second (its longest wait), so a task that stops
# stops checking in.
import machine
from hal.aio import wait_readable
from micropython import const

_P1_BAUD = const(115200)
_TXBUF = const(2048)  # > the largest telegram (about 1 kB, encrypted about 1.1 kB)
_RXBUF = const(512)  # > one HDLC frame on P3


def open_uart(spec, baudrate=_P1_BAUD):
    """machine.UART for a board-table port entry {uart, tx, rx[, invert]}."""
    Pin = machine.Pin
    invert = machine.UART.INV_TX if spec.get("invert") else 0
    return machine.UART(
        spec["uart"],
        baudrate=baudrate,
        bits=8,
        parity=None,
        stop=1,
        tx=Pin(spec["tx"]),
        rx=Pin(spec["rx"]),
        txbuf=_TXBUF,
        rxbuf=_RXBUF,
        timeout=0,
        timeout_char=0,
        invert=invert,
    )


class BoardUart:
    def __init__(self, uart, heartbeat=None, request=None, rx=True):
        """uart: machine.UART; heartbeat: watchdog check-in (or None); request: machine.Pin of
        the data-request line (or None: always allowed to send); rx=False: the RX pin belongs
        to another port on the same UART (the internal link), so drain() leaves it alone."""
        self.uart = uart
        self._heartbeat = heartbeat
        self._request = request
        self._rx = rx
        self.rx_discarded = 0

    def write(self, buf, n=None):
        if n is None or n == len(buf):
            self.uart.write(buf)
        else:
            self.uart.write(memoryview(buf)[:n])  # one small view per frame, not per byte
        return n if n is not None else len(buf)

    def txdone(self):
        if self._request is not None and not self._request.value():
            return False
        return self.uart.txdone()

    def tx_wait_ms(self):
        """How long to wait before asking txdone() again (the UART does not say)."""
        return 5

    async def wait_rx(self, timeout_ms):
        """Until bytes arrive (True) or timeout_ms passes (False); reads nothing."""
        if self.uart.any():
            return True
        return await wait_readable(self.uart, timeout_ms)

    def readinto(self, buf):
        if self._heartbeat is not None:
            self._heartbeat.checkin()
        if not self.uart.any():
            return 0
        return self.uart.readinto(buf) or 0

    def drain(self, scratch):
        """Read and drop everything waiting (for send-only ports); returns the count."""
        if not self._rx:
            if self._heartbeat is not None:
                self._heartbeat.checkin()
            return 0
        total = 0
        while True:
            n = self.readinto(scratch)
            if not n:
                return total
            total += n
            self.rx_discarded += n
