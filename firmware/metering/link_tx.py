# meterkast: the metering module's end of the internal link: the frames of every second, sent
# MIT license
#
# A metrology listener (after the recorder, so a capture made this second is already held): each
# meter second it builds the frames due (docs/link.md section 7: identity, status, reading, one
# capture of the repetition cycle) and writes them to the link UART. Nothing comes back: the
# module never learns whether a frame arrived; the repetition of the captures is what makes the
# profile copy on the other side complete.
#
# A busy line (the emulator faster than the line can carry) skips a second's frames rather than
# queueing them: the next reading supersedes this one, and every capture is repeated anyway.
import time

import asyncio
from contract.link import HEALTH_FLASH_FAULT, RING, LinkEncoder
from contract.reading import new_reading
from micropython import const

VERSION = (1, 0, 0)
FW_ID = b"MKM1"  # identification of the legally relevant software (docs/link.md, identity)
IMAX_MA = const(60000)  # a 5(60) A meter
_DRAIN_FRAMES = const(24)  # capture frames sent at an orderly stop: the newest 4 three times
_DRAIN_GAP_MS = const(50)  # between them: copies of one capture 400 ms apart (docs/link.md 7)
_DRAIN_MS = const(1500)
_DRAIN_READING_EVERY = const(8)  # the newest reading repeated before every 8th drain frame


class LinkSender:
    """uart: write(buf, n) and txdone(); supplier: 3 letters; serial: bytes."""

    def __init__(self, uart, readings, supplier, serial, phases=3, nominal_dv=2300):
        self.uart = uart
        self.readings = readings
        self.encoder = LinkEncoder(supplier, serial, VERSION, FW_ID, phases, nominal_dv, IMAX_MA,
                                   RING)
        self.health = 0
        self.sent = 0  # seconds whose frames went out
        self.skipped = 0  # seconds skipped on a busy line
        self._r = new_reading()
        self._owed = False  # the newest second was skipped: flush() sends it when the line is free

    def load(self, profile):
        """At start: the newest RING stored captures, oldest first, so a restart owes nothing."""
        n = profile.entries_in_use()
        row = [0] * 6
        wh = [0] * 4
        first = n - RING if n > RING else 0
        for i in range(first, n):
            if profile.read(i, row):
                for k in range(4):
                    wh[k] = row[2 + k]
                self.encoder.add_capture(profile.last_seq(), row[0], row[1], wh)

    def capture(self, index, t, status, wh):
        """The recorder made capture `index` (its profile entry number)."""
        self.encoder.add_capture(index, t, status, wh)

    def flash_fault(self):
        self.health |= HEALTH_FLASH_FAULT

    def second_done(self, m, t):
        uart = self.uart
        if not uart.txdone():
            self.skipped += 1
            self._owed = True
            return
        self._send()

    def flush(self):
        """Send the newest second if it was skipped and the line is free now (the control loop
        calls this, so the last reading of a run always reaches comms); True when nothing is
        owed any more."""
        if self._owed and self.uart.txdone():
            self._send()
        return not self._owed

    def _send(self):
        uart = self.uart
        self._owed = False
        self.readings.copy_latest(self._r)
        n = self.encoder.second(self._r, self.health)
        uart.write(self.encoder.buf, n)
        self.sent += 1

    async def drain(self):
        """At an orderly stop (the end of a run, a module taken out): the newest captures once
        more, so a capture made in the last seconds still reaches comms twice (its two-copy
        confirmation), and the newest reading three times, which comms needs to judge a capture
        made in the second of that reading. The frames are spread out, one every _DRAIN_GAP_MS,
        so the three copies of each are 400 ms apart: one line break shorter than that loses at
        most one of them. Bounded in frames and time; a power cut gives no such chance, and the
        capture then goes out again from the ring after the restart."""
        uart = self.uart
        enc = self.encoder
        deadline = time.ticks_add(time.ticks_ms(), _DRAIN_MS)
        sent = 0
        while sent < _DRAIN_FRAMES and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            if not uart.txdone():
                await asyncio.sleep_ms(2)
                continue
            if self._owed:  # the newest reading first: comms takes no capture ahead of it
                self._send()
                continue
            o = 0
            if self.sent and sent % _DRAIN_READING_EVERY == 0:  # and again, 400 ms apart: comms
                o = enc.reading(enc.buf, 0, self._r)  # judges a capture once a reading covers it
            n = enc.capture(enc.buf, o)
            if n == o:
                return
            uart.write(enc.buf, n)
            sent += 1
            await asyncio.sleep_ms(_DRAIN_GAP_MS)
        while not uart.txdone() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
            await asyncio.sleep_ms(2)  # the last frame is on the wire before the module stops
