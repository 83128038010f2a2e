"""An emulated serial line between two ends: paced, optionally faulty, optionally captured.

Bytes go both ways no faster than the line allows (baud / bits per character), the way a real
UART shifts them out: a byte reaches the receiver when its last bit has, never earlier. A line
runs in its own thread; `meterkast run` starts one per port (firmware pty <-> endpoint),
`meterkast uart` one between two endpoints.

Framing: `8N1` (DSMR 4/5) or `7E1` (DSMR 2.2/3 readers), in general `<data bits><N|E|O><stop
bits>`. Both named ones take 10 bits per character. Under 7 data bits a byte with bit 7 set
cannot be carried: the receiver gets it with bit 7 cleared, and the line counts it.
"""
import os
import select
import threading
import time

from meterkast.errors import CliError
from meterkast.line.capture import DELIVERED, SENT
from meterkast.line.faults import FaultInjector, FaultSpec

_HIGH_BYTES = bytes(range(128, 256))
_CLEAR_BIT7 = bytes(i & 0x7F for i in range(256))


class Framing:
    def __init__(self, text="8N1"):
        t = text.upper()
        if len(t) != 3 or t[0] not in "5678" or t[1] not in "NEO" or t[2] not in "12":
            raise CliError("framing %r: expected e.g. 8N1 or 7E1" % text)
        self.text = t
        self.data_bits = int(t[0])
        self.parity = t[1]
        self.stop_bits = int(t[2])
        self.bits_per_char = 1 + self.data_bits + (t[1] != "N") + self.stop_bits

    def __str__(self):
        return self.text


class PacedPipe:
    """One direction of a line: queue bytes, release them at the line rate.

    `pace=False` delivers at once but still keeps line time (bytes / rate), so a test can push
    hours of traffic through the same faults and capture in a second. `now` arguments are that
    line time; with pacing they are time.monotonic().
    """

    CHUNK = 64

    def __init__(self, rate_bps, deliver, faults=None, framing=None, capture=None, line="line",
                 direction="out", pace=True, limit=None, origin=None):
        self.rate = rate_bps  # bytes per second
        self.char_time = 1.0 / rate_bps
        self.deliver = deliver
        self.faults = faults  # FaultInjector or None
        self.capture = capture  # CaptureWriter or None
        self.line = line
        self.direction = direction
        self.pace = pace
        self.seven_bit = framing is not None and framing.data_bits < 8
        self.queue = bytearray()
        self.wire_time = 0.0 if not pace else time.monotonic()  # when the line is next free
        # Line time 0 for the faults' schedule (breaks every N s count from the line's start):
        # the same SPEC hits a run at the same moments, paced or not.
        self.origin = self.wire_time if origin is None else origin
        self.bytes_sent = 0  # on the wire, before faults
        self.bytes_delivered = 0  # to the receiver, after faults
        self.bit7_lost = 0
        self.blocked = False  # set by the line while its outside end is disconnected
        self.blocked_bytes = 0
        # Bytes waiting for the line at most: what arrives beyond that is dropped and counted,
        # as a UART's receive FIFO overruns (None: no bound).
        self.limit = limit
        self.overflow = 0

    def push(self, data, now=None):
        if now is None:
            now = time.monotonic() if self.pace else self.wire_time
        if not self.queue and self.wire_time < now:
            self.wire_time = now  # the line was idle: the next start bit goes now
        if self.limit is not None and len(self.queue) + len(data) > self.limit:
            room = max(0, self.limit - len(self.queue))
            self.overflow += len(data) - room
            data = data[:room]
        self.queue += data

    def due(self, now):
        """Seconds until the next chunk may go (0 = now), None if nothing queued."""
        if not self.queue:
            return None
        if not self.pace:
            return 0.0
        k = min(len(self.queue), self.CHUNK)
        return max(0.0, self.wire_time + k * self.char_time - now)

    def pump(self, now=None):
        if not self.pace:
            if self.queue:
                self._send(bytes(self.queue))
                self.queue.clear()
            return
        while self.queue:
            want = min(len(self.queue), self.CHUNK)
            done = int((now - self.wire_time) * self.rate + 1e-9)  # characters fully shifted out
            if done < want:
                return
            chunk = bytes(self.queue[:want])
            del self.queue[:want]
            self._send(chunk)

    def _send(self, chunk):
        t0 = self.wire_time
        self.wire_time += len(chunk) * self.char_time
        self.bytes_sent += len(chunk)
        if self.seven_bit:
            high = len(chunk) - len(chunk.translate(None, _HIGH_BYTES))
            if high:
                self.bit7_lost += high
                chunk = chunk.translate(_CLEAR_BIT7)
        sent = chunk
        if self.faults is not None:
            chunk = self.faults.apply(chunk, t0 - self.origin, self.char_time)
            for t, text in self.faults.events:
                if self.capture is not None:
                    self.capture.event(t + self.origin, self.line,
                                       "%s %s" % (self.direction, text))
            self.faults.events.clear()
        if self.blocked:
            self.blocked_bytes += len(chunk)
            return
        arrived = t0 + self.char_time
        if self.capture is not None:
            self.capture.data(arrived, self.line, DELIVERED[self.direction], chunk)
            if self.faults is not None:
                self.capture.data(arrived, self.line, SENT[self.direction], sent)
        if chunk:
            self.bytes_delivered += len(chunk)
            self.deliver(chunk)


