"""An emulated serial line between the firmware's UART and an outside endpoint.

Bytes go both ways no faster than the line allows (baud / bits per character), the way a real
UART shifts them out. A line runs in its own thread; `meterkast run` starts one per port.
"""
import os
import select
import threading
import time


class PacedPipe:
    """One direction of a line: queue bytes, release them at the line rate."""

    CHUNK = 64

    def __init__(self, rate_bps, deliver):
        self.rate = rate_bps  # bytes per second
        self.deliver = deliver
        self.queue = bytearray()
        self.next_free = 0.0
        self.bytes_delivered = 0

    def push(self, data):
        self.queue += data

    def due(self, now):
        """Seconds until the next chunk may go (0 = now), None if nothing queued."""
        if not self.queue:
            return None
        return max(0.0, self.next_free - now)

    def pump(self, now):
        while self.queue and now >= self.next_free:
            chunk = bytes(self.queue[: self.CHUNK])
            del self.queue[: len(chunk)]
            start = max(now, self.next_free)
            self.next_free = start + len(chunk) / self.rate
            self.deliver(chunk)
            self.bytes_delivered += len(chunk)


class Line(threading.Thread):
    """Firmware side: the pty master fd; outside: an endpoint from meterkast.endpoints."""

    def __init__(self, name, fw_fd, endpoint, baudrate=115200, bits_per_char=10, taps=()):
        super().__init__(name="line-" + name, daemon=True)
        self.fw_fd = fw_fd
        self.endpoint = endpoint
        rate = baudrate / bits_per_char
        self.taps = list(taps)  # callables (direction, bytes): capture, console
        self.to_outside = PacedPipe(rate, self._deliver_out)
        self.to_firmware = PacedPipe(rate, self._deliver_in)
        self._halt = threading.Event()
        os.set_blocking(fw_fd, False)

    def _deliver_out(self, data):
        for tap in self.taps:
            tap("out", data)
        self.endpoint.write(data)

    def _deliver_in(self, data):
        for tap in self.taps:
            tap("in", data)
        try:
            os.write(self.fw_fd, data)
        except OSError:
            pass

    def stop(self):
        self._halt.set()

    def run(self):
        while not self._halt.is_set():
            now = time.monotonic()
            waits = [w for w in (self.to_outside.due(now), self.to_firmware.due(now)) if w is not None]
            timeout = min([0.05] + waits)
            fds = [self.fw_fd] + self.endpoint.fds()
            try:
                ready, _, _ = select.select(fds, [], [], timeout)
            except (OSError, ValueError):
                ready = []
            if self.fw_fd in ready:
                try:
                    data = os.read(self.fw_fd, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self.to_outside.push(data)
            if any(fd in ready for fd in self.endpoint.fds()):
                data = self.endpoint.read()
                if data:
                    self.to_firmware.push(data)
            now = time.monotonic()
            self.to_outside.pump(now)
            self.to_firmware.pump(now)
