"""Soak campaigns: pull the plug a thousand times, push a million telegrams through a faulty
line, throw a hundred thousand fuzzed frames at P3.

Each campaign is a function that returns a result dict: `figures`, a list of (name, value, unit)
in the order `meterkast soak` prints them, and `failures`, a list of texts (empty when the
campaign passed), plus the raw counts. `meterkast soak` runs them at full size,
tests/host/test_soak.py at a small one: the same code either way.

* kills: a meter with a keys file (P1 encrypted, P3 management reads in some runs) is started
  and SIGKILLed again and again on one flash state, a third of the time during boot and counter
  initialisation, before its first telegram. Every encrypted P1 frame and every ciphered P3 APDU
  it sends is captured (what the line delivered plus what it still held at the kill): no
  (key, system title, counter) may ever be used twice. The firmware's report shows registers
  never going back, never restored ahead of what the meter had shown, losing at most one persist
  interval; the flash's quarter-hour profile stays aligned, unique, undamaged and follows the
  IDIS outage rules.
* line: telegrams (the firmware's own output with fresh values, plain and encrypted) through a
  line with bit errors, drops, inserted noise, bursts and breaks, unpaced, into the console's
  decoder: every accepted telegram must be byte for byte one that was sent.
* p3: random and mutated frames into the emulator's P3 port over its serial line, in batches of
  at most ~1 KiB, each followed by a probe the meter must answer: no internal error, heap not
  growing, P1 undisturbed, no replay accepted, and a management read works afterwards.
"""
import bisect
import hashlib
import os
import random
import re
import statistics
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import serial

from meterkast.dlms import axdr
from meterkast.dlms.client import CLOCK, Association
from meterkast.dlms.hdlc import (
    LLC_REQUEST,
    LLC_RESPONSE,
    HdlcClient,
    build_frame,
    fcs,
    parse_frames,
)
from meterkast.dlms.security import CounterState, SecurityError, decrypt
from meterkast.dlms.security import Keys as MgmtKeys
from meterkast.emulator import Emulator
from meterkast.faults import FaultInjector, FaultSpec
from meterkast.frames import FrameDecoder, Keys, encrypted_frame
from meterkast.keys import new_keys, write_keys
from meterkast.line import PacedPipe
from meterkast.p1 import make_telegram

CAMPAIGNS = ("kills", "line", "p3")
FULL = {"kills": 1000, "line": 1_000_000, "p3": 100_000}
SMALL = {"kills": 20, "line": 20_000, "p3": 2_000}
UNIX_2000 = 946684800
PROFILE = bytes((1, 0, 99, 1, 0, 255))
IMPORT_T1 = bytes((1, 0, 1, 8, 1, 255))


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


def p1_headers(data):
    """(system title, frame counter, frame bytes) of every encrypted P1 frame in a stream,
    `DB 08 <title> 82 <len> 30 <counter> ...`. A frame cut short still counts (its header left
    the meter, so its IV was used); its bytes are then the part that was sent."""
    out = []
    i = 0
    n = len(data)
    while True:
        i = data.find(b"\xdb\x08", i)
        if i < 0 or i + 18 > n:
            return out
        if data[i + 10] != 0x82 or data[i + 13] != 0x30:
            i += 1
            continue
        end = i + 13 + int.from_bytes(data[i + 11:i + 13], "big")
        out.append((bytes(data[i + 2:i + 10]), int.from_bytes(data[i + 14:i + 18], "big"),
                    bytes(data[i:min(end, n)])))
        i = end


def hdlc_apdus(data):
    """APDUs in an HDLC byte stream (valid frames only, segments joined), LLC header included."""
    buf = bytearray(data)
    pending = {}
    out = []
    for f in parse_frames(buf):
        if not f.is_i:
            continue
        acc = pending.setdefault(f.dest, bytearray())
        acc += f.info
        if not f.segmented:
            out.append(bytes(acc))
            del pending[f.dest]
    return out


def open_glo(apdu, keys):
    """The plaintext of a general-glo-ciphering APDU, or None (not one, or its tag fails)."""
    if apdu[:2] != b"\xdb\x08" or len(apdu) < 16:
        return None
    try:
        n, p = axdr.read_length(apdu, 10)
        return decrypt(keys, apdu[2:10], int.from_bytes(apdu[p + 1:p + 5], "big"),
                       apdu[p + 5:p + n])
    except (ValueError, SecurityError):
        return None


def _ber_fields(apdu, tag):
    """{tag: content} of a BER ACSE APDU, or {} when it is not well formed."""
    try:
        if apdu[0] != tag:
            return {}
        n, p = axdr.read_length(apdu, 1)
        end = min(p + n, len(apdu))
        fields = {}
        while p < end:
            t = apdu[p]
            n, q = axdr.read_length(apdu, p + 1)
            fields[t] = apdu[q:q + n]
            p = q + n
        return fields
    except (IndexError, ValueError):
        return {}