class FdEnd:
    """A raw file descriptor (the firmware's pty master) as a line end."""

    def __init__(self, fd):
        self.fd = fd
        os.set_blocking(fd, False)

    def describe(self):
        return "fd %d" % self.fd

    def fds(self):
        return [self.fd]

    def read(self):
        try:
            return os.read(self.fd, 65536)
        except (BlockingIOError, OSError):
            return b""

    def write(self, data):
        try:
            os.write(self.fd, data)
        except OSError:
            pass

    def close(self):
        pass


class Line(threading.Thread):
    """Side A (the firmware's pty master fd, or an endpoint) <-> side B (an endpoint).

    "out" is A -> B, "in" is B -> A. Faults: a FaultSpec (or SPEC text) for the whole line;
    byte faults go to the directions its `dir=` names, a disconnect takes side B away.
    `rx_limit`: at most this many bytes wait to go in (a UART FIFO and the meter's receive
    buffer); more is dropped and counted, and `on_overflow(name, total)` hears of it (at most
    once a second while it lasts).
    """

    def __init__(self, name, fw_fd, endpoint, baudrate=115200, bits_per_char=10, taps=(),
                 framing=None, faults=None, capture=None, rx_limit=None, on_overflow=None):
        super().__init__(name="line-" + name, daemon=True)
        self.line_name = name
        self.a = FdEnd(fw_fd) if isinstance(fw_fd, int) else fw_fd
        self.fw_fd = fw_fd if isinstance(fw_fd, int) else None
        self.endpoint = endpoint
        self.framing = framing if isinstance(framing, Framing) else Framing(framing or "8N1")
        if framing is not None:
            bits_per_char = self.framing.bits_per_char
        self.baudrate = baudrate
        rate = baudrate / bits_per_char
        if isinstance(faults, str) or faults is None:
            faults = FaultSpec.parse(faults)
        self.faults = faults
        self.capture = capture
        self.taps = list(taps)  # callables (direction, bytes): capture, console
        self.fault_log = {"out": None, "in": None}
        inject = {}
        for d in ("out", "in"):
            if faults.any_byte_faults and faults.applies_to(d):
                inject[d] = FaultInjector(faults, d, self.framing.data_bits,
                                          self.framing.parity != "N", self.framing.stop_bits)
        self.injectors = inject
        self.started_at = time.monotonic()
        self.to_outside = PacedPipe(rate, self._deliver_out, inject.get("out"), self.framing,
                                    capture, name, "out", origin=self.started_at)
        self.to_firmware = PacedPipe(rate, self._deliver_in, inject.get("in"), self.framing,
                                     capture, name, "in", limit=rx_limit, origin=self.started_at)
        self.on_overflow = on_overflow
        self._overflow_told = (0, 0.0)  # (count, when) last passed to on_overflow
        if capture is not None:
            capture.describe_line(name, baudrate, self.framing, faults.describe())
        self.disconnects = 0
        self._down = False
        self._halt = threading.Event()

    def _deliver_out(self, data):
        for tap in self.taps:
            tap("out", data)
        self.endpoint.write(data)

    def _deliver_in(self, data):
        for tap in self.taps:
            tap("in", data)
        self.a.write(data)

    def stop(self):
        self._halt.set()

    def _check_disconnect(self, now):
        down = self.faults.disconnected(now - self.started_at)
        if down == self._down:
            return
        self._down = down
        self.to_outside.blocked = self.to_firmware.blocked = down
        hold = getattr(self.endpoint, "hold", None)
        if hold is not None:
            hold(down)
        if down:
            self.disconnects += 1
        if self.capture is not None:
            self.capture.event(now, self.line_name, "disconnect" if down else "reconnect")

    def stats(self):
        out = {"out_sent": self.to_outside.bytes_sent, "out_delivered": self.to_outside.bytes_delivered,
               "in_sent": self.to_firmware.bytes_sent, "in_delivered": self.to_firmware.bytes_delivered,
               "bit7_lost": self.to_outside.bit7_lost + self.to_firmware.bit7_lost,
               "disconnects": self.disconnects, "in_overflow": self.to_firmware.overflow}
        for d, inj in self.injectors.items():
            for k, v in inj.counts.items():
                if v:
                    out["%s_%s" % (d, k)] = v
        return out

    def run(self):
        a_fds = self.a.fds()
        while not self._halt.is_set():
            now = time.monotonic()
            if self.faults.disconnect_s:
                self._check_disconnect(now)
            waits = [w for w in (self.to_outside.due(now), self.to_firmware.due(now)) if w is not None]
            timeout = min([0.05] + waits)
            b_fds = self.endpoint.fds()
            try:
                ready, _, _ = select.select(a_fds + b_fds, [], [], timeout)
            except (OSError, ValueError):
                ready = []
            if any(fd in ready for fd in a_fds):
                data = self.a.read()
                if data:
                    self.to_outside.push(data)
            if any(fd in ready for fd in b_fds):
                data = self.endpoint.read()
                if data:
                    self.to_firmware.push(data)
            now = time.monotonic()
            self.to_outside.pump(now)
            self.to_firmware.pump(now)
            idle = getattr(self.endpoint, "drop_idle", None)
            if idle is not None:
                idle(now)
            self._tell_overflow(now)

    def _tell_overflow(self, now, final=False):
        told, when = self._overflow_told
        total = self.to_firmware.overflow
        if self.on_overflow is None or total == told or (now - when < 1.0 and not final):
            return
        self._overflow_told = (total, now)
        self.on_overflow(self.line_name, total)


