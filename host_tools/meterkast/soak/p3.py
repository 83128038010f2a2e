"""Campaign 3: random and mutated frames into the emulator's P3 port, each batch followed by a
probe the meter must answer; P1 undisturbed, heap flat, no replay accepted."""
import random
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import serial

from meterkast.dlms.client import CLOCK, Association
from meterkast.dlms.hdlc import (
    LLC_RESPONSE,
    HdlcClient,
)
from meterkast.dlms.security import CounterState, SecurityError, open_glo
from meterkast.dlms.security import Keys as MgmtKeys
from meterkast.emu.emulator import Emulator
from meterkast.keys.file import Keys
from meterkast.keys.ivscan import hdlc_apdus
from meterkast.soak.common import (
    Collector,
    _result,
    campaign_keys,
)
from meterkast.soak.p3_fuzz import (
    _PROBE_ANSWER,
    _PROBE_SRCS,
    _PROBES,
    BATCH,
    P3Fuzzer,
    _frames,
)
from meterkast.wire.frames import FrameDecoder


class SharedPort:
    """One pyserial port read by a thread into a buffer: the host client reads from the buffer
    (pyserial's read/in_waiting/write surface), the fuzzer watches it for probe answers, and
    every byte the client writes can be recorded."""

    def __init__(self, url, baudrate):
        self.port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.01)
        self.rx = bytearray()
        self.mark = 0  # what read() has handed out
        self.scan = 0  # where the probe search goes on
        self.record = None
        self._stop = threading.Event()
        self._new = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.port.read(65536)
            except Exception:  # noqa: BLE001 - the port went away
                return
            if data:
                with self._new:
                    self.rx += data
                    self._new.notify_all()

    def flush_input(self):
        with self._new:
            self.mark = self.scan = len(self.rx)

    @property
    def in_waiting(self):
        return len(self.rx) - self.mark

    def read(self, n):
        with self._new:
            if len(self.rx) == self.mark:
                self._new.wait(0.02)
            k = min(n, len(self.rx) - self.mark)
            out = bytes(self.rx[self.mark:self.mark + k])
            self.mark += k
            return out

    def write(self, data):
        if self.record is not None:
            self.record.append(bytes(data))
        self.port.write(data)
        return len(data)

    def send_probe(self, k):
        """Send probe k (after a batch); returns where its answer will be looked for."""
        start = len(self.rx)
        self.write(_PROBES[k % len(_PROBES)])
        return start

    def wait_probe(self, k, start, timeout):
        """True when probe k's DM has come back after `start`: the meter has taken in
        everything sent before that probe."""
        want = _PROBE_SRCS[k % len(_PROBE_SRCS)]
        deadline = time.monotonic() + timeout
        with self._new:
            while True:
                for m in _PROBE_ANSWER.finditer(self.rx, start):
                    s = m.start()
                    end = s + 2 + (((self.rx[s + 1] & 7) << 8) | self.rx[s + 2])
                    if end > len(self.rx):
                        break
                    if any(f.dest == want and f.ctrl == 0x1F for f in _frames(self.rx[s:end])):
                        self.mark = self.scan = end
                        return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._new.wait(min(left, 0.05))

    def close(self):
        self._stop.set()
        self._thread.join(1)
        self.port.close()


def _stats(emu, timeout=5.0):
    n = sum(1 for e in emu.events if e.get("ev") == "stats")
    emu.command("stats")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = [e for e in emu.events if e.get("ev") == "stats"]
        if len(got) > n:
            return got[-1]
        time.sleep(0.01)
    raise RuntimeError("the meter did not answer 'stats'")


def _heap(emu, samples=3):
    out = []
    for _ in range(samples):
        out.append(_stats(emu)["live"])
        time.sleep(0.2)
    return out