def server_ivs(apdus, keys):
    """(system title, invocation counter, bytes) of every protection the meter applied in its
    P3 answers: general-glo-ciphering APDUs, the ciphered InitiateResponse in an AARE, and the
    HLS pass-4 GMAC inside a ciphered action response (a GMAC uses the same IV space).

    Returns (uses, bad): bad counts ciphered answers whose tag does not verify."""
    uses = []
    bad = 0
    for raw in apdus:
        if raw[:3] != LLC_RESPONSE:
            continue
        apdu = raw[3:]
        if apdu[:2] == b"\xdb\x08" and len(apdu) > 16:
            title = apdu[2:10]
            try:
                n, p = axdr.read_length(apdu, 10)
            except ValueError:
                bad += 1
                continue
            ic = int.from_bytes(apdu[p + 1:p + 5], "big")
            uses.append((title, ic, apdu))
            try:
                plain = decrypt(keys, title, ic, apdu[p + 5:p + n])
            except SecurityError:
                bad += 1
                continue
            if plain[:4] == b"\xc7\x01\xc1\x00" and plain[4:6] == b"\x01\x00":
                try:
                    f = axdr.decode_all(plain[6:])
                except ValueError:
                    f = b""
                if isinstance(f, bytes) and len(f) >= 5 and f[0] == 0x10:
                    uses.append((title, int.from_bytes(f[1:5], "big"), b"gmac" + bytes(f)))
        elif apdu[:1] == b"\x61":
            fields = _ber_fields(apdu, 0x61)
            ui = fields.get(0xBE, b"")
            title = fields.get(0xA4, b"")[2:]
            if ui[:1] == b"\x04" and len(ui) > 8 and ui[2] == 0x28:
                try:
                    n, p = axdr.read_length(ui, 3)
                except ValueError:
                    continue
                uses.append((bytes(title), int.from_bytes(ui[p + 1:p + 5], "big"), bytes(ui)))
    return uses, bad


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


# -- campaign 1: power cuts -----------------------------------------------------------------


class PowerCutCheck:
    """Registers across power cuts, run by run from the firmware's report (tests/host/
    test_power_loss.py's rules), then the flash's profile. Violations are counted, not raised."""

    def __init__(self, max_w=30000):
        self.max_w = max_w
        self.floor = None  # registers of the newest persisted state we know about
        self.candidates = []  # states that may have been persisted after it
        self.boots = 0
        self.outages = {}  # last persist before the cut -> power back
        self.alive = {}  # same key -> last second the meter was seen alive
        self.last_seen = None
        self.max_lost_wh = 0
        self.violations = Counter()

    @property
    def loss_bound_wh(self):
        return self.max_w * 61 / 3600 + 1  # one persist interval (60 s) at the peak, plus one

    def run(self, events):
        persists = [e for e in events if e.get("ev") == "persist"]
        readings = [e for e in events if e.get("ev") == "r"]
        for e in events:
            if e.get("ev") == "outage":
                self.outages[e["a"]] = e["b"]
                if self.last_seen is not None and self.last_seen >= e["a"]:
                    self.alive[e["a"]] = self.last_seen
        if readings:
            self.last_seen = readings[-1]["t"]
        if persists:
            restored = persists[0]["reg"]
            if self.floor is not None:
                if not (restored == self.floor or restored in self.candidates):
                    self.violations["restored_ahead"] += 1
                if not all(r >= f for r, f in zip(restored, self.floor)):
                    self.violations["registers_backwards"] += 1
                if self.candidates:
                    lost = sum(self.candidates[-1]) - sum(restored)
                    self.max_lost_wh = max(self.max_lost_wh, lost)
                    if lost > self.loss_bound_wh:
                        self.violations["loss_over_bound"] += 1
            self.boots += 1
        for e in events:
            if e.get("ev") == "persist":
                self.floor = e["reg"]
                self.candidates = []
            elif e.get("ev") == "r":
                self.candidates.append(e["reg"])
        regs = [r["reg"] for r in readings]
        if not all(all(b >= a for a, b in zip(x, y)) for x, y in zip(regs, regs[1:])):
            self.violations["readings_backwards"] += 1

    def profile(self, d, max_failures):
        """The flash after the campaign (meterkast.flashimage.dump)."""
        v = self.violations
        profile = d["profile"]
        v["profile_damaged"] += sum(1 for e in profile if e.get("damaged"))
        good = [e for e in profile if not e.get("damaged")]
        times = [_t(e["time"]) for e in good]
        v["profile_unaligned"] += sum(1 for t in times if t % 900)
        v["profile_duplicate_or_disordered"] += sum(1 for a, b in zip(times, times[1:]) if b <= a)
        if not good:
            v["profile_empty"] += 1
        outage_list = sorted((a, b) for a, b in self.outages.items() if b > a)
        failures = d.get("power_failures", -1)
        if not self.outages or not len(self.outages) <= failures <= max_failures:
            v["power_failure_count"] += 1
        by_time = dict(zip(times, good))
        for a, b in outage_list:
            real = max(a, self.alive.get(a, a))  # the cut came after the last second seen alive
            if any(real <= t - 900 and t < b for t in times):
                v["profile_entry_inside_outage"] += 1  # a period wholly inside the outage
            b1 = real - real % 900 + 900
            if b1 < b and b1 in by_time and not by_time[b1]["status"] & 0x80:
                v["profile_power_down_missing"] += 1  # the period where power failed
            after = [t for t in times if t >= b]
            if after and not by_time[after[0]]["status"] & 0x80:
                v["profile_power_down_missing"] += 1  # the restoration period
        for t, e in zip(times, good):
            touched = any(a <= t and b > t - 900 for a, b in outage_list)
            if not touched and e["status"] & 0x80:
                v["profile_power_down_misplaced"] += 1
        return len(good)


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


