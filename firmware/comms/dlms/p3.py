# meterkast: the P3 port task: UART bytes in, HDLC frames (or IEC 62056-47 wrapper headers),
# DLMS server, frames out
# MIT license
#
#   port = P3Port(uart, server, clock)                      # HDLC (IEC 62056-46)
#   port = P3Port(uart, server, clock, framing="wrapper")   # TCP wrapper (comms.dlms.wrapper)
#   asyncio.create_task(port.run())
#
# The framing layer (HDLC or wrapper) is `port.hdlc` either way: both offer the same surface
# (feed, pending, flush_stale, reset_rx, disconnect, connected, frames_ok, frames_bad, upper).
#
# uart: HAL UART (readinto(buf) returns what is there, never blocks; write(buf, n)).
# server: comms.dlms.server.DlmsServer. clock: the HAL clock, kept for the wiring contract;
# the timeouts below run on ticks_ms, real time, so they hold at any emulator speed.
#
# Timing: the task sleeps until bytes arrive (the HAL's wait_rx: asyncio's I/O queue), so a
# turnaround costs no polling delay and an idle port costs nothing; it also wakes after 100 ms
# with an unfinished frame pending, and at least once a second for the timers below.
# An incomplete frame followed by 100 ms of silence is garbage and is rescanned past; a link
# with no valid frame for `inactivity_s` seconds (IEC 62056-46 default: 120) is dropped.
# A client that keeps the line busy for `inactivity_s` without an association (garbage, or
# valid frames that never lead to one) is hung up on: the link is dropped and `on_hangup` is
# called, so a modem or a TCP wrapper in front frees the port for the next client.
# A connection that ends under the port (a TCP client leaves: the HAL's port calls `on_drop`,
# the emulator sends `p3 lost`) ends what it had: its unfinished frame and its association, so
# the next client never inherits them.
import asyncio
import sys
import time

from micropython import const

from comms.dlms.get import NON_ASSOCIATED

_IDLE_WAKE_MS = const(1000)
_STALE_MS = const(100)
_RX_CHUNK = const(256)


class P3Port:
    def __init__(self, uart, server, clock, inactivity_s=120, on_hangup=None, framing="hdlc"):
        self.uart = uart
        self.server = server
        self.clock = clock
        self.framing = framing
        if framing == "wrapper":
            from comms.dlms.wrapper import STALE_MS, WrapperServer

            self.hdlc = WrapperServer(server, uart.write)
            self._stale_ms = STALE_MS
        else:
            from comms.dlms.hdlc import HdlcServer

            self.hdlc = HdlcServer(server, uart.write)
            self._stale_ms = _STALE_MS
        self.inactivity_ms = inactivity_s * 1000
        self._buf = bytearray(_RX_CHUNK)
        self._mv = memoryview(self._buf)
        now = time.ticks_ms()
        self._last_byte = now
        self._last_frame = now
        self._last_useful = now  # last moment an association was up (or the line was quiet)
        self.on_hangup = on_hangup
        self.hangups = 0
        self.errors = 0  # internal errors caught (each costs one request, never the task)
        self.bytes_in = 0
        self.links_lost = 0
        self.running = False
        if hasattr(uart, "on_drop"):  # a port with connections (TCP): it says when one ends
            uart.on_drop = self.link_lost

    def poll(self):
        """Move what the UART has into HDLC; handle timeouts. True when bytes arrived."""
        now = time.ticks_ms()
        hdlc = self.hdlc
        n = self.uart.readinto(self._buf)
        if n:
            self.bytes_in += n
            if time.ticks_diff(now, self._last_byte) > self.inactivity_ms:
                self._last_useful = now  # a new client after a quiet line
            self._last_byte = now
            seen = hdlc.frames_ok
            try:
                hdlc.feed(self._mv, n)
            except Exception as e:  # a bug must not take the port down; drop what we had
                self.errors += 1
                hdlc.reset_rx()
                sys.print_exception(e)
            if hdlc.frames_ok != seen:
                self._last_frame = now
            if self.server.state != NON_ASSOCIATED:
                self._last_useful = now
            elif time.ticks_diff(now, self._last_useful) > self.inactivity_ms:
                self.hang_up()
            return True
        if hdlc.pending() and time.ticks_diff(now, self._last_byte) > self._stale_ms:
            hdlc.flush_stale()
        if hdlc.connected and time.ticks_diff(now, self._last_frame) > self.inactivity_ms:
            hdlc.disconnect()
        return False

    def hang_up(self):
        """Busy without an association for too long: drop the link, tell the line's owner."""
        self.hangups += 1
        self._last_useful = time.ticks_ms()
        self.hdlc.reset_rx()
        if self.hdlc.connected:
            self.hdlc.disconnect()
        if hasattr(self.uart, "hang_up"):  # a TCP port frees itself for the next client
            self.uart.hang_up()
        if self.on_hangup is not None:
            self.on_hangup()

    def link_lost(self):
        """The connection under the port ended: drop its unfinished frame and its association."""
        self.links_lost += 1
        self.hdlc.reset_rx()
        self.hdlc.disconnect()

    async def run(self):
        self.running = True
        try:
            while True:
                if self.poll():
                    await asyncio.sleep_ms(0)  # more may be waiting: read on after a yield
                else:
                    await self.uart.wait_rx(self._stale_ms + 1 if self.hdlc.pending() else _IDLE_WAKE_MS)
        finally:
            self.running = False