class LineMonitor(threading.Thread):
    """A read-only copy of what one direction of a line delivers, at an endpoint (a pty, a TCP
    listener, a device): `meterkast run --link-monitor`.

    Put `tap` among the line's taps: it queues the bytes the line delivers in `direction`, and
    this thread hands them to the endpoint (so a slow or absent watcher never holds up the
    line) and serves the endpoint (a TCP endpoint takes its client in read()). Whatever the
    outside sends is read and thrown away: nothing reaches the line.
    """

    LIMIT = 65536  # bytes queued at most; a watcher further behind loses the oldest

    def __init__(self, name, endpoint, direction="out"):
        super().__init__(name="monitor-" + name, daemon=True)
        self.endpoint = endpoint
        self.direction = direction
        self.bytes = 0  # handed to the endpoint
        self.dropped = 0  # lost because the queue was full
        self._queue = bytearray()
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._halt = threading.Event()
        self._closed = False

    def tap(self, direction, data):
        if direction != self.direction or not data:
            return
        with self._lock:
            if self._closed:
                return
            self._queue += data
            over = len(self._queue) - self.LIMIT
            if over > 0:
                del self._queue[:over]
                self.dropped += over
            self._wake()

    def _wake(self):
        try:
            os.write(self._wake_w, b"\0")
        except OSError:  # the pipe is full: a wake-up is pending anyway
            pass

    def stop(self):
        self._halt.set()
        with self._lock:
            if not self._closed:
                self._wake()

    def close(self):
        """Stop the thread and free its pipe (the endpoint is its owner's to close)."""
        self.stop()
        if self.is_alive():
            self.join(2)
        with self._lock:
            if self._closed or self.is_alive():  # still running (stuck in a write): keep its fds
                return
            self._closed = True
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass

    def run(self):
        while not self._halt.is_set():
            fds = self.endpoint.fds()
            try:
                ready, _, _ = select.select([self._wake_r] + fds, [], [], 0.2)
            except (OSError, ValueError):
                ready = []
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except OSError:
                    pass
            if any(fd in ready for fd in fds):
                self.endpoint.read()  # read-only: what the watcher sends goes nowhere
            with self._lock:
                data = bytes(self._queue)
                self._queue.clear()
            if data:
                self.endpoint.write(data)
                self.bytes += len(data)