def kill_campaign(workdir, kills=1000, seed=1, speed=3000, early_share=1 / 3, p3_share=0.25,
                  progress=None):
    """`kills` SIGKILLs of a live meter with keys, one flash state throughout, then an orderly
    run. Returns the result dict (see the module docstring)."""
    rng = random.Random(seed)
    failures = []
    workdir, keys_path = campaign_keys(workdir, 1 + seed % 1000, failures)
    state = workdir / "state"
    p1_keys = Keys.load(str(keys_path))
    mgmt = MgmtKeys.load(str(keys_path))
    counters = CounterState(str(keys_path) + ".ic")
    ledger = IvLedger()
    check = PowerCutCheck()
    classes = Counter()
    p3 = Counter()
    p1_frames = Counter()
    exits = []
    criticals = []
    first_frame = []  # seconds from start to the first P1 frame, recent runs
    bad_p3 = 0
    t_start = time.monotonic()
    early_runs = set(rng.sample(range(kills), int(round(kills * early_share))))
    p3_runs = set(rng.sample(sorted(set(range(kills)) - early_runs),
                             min(kills - len(early_runs), int(round(kills * p3_share)))))
    for i in range(kills + 1):
        final = i == kills
        early = i in early_runs
        use_p3 = i in p3_runs
        marks = {}
        t0 = [0.0]

        def on_event(ev, marks=marks, t0=t0):
            kind = ev.get("ev")
            if kind in ("boot", "p1") and kind not in marks:
                marks[kind] = time.monotonic() - t0[0]

        collector = Collector()
        emu = Emulator(p1="pty", p3="pty", keys=str(keys_path), state=str(state), speed=speed,
                       start="2026-07-01T06:00:00Z" if i == 0 else None, capture=collector,
                       on_event=on_event, report=True)
        t0[0] = time.monotonic()
        emu.start()
        killed = threading.Event()
        port = None
        if final:
            emu.wait_event(lambda e: e.get("ev") == "r", 30)
            port = serial.serial_for_url(emu.port("p3"), baudrate=115200, timeout=0.02)
            try:
                management_read(port, mgmt, counters, profile=True)
                p3["reads_ok"] += 1
            except Exception as exc:  # noqa: BLE001 - reported as a failure
                p3["reads_failed"] += 1
                failures.append("final management read failed: %s" % exc)
            port.close()
            port = None
            time.sleep(0.3)
            code = emu.stop()
            if code != 0:
                failures.append("the orderly run after the campaign exited with %s" % code)
            rest = {}
        else:
            if early:
                # boot: interpreter start, flash mount, register restore, counter reservations
                window = statistics.median(first_frame[-25:]) if first_frame else 0.06
                time.sleep(rng.uniform(0.0, 0.9 * window))
            else:
                emu.wait_event(lambda e: e.get("ev") == "boot", 10)
            if use_p3:
                port = serial.serial_for_url(emu.port("p3"), baudrate=115200, timeout=0.02)

                def pull(port=port, emu=emu):
                    killed.set()
                    emu.kill()
                    try:
                        port.close()
                    except Exception:  # noqa: BLE001 - the reader thread may hold it
                        pass

                timer = threading.Timer(rng.uniform(0.0, 0.35), pull)
                timer.start()
                while not killed.is_set():
                    try:
                        management_read(port, mgmt, counters, profile=rng.random() < 0.3)
                        p3["reads_ok"] += 1
                    except Exception as exc:  # noqa: BLE001
                        if killed.is_set():
                            p3["reads_interrupted"] += 1
                        else:
                            p3["reads_failed"] += 1
                            failures.append("run %d: management read failed: %s" % (i, exc))
                            break
                timer.join()
            elif not early:
                time.sleep(rng.uniform(0.0, 0.8))
            killed.set()
            emu.kill()
            if emu.proc.returncode != -9:  # it ended before the plug was pulled
                exits.append((i, emu.proc.returncode, emu.stderr.strip().splitlines()[-1:]))
            rest = undelivered(emu)
            emu.close()
            if port is not None:
                try:
                    port.close()
                except Exception:  # noqa: BLE001
                    pass
        events = list(emu.events)
        booted = any(e.get("ev") == "boot" for e in events)
        p1_stream = collector.stream("p1") + rest.get("p1", b"")
        headers = p1_headers(p1_stream)
        telegram = bool(headers) or any(e.get("ev") == "p1" for e in events)
        if not final:
            classes["kills"] += 1
            classes["running" if booted else "before_boot"] += 1
            if not telegram:
                classes["before_first_telegram"] += 1
            if use_p3:
                classes["p3_runs"] += 1
        if "p1" in marks:
            first_frame.append(marks["p1"])
        for title, fc, frame in headers:
            ledger.add("p1", title, fc, frame)
            complete = len(frame) >= 13 and len(frame) == 13 + int.from_bytes(frame[11:13], "big")
            if complete:
                dec = FrameDecoder(p1_keys).feed(frame)
                if dec and dec[0].ok:
                    p1_frames["verified"] += 1
                else:
                    p1_frames["failed"] += 1
            else:
                p1_frames["cut_by_kill"] += 1
        uses, bad = server_ivs(hdlc_apdus(collector.stream("p3") + rest.get("p3", b"")), mgmt)
        bad_p3 += bad
        for title, ic, data in uses:
            ledger.add("management", title, ic, data, retransmit_ok=True)
        criticals += [e.get("msg") for e in events if e.get("ev") == "critical"]
        check.run(events)
        if progress and (i % 50 == 0 or final):
            progress("kills: run %d/%d, %.0f s" % (i, kills, time.monotonic() - t_start))
    counters.close()
    from meterkast.flashimage import dump

    d = dump(str(state))
    entries = check.profile(d, kills + 1)
    elapsed = time.monotonic() - t_start
    v = check.violations
    if ledger.reused:
        failures.append("%d IVs reused, e.g. %r" % (len(ledger.reused), ledger.reused[:3]))
    if p1_frames["failed"] or bad_p3:
        failures.append("%d P1 frames and %d P3 answers failed verification"
                        % (p1_frames["failed"], bad_p3))
    if exits:
        failures.append("the firmware exited by itself in %d runs: %r" % (len(exits), exits[:3]))
    if criticals:
        failures.append("critical events: %r" % criticals[:3])
    for name, n in sorted(v.items()):
        if n:
            failures.append("%s: %d" % (name, n))
    if classes["running"] == 0:
        failures.append("no kill hit a running firmware")
    if classes["before_first_telegram"] < 0.25 * kills:
        failures.append("only %d of %d kills fell before the first telegram (boot, counter "
                        "initialisation); a quarter must"
                        % (classes["before_first_telegram"], kills))
    if ledger.uses["p1"] == 0 or ledger.uses["management"] == 0:
        failures.append("the campaign produced no encrypted P1 frame or no ciphered P3 APDU")
    if check.boots < kills * 0.5:
        failures.append("only %d runs got past boot" % check.boots)
    figures = [
        ("kills", classes["kills"], "kills"),
        ("kills_running", classes["running"], "kills"),
        ("kills_before_boot", classes["before_boot"], "kills"),
        ("kills_before_first_telegram", classes["before_first_telegram"], "kills"),
        ("runs_with_p3", classes["p3_runs"], "runs"),
        ("p3_reads_ok", p3["reads_ok"], "reads"),
        ("p3_reads_cut_by_kill", p3["reads_interrupted"], "reads"),
        ("p3_reads_failed", p3["reads_failed"], "reads"),
        ("p1_frames", ledger.uses["p1"], "frames"),
        ("p1_frames_verified", p1_frames["verified"], "frames"),
        ("p1_frames_cut_by_kill", p1_frames["cut_by_kill"], "frames"),
        ("p3_ciphered_apdus", ledger.uses["management"], "apdus"),
        ("iv_reuse", len(ledger.reused), "pairs"),
        ("boots_restored", check.boots, "boots"),
        ("registers_backwards", v["registers_backwards"] + v["readings_backwards"], "runs"),
        ("registers_restored_ahead", v["restored_ahead"], "runs"),
        ("max_energy_lost", check.max_lost_wh, "Wh"),
        ("loss_bound", round(check.loss_bound_wh, 1), "Wh"),
        ("profile_entries", entries, "entries"),
        ("profile_bad_entries", sum(n for k, n in v.items() if k.startswith("profile_")),
         "entries"),
        ("power_failures_on_flash", d.get("power_failures"), "failures"),
        ("wall", round(elapsed, 1), "s"),
        ("rate", round(classes["kills"] / elapsed * 60, 1), "kills/min"),
    ]
    return _result("kill_campaign", figures, failures, ledger=ledger, violations=v,
                   classes=classes, reads=p3)