def p3_campaign(workdir, frames=100_000, seed=1, baudrate=115200, heap_margin=1024,
                progress=None):
    """`frames` fuzzed frames into a running meter's P3 port (see the module docstring)."""
    rng = random.Random(seed)
    failures = []
    workdir, keys_path = campaign_keys(workdir, 2 + seed % 1000, failures)
    mgmt = MgmtKeys.load(str(keys_path))
    counters = CounterState(str(keys_path) + ".ic")
    collector = Collector()
    emu = Emulator(p1="pty", p3="pty", keys=str(keys_path), state=str(workdir / "state"),
                   speed=1, start="2026-03-02T10:00:30Z", capture=collector, report=True,
                   baudrate=baudrate)
    t_start = time.monotonic()
    emu.start()
    port = None
    sent = Counter()
    r = {}
    try:
        if not emu.wait_event(lambda e: e.get("ev") == "p1", 15):
            raise RuntimeError("the meter did not start: %s" % emu.stderr[-500:])
        port = SharedPort(emu.port("p3"), baudrate)
        start_dt = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
        # sessions to learn from (and replay): public, then management
        port.record = []
        link = HdlcClient(port, client_sap=16, timeout=3.0)
        link.connect()
        a = Association.public(link)
        a.open()
        a.get_value(8, CLOCK, 2)
        a.release()
        link.disconnect()
        from meterkast.dlms.reader import read_meter

        port.flush_input()
        before = read_meter(port, mgmt, counters, start_dt, start_dt + timedelta(hours=3))
        recorded = []
        for chunk in port.record:
            recorded += [bytes(chunk)]
        port.record = None
        fuzz = P3Fuzzer(rng, mgmt.client_system_title, recorded)
        in0 = _stats(emu)
        p1_mark = len(collector.stream("p1"))
        out_mark = len(collector.stream("p3"))
        warmup = min(500, frames // 10)
        heap_before = None
        t_fuzz = time.monotonic()
        pending = []
        probes = retries = probe_bytes = 0
        slowest = 0.0
        while sent["frames"] < frames:
            batch = bytearray()
            while sent["frames"] < frames:
                if not pending:
                    pending = fuzz.next()
                blob = pending[0]
                if batch and len(batch) + len(blob) > BATCH:
                    break
                pending.pop(0)
                batch += blob
                sent["frames"] += 1
            port.write(bytes(batch))
            sent["bytes"] += len(batch)
            at = port.send_probe(probes)
            probe_bytes += len(_PROBES[probes % len(_PROBES)])
            tries = 0
            t_probe = time.monotonic()
            while not port.wait_probe(probes, at, 1.5):
                tries += 1
                retries += 1
                if tries > 3 or not emu.alive():
                    raise RuntimeError("the meter stopped answering P3 after %d frames"
                                       % sent["frames"])
                port.send_probe(probes)
                probe_bytes += len(_PROBES[probes % len(_PROBES)])
            probes += 1
            slowest = max(slowest, time.monotonic() - t_probe)
            if heap_before is None and sent["frames"] >= warmup:
                heap_before = _heap(emu)
            if progress and probes % 500 == 0:
                progress("p3: %d/%d frames, %.0f s" % (sent["frames"], frames,
                                                       time.monotonic() - t_fuzz))
        fuzz_s = time.monotonic() - t_fuzz
        heap_after = _heap(emu)
        stats = _stats(emu)
        p3_in = stats["p3_bytes_in"] - in0["p3_bytes_in"]
        wanted_in = sent["bytes"] + probe_bytes
        fuzz_out = collector.stream("p3")[out_mark:]
        p1_fuzz = collector.stream("p1")[p1_mark:]
        time.sleep(0.2)
        port.flush_input()
        after = read_meter(port, mgmt, counters, start_dt, start_dt + timedelta(hours=3))
        heap_read = _heap(emu, 1)
        r.update(stats=stats, before=before, after=after)
    except Exception as exc:  # noqa: BLE001 - reported as a failure with what was measured
        failures.append("p3 campaign stopped: %s: %s" % (type(exc).__name__, exc))
        r["error"] = exc
    finally:
        if port is not None:
            port.close()
        counters.close()
        code = emu.stop()
    elapsed = time.monotonic() - t_start
    line = getattr(emu, "lines", {}).get("p3")
    overrun = getattr(getattr(line, "to_firmware", None), "overflow", 0)
    hangups = sum(1 for e in emu.events if e.get("ev") == "hangup")
    texts = [e.get("msg", "") for e in emu.events if e.get("ev") in ("text", "error", "critical")]
    tracebacks = sum(1 for t in texts if "Traceback" in t)
    if code != 0:
        failures.append("the meter exited with %s" % code)
    if "error" in r:
        return _result("p3_fuzz", [("frames_sent", sent["frames"], "frames")], failures,
                       texts=texts)
    crashes = r["stats"]["p3_errors"] + tracebacks
    # P1 while the fuzz went on: every frame verifies, none goes missing, no long gap
    p1 = [f for f in FrameDecoder(Keys.load(str(keys_path))).feed(p1_fuzz)]
    p1_ok = [f for f in p1 if f.ok]
    stamps = sorted({f.telegram.timestamp for f in p1_ok if f.telegram.timestamp})
    gap = max([(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])] or [0])
    expected_p1 = fuzz_s  # one telegram per meter second at speed 1
    # nothing the fuzz sent may have been taken as a valid management request
    accepted = 0
    for apdu in hdlc_apdus(fuzz_out):
        try:
            plain = open_glo(apdu[3:], mgmt) if apdu[:3] == LLC_RESPONSE else None
        except SecurityError:
            plain = None
        if plain and plain[:1] in (b"\xc4", b"\xc7") and (plain[1:2] == b"\x02"
                                                         or plain[3:4] == b"\x00"):
            accepted += 1  # data, or a successful action (HLS), for a request we never made
    growth = min(heap_after) - max(heap_before)
    figures = [
        ("frames_sent", sent["frames"], "frames"),
        ("bytes_sent", sent["bytes"], "B"),
        ("bytes_taken_in", p3_in, "B"),
        ("bytes_overrun", overrun, "B"),
        ("line", baudrate, "baud"),
        ("crashes", crashes, "crashes"),
        ("frames_dropped_by_meter", r["stats"]["p3_frames_bad"], "frames"),
        ("frames_taken_by_meter", r["stats"]["p3_frames_ok"], "frames"),
        ("ciphered_refused", r["stats"]["p3_refused"], "apdus"),
        ("replays_accepted", accepted, "apdus"),
        ("answers", len(fuzz_out), "B"),
        ("probe_retries", retries, "probes"),
        ("slowest_probe", round(slowest, 2), "s"),
        ("hangups", hangups, "hangups"),
        ("heap_before", max(heap_before), "B"),
        ("heap_after", min(heap_after), "B"),
        ("heap_growth", growth, "B"),
        ("heap_after_read", heap_read[0], "B"),
        ("p1_frames_during", len(p1), "frames"),
        ("p1_frames_bad", len(p1) - len(p1_ok), "frames"),
        ("p1_max_gap", round(gap, 1), "s"),
        ("management_read_after", 1 if r.get("after") else 0, "reads"),
        ("rate", round(sent["frames"] / fuzz_s), "frames/s"),
        ("wall", round(elapsed, 1), "s"),
    ]
    if crashes:
        failures.append("%d internal errors in the P3 port: %r" % (crashes, texts[:2]))
    if sent["frames"] != frames:
        failures.append("%d frames sent, %d asked" % (sent["frames"], frames))
    if overrun:
        failures.append("%d bytes overran the meter's receive buffer" % overrun)
    if p3_in != wanted_in:
        failures.append("the meter took in %d bytes of the %d sent" % (p3_in, wanted_in))
    if accepted:
        failures.append("%d fuzzed or replayed requests were answered with data" % accepted)
    if growth > heap_margin:
        failures.append("heap grew by %d bytes (%r -> %r)" % (growth, heap_before, heap_after))
    if len(p1) != len(p1_ok) or len(p1_ok) < 0.8 * expected_p1 - 2 or gap > 3:
        failures.append("P1 disturbed: %d frames (%d bad) in %.0f s, longest gap %.1f s"
                        % (len(p1), len(p1) - len(p1_ok), fuzz_s, gap))
    if r["after"]["registers"]["import_t1_wh"] < r["before"]["registers"]["import_t1_wh"]:
        failures.append("registers read after the fuzz are below those read before")
    return _result("p3_fuzz", figures, failures, kinds=fuzz.counts, texts=texts)


