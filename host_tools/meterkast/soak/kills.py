"""Campaign 1: a meter is SIGKILLed again and again on one flash state; every IV it sent is
checked for reuse, registers and the quarter-hour profile for loss and damage."""
import random
import statistics
import threading
import time
from collections import Counter

import serial

from meterkast.dlms.security import CounterState
from meterkast.dlms.security import Keys as MgmtKeys
from meterkast.emu.emulator import Emulator
from meterkast.keys.file import Keys
from meterkast.keys.ivscan import hdlc_apdus, p1_headers, server_ivs
from meterkast.soak.common import (
    Collector,
    IvLedger,
    _result,
    _t,
    campaign_keys,
    management_read,
    undelivered,
)
from meterkast.wire.frames import FrameDecoder

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
        """The flash after the campaign (meterkast.image.flashimage.dump)."""
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
    from meterkast.image.flashimage import dump

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