# -- campaign 2: a faulty line into the console decoder --------------------------------------

LINE_FAULTS = "ber=1e-4,drop=1e-4,insert=2e-5,burst=2e-6:16,break=150@97,seed=%d"
_VARY = re.compile(rb"^(1-0:(?:[12]\.8\.[12]|\d+\.7\.0)|0-0:96\.7\.(?:21|9)|1-0:\d+\.3[26]\.0)"
                   rb"\((\d+)(\.?)(\d*)(\*\w+)?\)$")


def firmware_telegrams(per_scenario=12, scenarios=("household", "single-phase")):
    """Plain telegrams the real firmware sends (three-phase and single-phase households)."""
    out = []
    for k, scenario in enumerate(scenarios):
        collector = Collector()
        emu = Emulator(p1="pty", speed=600, scenario=scenario, seed=3 + k, capture=collector,
                       start="2026-01-05T06:00:00Z", report=False)
        emu.start()
        try:
            deadline = time.monotonic() + 20
            found = []
            while len(found) < per_scenario and time.monotonic() < deadline and emu.alive():
                time.sleep(0.2)
                found = [f.raw for f in FrameDecoder().feed(collector.stream("p1")) if f.ok]
        finally:
            emu.stop()
        out += found[:per_scenario]
    if not out:
        raise RuntimeError("the firmware sent no telegram")
    return out


