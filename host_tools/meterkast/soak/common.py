"""What the soak campaigns share: sizes, results, the capture collector, the IV ledger,
keys files and a management read."""
import bisect
import hashlib
import os
import threading
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from meterkast.dlms import axdr, reader
from meterkast.dlms.client import CLOCK, Association
from meterkast.dlms.hdlc import (
    HdlcClient,
)
from meterkast.keys.file import new_keys, write_keys

CAMPAIGNS = ("kills", "line", "p3")
FULL = {"kills": 1000, "line": 1_000_000, "p3": 100_000}
SMALL = {"kills": 20, "line": 20_000, "p3": 2_000}
UNIX_2000 = 946684800
PROFILE = reader.PROFILE
IMPORT_T1 = reader.OBIS.ln(reader.OBIS.IMPORT_T1)


def sizes(size):
    """'full', 'small' or a scale of the full size (0.1: 100 kills, 100,000 telegrams, ...)."""
    if size == "full":
        return dict(FULL)
    if size == "small":
        return dict(SMALL)
    scale = float(size)
    if scale <= 0:
        raise ValueError("a size scale must be positive")
    return {k: max(1, int(round(v * scale))) for k, v in FULL.items()}


def _result(prefix, figures, failures, **raw):
    out = {"figures": [(prefix + "_" + n, v, u) for n, v, u in figures], "failures": failures}
    out.update(raw)
    return out


# -- what an emulated meter put on its lines ------------------------------------------------


class Collector:
    """A capture sink for an Emulator (`capture=`): every byte each line delivered, per line and
    direction, in order, with the line time of each delivery."""

    def __init__(self):
        self._lock = threading.Lock()
        self.streams = {}
        self.times = {}  # (line, symbol) -> [(offset in the stream, line time)]

    def describe_line(self, *args):
        pass

    def data(self, t, line, symbol, data):
        if not data:
            return
        with self._lock:
            s = self.streams.setdefault((line, symbol), bytearray())
            self.times.setdefault((line, symbol), []).append((len(s), t))
            s += data

    def event(self, *args):
        pass

    def flush(self):
        pass

    def close(self):
        pass

    def stream(self, line, symbol=">"):
        with self._lock:
            return bytes(self.streams.get((line, symbol), b""))

    def arrival(self, line, offset, symbol=">"):
        """Line time at which the byte at `offset` of a stream was delivered."""
        with self._lock:
            times = self.times.get((line, symbol), [])
            k = bisect.bisect_right(times, (offset, float("inf"))) - 1
            return times[k][1] if k >= 0 else None


def undelivered(emu):
    """After a kill: what the firmware had written that its lines had not delivered yet (still
    queued on the line, or still in the pty). Stops the lines."""
    out = {}
    for name, line in getattr(emu, "lines", {}).items():
        line.stop()
        line.join(2)
        rest = bytearray(line.to_outside.queue)
        fd = getattr(line, "fw_fd", None)
        while fd is not None:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
        out[name] = bytes(rest)
    return out


class IvLedger:
    """Every (key, system title, counter) used, with what was sent under it. A repeat with other
    bytes is an IV reused; the same bytes again is a retransmission (HDLC repeats its last frame
    when a client asks again), which reveals nothing."""

    def __init__(self):
        self.seen = {}
        self.uses = Counter()
        self.reused = []

    def add(self, key, title, counter, data, retransmit_ok=False):
        k = (key, bytes(title), counter)
        digest = hashlib.sha256(data).digest()
        self.uses[key] += 1
        old = self.seen.get(k)
        if old is None:
            self.seen[k] = digest
        elif not (retransmit_ok and old == digest):
            self.reused.append(k)


def _t(iso):
    t = datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(t.timestamp())


def management_read(port, keys, counters, timeout=2.0, profile=False):
    """Associate as the management client, read the clock and a register (and the newest
    profile entries), release. Returns the register value."""
    link = HdlcClient(port, client_sap=1, timeout=timeout, retries=1)
    link.connect()
    try:
        a = Association.management(link, keys, counters)
        a.open()
        a.get_value(8, CLOCK, 2)
        value = a.get_value(3, IMPORT_T1, 2)
        if profile:
            a.get_value(7, PROFILE, 2, 2, axdr.entry_descriptor(1, 4))
        a.release()
    finally:
        link.disconnect()
    return value


def new_keys_file(path, serial=1):
    """`meterkast keys new --out path`: random keys, mode 0600. Returns the mode found."""
    write_keys(str(path), new_keys(serial=serial))
    return os.stat(path).st_mode & 0o777


def campaign_keys(workdir, serial, failures):
    """A campaign's work folder and its fresh keys file (a mode other than 0600 is a failure)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keys_path = workdir / "keys.json"
    mode = new_keys_file(keys_path, serial)
    if mode != 0o600:
        failures.append("keys file mode %o, not 600" % mode)
    return workdir, keys_path


