"""Capture files: every byte on an emulated line, with its direction and time; and replay.

Format (text, one record per line, UTF-8/ASCII; `meterkast run --capture` and `meterkast uart
--capture` write it, `meterkast uart --replay` reads it):

    # meterkast-capture 1
    # start 2026-06-01T12:00:00.123456Z
    # line p1 baud 115200 framing 8N1 faults ber=0.0001,seed=1
    0.080123 p1 > 2F4D4B53354D4B2D4E472D310D0A0D0A...
    0.080123 p1 } 2F4D4B53354D4B2D4E472D310D0A0D0A...
    1.250000 p1 < 41
    20.000000 p1 ! break 200 ms

Header lines start with `#`: the format version, the wall-clock start (UTC), and one `line`
line per port with its baud rate, framing and fault SPEC. Each record is

    SECONDS LINE DIR DATA

* SECONDS: line time since the capture started, six decimals. For a data record it is when the
  first byte of the record had fully arrived; byte k of the record arrived k character times
  later (a character time is 10 / baud: start, data, parity and stop bits).
* LINE: the port name (`p1`, `p3`, or `uart` for `meterkast uart`).
* DIR: `>` bytes delivered from the meter (or the first endpoint) to the outside, `<` bytes
  delivered to the meter. When faults are active the bytes as the sender put them on the wire,
  before the faults, are recorded too: `}` for the `>` direction, `{` for `<`. Comparing the two
  shows exactly what the faults did. `!` is an event (break, disconnect, reconnect) and DATA is
  free text.
* DATA: the bytes in upper-case hex, no spaces.
"""
import threading
import time
from datetime import datetime, timezone

from meterkast.errors import CliError

VERSION = 1
DELIVERED = {"out": ">", "in": "<"}
SENT = {"out": "}", "in": "{"}


class CaptureWriter:
    """Thread-safe writer shared by all lines of one run.

    `clock` is the time base of the lines (time.monotonic for paced lines); `t0` is the clock
    value that becomes 0.000000 in the file (0 for an in-process, unpaced line).
    """

    def __init__(self, path_or_file, t0=None, clock=time.monotonic):
        if hasattr(path_or_file, "write"):
            self.f = path_or_file
            self._own = False
        else:
            try:
                self.f = open(path_or_file, "w", encoding="ascii")
            except OSError as exc:
                raise CliError("cannot write capture %s: %s" % (path_or_file, exc.strerror))
            self._own = True
        self.t0 = clock() if t0 is None else t0
        self._lock = threading.Lock()
        self.f.write("# meterkast-capture %d\n" % VERSION)
        self.f.write("# start %s\n" % datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))

    def describe_line(self, name, baudrate, framing, faults):
        with self._lock:
            self.f.write("# line %s baud %d framing %s faults %s\n" % (name, baudrate, framing, faults))

    def data(self, t, line, symbol, data):
        if not data:
            return
        text = "%.6f %s %s %s\n" % (t - self.t0, line, symbol, bytes(data).hex().upper())
        with self._lock:
            self.f.write(text)

    def event(self, t, line, text):
        with self._lock:
            self.f.write("%.6f %s ! %s\n" % (t - self.t0, line, text))

    def flush(self):
        with self._lock:
            self.f.flush()

    def close(self):
        with self._lock:
            if self._own:
                self.f.close()
            else:
                self.f.flush()


class Record:
    __slots__ = ("t", "line", "dir", "data", "text")

    def __init__(self, t, line, direction, data=b"", text=""):
        self.t = t
        self.line = line
        self.dir = direction
        self.data = data
        self.text = text

    def __repr__(self):
        return "Record(%.6f, %r, %r, %d bytes)" % (self.t, self.line, self.dir, len(self.data))


class Capture:
    """A capture file read back: header lines and records in file order."""

    def __init__(self, records, lines):
        self.records = records
        self.lines = lines  # name -> {"baud": int, "framing": str, "faults": str}

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read()
        except OSError as exc:
            raise CliError("cannot read capture %s: %s" % (path, exc.strerror))
        except UnicodeDecodeError:
            raise CliError("%s is not a meterkast capture (not ASCII)" % path)
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text, name="capture"):
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# meterkast-capture "):
            raise CliError("%s is not a meterkast capture (no '# meterkast-capture' header)" % name)
        version = lines[0].split()[2]
        if version != str(VERSION):
            raise CliError("%s: capture format %s not supported (this version reads %d)"
                           % (name, version, VERSION))
        records = []
        ports = {}
        for no, line in enumerate(lines[1:], 2):
            if not line.strip():
                continue
            if line.startswith("#"):
                words = line[1:].split()
                if words and words[0] == "line" and len(words) >= 8:
                    ports[words[1]] = {"baud": int(words[3]), "framing": words[5],
                                       "faults": words[7]}
                continue
            parts = line.split(" ", 3)
            if len(parts) != 4:
                raise CliError("%s line %d: expected 'SECONDS LINE DIR DATA'" % (name, no))
            t, port, direction, data = parts
            try:
                t = float(t)
                if direction == "!":
                    records.append(Record(t, port, direction, text=data))
                elif direction in "><}{" and len(direction) == 1:
                    records.append(Record(t, port, direction, bytes.fromhex(data)))
                else:
                    raise ValueError("direction %r" % direction)
            except ValueError as exc:
                raise CliError("%s line %d: %s" % (name, no, exc))
        return cls(records, ports)

    def stream(self, direction=">", line=None):
        """All bytes of one direction (of one line) concatenated."""
        return b"".join(r.data for r in self.select(direction, line))

    def select(self, direction=">", line=None):
        return [r for r in self.records if r.dir == direction and (line is None or r.line == line)]

    def line_names(self):
        names = []
        for r in self.records:
            if r.line not in names:
                names.append(r.line)
        return names


def replay(records, endpoint, speed=1.0, stop=None, clock=time.monotonic, sleep=time.sleep,
           wait_for_client=None):
    """Write the records' bytes into an endpoint at their original times (divided by speed).

    The first record goes out at once; later ones keep their spacing. Returns the byte count.
    A TCP endpoint is served first: accepting the connection happens in its read().
    """
    if wait_for_client is not None:
        while not wait_for_client():
            if stop is not None and stop.is_set():
                return 0
            endpoint.read()
            sleep(0.02)
    if not records:
        return 0
    base_t = records[0].t
    start = clock()
    sent = 0
    for r in records:
        due = start + (r.t - base_t) / speed
        while True:
            if stop is not None and stop.is_set():
                return sent
            endpoint.read()  # accept connections, discard what the client sends
            left = due - clock()
            if left <= 0:
                break
            sleep(min(left, 0.05))
        endpoint.write(r.data)
        sent += len(r.data)
    return sent