class Variations:
    """Distinct telegrams in the firmware's layouts: fresh times (one second apart), register
    and power values, tariffs and power-failure logs."""

    def __init__(self, bases, seed=1):
        self.bases = [b.split(b"\r\n")[2:-2] for b in bases]  # between the blank line and '!'
        self.header = bases[0].split(b"\r\n")[0][1:]
        self.rng = random.Random(seed)
        self.start = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)

    def make(self, i):
        rng = self.rng
        new = []
        for line in self.bases[i % len(self.bases)]:
            m = _VARY.match(line)
            if m:
                obis, whole, dot, frac, unit = m.groups()
                value = b"%0*d" % (len(whole), rng.randrange(10 ** len(whole)))
                if dot:
                    value += b".%0*d" % (len(frac), rng.randrange(10 ** len(frac)))
                line = b"%s(%s%s)" % (obis, value, unit or b"")
            elif line.startswith(b"0-0:1.0.0("):
                local = self.start + timedelta(seconds=i, hours=1)
                line = b"0-0:1.0.0(%sW)" % local.strftime("%y%m%d%H%M%S").encode()
            elif line.startswith(b"0-0:96.14.0("):
                line = b"0-0:96.14.0(000%d)" % rng.choice((1, 2))
            elif line.startswith(b"1-0:99.97.0(") and rng.random() < 0.3:
                k = rng.randint(1, 10)
                entries = b"".join(b"(2512%02d101500W)(%010d*s)" % (d + 1, rng.randint(180, 99999))
                                   for d in range(k))
                line = b"1-0:99.97.0(%d)(0-0:96.7.19)%s" % (k, entries)
            new.append(line)
        return make_telegram(self.header, new)


class LineSoak:
    """Units (telegrams or encrypted frames), one per `interval` of line time, through an
    unpaced faulty line into a FrameDecoder, batch by batch, so millions fit in memory. The
    fault log says which units a fault touched; every accepted one must be byte for byte a sent
    unit, in order."""

    def __init__(self, spec, keys=None, first_counter=None, interval=1.0, seed=9):
        self.log = []
        self.injector = FaultInjector(FaultSpec.parse(spec), "out", log=self.log)
        self.received = bytearray()
        self.pipe = PacedPipe(11520, self.received.extend, faults=self.injector, pace=False)
        self.decoder = FrameDecoder(keys)
        self.first_counter = first_counter  # encrypted units: counter of unit 0
        self.interval = interval
        self.rng = random.Random(seed)
        self.sent = 0  # bytes
        self.units = 0
        self.window = {}  # unit index -> bytes, for this batch and the one before
        self.index = {}  # bytes -> unit index (plain units)
        self.offsets = []  # stream offset of each unit of the window, in order
        self.first = 0  # unit index of offsets[0]
        self.corrupted = set()
        self.last_accepted = -1
        self.accepted = 0
        self.false_accepts = 0
        self.flagged = 0
        self.crc_passed_but_rejected = 0
        self.missed = 0  # intact units not accepted
        self._pending_intact = set()

    def feed(self, units):
        """Send one batch."""
        batch_first = self.units
        keep_from = len(self.offsets)
        for u in units:
            self.offsets.append(self.sent)
            self.window[self.units] = u
            if self.first_counter is None:
                self.index[u] = self.units
            self.sent += len(u)
            self.pipe.push(u, now=self.units * self.interval)
            self.pipe.pump()
            self.units += 1
        for pos, kind in self.log:
            k = self.first + bisect.bisect_right(self.offsets, pos) - 1
            end = self.offsets[k - self.first] + len(self.window[k])
            if kind == "insert" and pos == end - 1:
                continue  # garbage after the unit's last byte, between units
            self.corrupted.add(k)
        self.log.clear()
        self._pending_intact |= set(range(batch_first, self.units)) - self.corrupted
        self._decode()
        # forget all but this batch (a frame may still complete with the next bytes)
        for k in range(self.first, batch_first):
            u = self.window.pop(k)
            self.index.pop(u, None)
        self.offsets = self.offsets[keep_from:]
        self.first = batch_first
        self.corrupted = {k for k in self.corrupted if k >= batch_first}
        stale = {k for k in self._pending_intact if k < batch_first}
        self.missed += len(stale)
        self._pending_intact -= stale

    def _decode(self, final=False):
        data = self.received
        frames = []
        pos = 0
        while pos < len(data):
            step = self.rng.choice((1, 7, 64, 500, 1500, 4096, 16384))
            frames += self.decoder.feed(bytes(data[pos:pos + step]))
            pos += step
        data.clear()
        if final:
            frames += self.decoder.flush(final=True)
        for f in frames:
            if not f.ok:
                if f.ok is False:
                    self.flagged += 1
                    if f.telegram is not None and f.telegram.crc_ok is True:
                        self.crc_passed_but_rejected += 1
                continue
            if f.kind == "p1-encrypted":
                i = f.frame_counter - self.first_counter
                ok = self.window.get(i) == f.raw
            else:
                i = self.index.get(f.raw, -1)
                ok = i >= 0
            if not ok or i <= self.last_accepted:
                self.false_accepts += 1
            else:
                self.last_accepted = i
                self.accepted += 1
                self._pending_intact.discard(i)

    def finish(self):
        self._decode(final=True)
        self.missed += len(self._pending_intact)
        self._pending_intact.clear()


def line_campaign(telegrams=1_000_000, seed=1, batch=5000, bases=None, progress=None):
    """`telegrams` plain telegrams, then as many encrypted P1 frames, through LINE_FAULTS."""
    t_start = time.monotonic()
    bases = bases or firmware_telegrams()
    title = b"MKS" + (seed % 2**40).to_bytes(5, "big")
    krng = random.Random(seed)
    ek, ak = krng.randbytes(16), krng.randbytes(16)
    failures = []
    figures = []
    totals = Counter()
    for mode in ("plain", "encrypted"):
        n = telegrams
        t0 = time.monotonic()
        var = Variations(bases, seed=seed * 2 + (mode == "encrypted"))
        first = 1000
        soak = LineSoak(LINE_FAULTS % (seed * 2 + (mode == "encrypted")),
                        keys=Keys(title, ek, ak) if mode == "encrypted" else None,
                        first_counter=first if mode == "encrypted" else None,
                        seed=seed)
        corrupted = 0
        for start in range(0, n, batch):
            units = [var.make(i) for i in range(start, min(n, start + batch))]
            if mode == "encrypted":
                units = [encrypted_frame(u, title, first + start + k, ek, ak)
                         for k, u in enumerate(units)]
            soak.feed(units)
            corrupted += len(soak.corrupted)  # this batch's: the window keeps only its own
            if progress and (start // batch) % 20 == 19:
                progress("line %s: %d/%d telegrams, %.0f s" % (mode, start + batch, n,
                                                                 time.monotonic() - t0))
        soak.finish()
        dt = time.monotonic() - t0
        faults = soak.injector.counts
        totals["units"] += soak.units
        totals["false"] += soak.false_accepts
        totals["corrupted"] += corrupted
        totals["bytes"] += soak.sent
        figures += [
            ("telegrams_%s" % mode, soak.units, "telegrams"),
            ("hit_by_faults_%s" % mode, corrupted, "telegrams"),
            ("accepted_%s" % mode, soak.accepted, "telegrams"),
            ("flagged_%s" % mode, soak.flagged, "telegrams"),
            ("intact_missed_%s" % mode, soak.missed, "telegrams"),
            ("false_accepts_%s" % mode, soak.false_accepts, "telegrams"),
            ("bit_flips_%s" % mode, faults["bit_flips"], "bits"),
            ("dropped_bytes_%s" % mode, faults["dropped"], "bytes"),
            ("bursts_%s" % mode, faults["bursts"], "bursts"),
            ("break_lost_bytes_%s" % mode, faults["break_lost"], "bytes"),
            ("rate_%s" % mode, round(soak.units / dt), "telegrams/s"),
        ]
        if mode == "plain":
            figures.append(("crc_passed_strict_rejected_plain", soak.crc_passed_but_rejected,
                            "telegrams"))
        if soak.false_accepts:
            failures.append("%d false accepts (%s)" % (soak.false_accepts, mode))
        if soak.units != n:
            failures.append("%d %s telegrams sent, %d asked" % (soak.units, mode, n))
        if soak.missed:
            failures.append("%d intact %s telegrams were not accepted" % (soak.missed, mode))
        if corrupted == 0 or soak.accepted == 0:
            failures.append("the faults hit nothing or nothing got through (%s)" % mode)
    elapsed = time.monotonic() - t_start
    figures += [("bytes", totals["bytes"], "B"), ("wall", round(elapsed, 1), "s")]
    return _result("console", figures, failures, totals=totals)


# -- campaign 3: fuzzed frames into P3 -------------------------------------------------------

SERVER = b"\x03"  # logical device 1, one-byte address
PUBLIC = b"\x21"  # client SAP 16
MANAGEMENT = b"\x03"  # client SAP 1
# The probe: a DISC from a client address only probes use, which the meter answers with DM
# without touching the link of the client it serves. The meter repeats its last frame when a
# client repeats an I-frame, and that may be the previous probe's DM: successive probes take
# turns among four addresses, so an answer always names the probe it answers.
PROBE_SAPS = (0x6C, 0x6D, 0x6E, 0x6F)
_PROBE_SRCS = tuple(bytes(((sap << 1) | 1,)) for sap in PROBE_SAPS)
_PROBES = tuple(build_frame(SERVER, src, 0x53) for src in _PROBE_SRCS)
_PROBE_ANSWER = re.compile(rb"\x7e[\xa0-\xa7].[\xd9\xdb\xdd\xdf]", re.S)
# Bytes of fuzz between probes. The line holds at most about a KiB for the meter (a UART FIFO
# and its receive buffer): more at once would be dropped before the meter ever saw it.
BATCH = 960


def refcs(frame):
    """Recompute HCS and FCS of a (mutated) frame so it passes the HDLC checks."""
    body = bytearray(frame[1:-1])
    if len(body) < 7:
        return frame
    length = len(body)
    body[0] = 0xA0 | (body[0] & 0x08) | ((length >> 8) & 7)
    body[1] = length & 0xFF
    p = 2
    while p < length - 2 and not body[p] & 1:
        p += 1
    p += 2  # source address (one byte) and control
    if p + 2 < length - 2:
        body[p + 1:p + 3] = fcs(body[:p + 1])
    body[-2:] = fcs(body[:-2])
    return b"\x7e" + bytes(body) + b"\x7e"


def templates(client_title):
    """Client frames of a real session's kinds, to mutate (tests/host/test_dlms_robustness)."""
    c1, c16 = MANAGEMENT, PUBLIC
    aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    get = b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00"
    get_sel = b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x01\x02" + axdr.entry_descriptor(1, 3)
    dbx = b"\xdb\x08" + client_title + b"\x1e\x30\x00\x00\x00\x05" + bytes(range(25))
    out = [
        build_frame(SERVER, c16, 0x93),
        build_frame(SERVER, c1, 0x93, bytes.fromhex("818012050180060180070400000001080400000001")),
        build_frame(SERVER, c16, 0x53),
        build_frame(SERVER, c16, 0x11),
        build_frame(SERVER, c16, 0x31),
    ]
    for ns in range(8):
        for info in (aarq, get, get_sel, dbx, b"\x62\x03\x80\x01\x00"):
            out.append(build_frame(SERVER, c16 if ns & 1 else c1,
                                   0x10 | (ns << 1) | ((ns + 1) & 7) << 5, LLC_REQUEST + info,
                                   segmented=ns == 5))
    return out


def garbage(rng, tpl):
    """One random or mutated frame (tests/host/test_dlms_robustness.py's kinds)."""
    kind = rng.randrange(7)
    if kind == 0:  # line noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    f = bytearray(rng.choice(tpl))
    if kind in (1, 2):  # bit errors, then a valid or an invalid FCS
        for _ in range(rng.randrange(1, 4)):
            f[rng.randrange(1, len(f) - 1)] ^= 1 << rng.randrange(8)
        return refcs(bytes(f)) if kind == 2 else bytes(f)
    if kind == 3:  # truncated, or two frames glued together
        return bytes(f[:rng.randrange(1, len(f))]) + (
            bytes(rng.choice(tpl)) if rng.random() < 0.5 else b"")
    if kind == 4:  # valid HDLC, random control and random information
        info = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        ctrl = rng.randrange(256)
        if rng.random() < 0.5:
            info = LLC_REQUEST + info
            ctrl &= 0xFE
        return build_frame(SERVER, rng.choice((b"\x03", b"\x21", b"\x11")), ctrl, info,
                           rng.random() < 0.1)
    if kind == 5:  # a believable header announcing a long frame that never comes
        n = rng.randrange(7, 0x7FF)
        return bytes((0x7E, 0xA0 | (n >> 8), n & 0xFF)) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    return b"\x7e" * rng.randrange(1, 20)  # flag fill


def _snrm(client):
    return build_frame(SERVER, client, 0x93,
                       bytes.fromhex("818014050201F4060201F4070400000001080400000001"))


def _iframe(client, ns, info, segmented=False):
    return build_frame(SERVER, client, 0x10 | (ns << 1), info, segmented)


def _huge_length(rng):
    k = rng.choice((0, 1, 2, 3, 4, 5, 8, 0x7F))
    if k == 0:
        return b"\x80"  # indefinite
    return bytes((0x80 | k,)) + bytes(rng.choice((0xFF, 0x7F, 0x80)) for _ in range(min(k, 9)))


def mutate(rng, apdu):
    """An APDU with bit errors, bytes inserted, deleted or cut, a length made huge, or spliced."""
    a = bytearray(apdu)
    how = rng.randrange(6)
    if how == 0:
        for _ in range(rng.randrange(1, 4)):
            if a:
                a[rng.randrange(len(a))] ^= 1 << rng.randrange(8)
    elif how == 1 and a:
        p = rng.randrange(len(a) + 1)
        a[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif how == 2 and len(a) > 1:
        p = rng.randrange(len(a))
        del a[p:p + rng.randrange(1, 8)]
    elif how == 3 and a:
        del a[rng.randrange(len(a)):]
    elif how == 4 and len(a) > 1:
        p = rng.randrange(1, len(a))
        a[p:p + 1] = _huge_length(rng)
    else:
        p = rng.randrange(len(a) + 1)
        a[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    return bytes(a)


class P3Fuzzer:
    """Blobs to send, one frame (or one piece of noise) each: the garbage of
    test_dlms_robustness, oversize frames, unfinished segments on SAP 1 and 16, requests that
    overflow the meter's APDU buffer, mutated valid APDUs, huge BER lengths and replays of a
    recorded management session, verbatim or re-framed."""

    KINDS = (("garbage", 8), ("oversize", 1), ("unfinished", 1), ("overflow", 1),
             ("public", 2), ("mutated", 3), ("huge_ber", 2), ("replay", 1), ("reframed", 1))

    def __init__(self, rng, client_title, recorded):
        self.rng = rng
        self.tpl = templates(client_title)
        self.recorded = recorded  # the client's frames of real sessions, in order
        self.apdus = [(f.dest, f.info[3:]) for f in _frames(b"".join(recorded))
                      if f.is_i and f.info[:3] == LLC_REQUEST and not f.segmented]
        self.ciphered = [a for _, a in self.apdus if a[:1] in (b"\x60", b"\xdb")]
        base = [a for _, a in self.apdus] + [
            b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00",
            b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x01\x02" + axdr.entry_descriptor(1, 3),
            b"\xc0\x02\xc1\x00\x00\x00\x01", b"\x62\x03\x80\x01\x00",
            bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")]
        self.valid = base
        self.public_aarq = bytes.fromhex(
            "601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
        self.kinds = [k for k, w in self.KINDS for _ in range(w)]
        self.counts = Counter()

    def session(self, client, apdus):
        out = [_snrm(client)]
        for ns, apdu in enumerate(apdus):
            out.append(_iframe(client, ns % 8, LLC_REQUEST + apdu))
        return out

    def next(self):
        """A list of blobs (one kind). None of them is a valid frame from the probe's address:
        the meter would answer it as it answers the probe."""
        while True:
            blobs = self._next()
            if not any(_probe_like(b) for b in blobs):
                return blobs

    def _next(self):
        rng = self.rng
        kind = rng.choice(self.kinds)
        self.counts[kind] += 1
        client = rng.choice((PUBLIC, MANAGEMENT))
        if kind == "garbage":
            return [garbage(rng, self.tpl) for _ in range(rng.randrange(1, 6))]
        if kind == "oversize":  # longer than any frame the meter takes, valid checks
            info = bytes(rng.randrange(256) for _ in range(rng.randrange(520, BATCH - 20)))
            return [build_frame(SERVER, client, 0x10, LLC_REQUEST + info)]
        if kind == "unfinished":  # segments of a request that never ends
            out = [_snrm(client)]
            for ns in range(rng.randrange(1, 4)):
                info = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                out.append(_iframe(client, ns, (LLC_REQUEST if ns == 0 else b"") + info, True))
            return out
        if kind == "overflow":  # a request longer than the meter's APDU buffer
            out = [_snrm(client)]
            total = rng.randrange(1100, 1500)
            ns = 0
            while total > 0:
                k = min(total, 480)
                total -= k
                out.append(_iframe(client, ns, bytes(rng.randrange(256) for _ in range(k)),
                                   total > 0))
                ns += 1
            return out
        if kind == "public":  # associated as the public client, then mutated requests
            apdus = [self.public_aarq] + [mutate(rng, rng.choice(self.valid))
                                          for _ in range(rng.randrange(1, 6))]
            return self.session(PUBLIC, apdus)
        if kind == "mutated":
            return self.session(client, [mutate(rng, rng.choice(self.valid))
                                         for _ in range(rng.randrange(1, 4))])
        if kind == "huge_ber":
            apdu = bytearray(rng.choice(self.valid))
            p = rng.randrange(1, max(2, len(apdu)))
            apdu[p:p + 1] = _huge_length(rng)
            return self.session(client, [bytes(apdu)])
        if kind == "replay" and self.recorded:  # a recorded session, frame for frame
            start = rng.randrange(len(self.recorded))
            return list(self.recorded[start:start + rng.randrange(1, 8)])
        if self.ciphered:  # recorded ciphered requests in a new link
            return self.session(MANAGEMENT, [rng.choice(self.ciphered)
                                             for _ in range(rng.randrange(1, 4))])
        return [garbage(rng, self.tpl)]


def _probe_like(blob):
    """The blob holds a valid frame from one of the probe addresses."""
    if not any(src in blob for src in _PROBE_SRCS):
        return False
    return any(f.src in _PROBE_SRCS for f in _frames(blob))


def _frames(data):
    return parse_frames(bytearray(data))


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
        plain = open_glo(apdu[3:], mgmt) if apdu[:3] == LLC_RESPONSE else None
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


def run(campaign, workdir, size, seed=1, progress=None, **kw):
    """One campaign by name at a size from sizes()."""
    n = sizes(size)[campaign] if not isinstance(size, dict) else size[campaign]
    if campaign == "kills":
        return kill_campaign(Path(workdir) / "kills", kills=n, seed=seed, progress=progress, **kw)
    if campaign == "line":
        return line_campaign(telegrams=n, seed=seed, progress=progress, **kw)
    if campaign == "p3":
        return p3_campaign(Path(workdir) / "p3", frames=n, seed=seed, progress=progress, **kw)
    raise ValueError("no campaign %r; known: %s" % (campaign, ", ".join(CAMPAIGNS)))
