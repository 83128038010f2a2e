"""A hostile metering module on the real internal link: the comms module trusts nothing it is sent.

tests/hostile/hostile_metering.py replaces the metering module's firmware in a two-module meter
(`Emulator(modules="two", metering_main=...)`). Between honest frames it sends garbage, fuzzed
and damaged frames, registers going backwards, 10 MW of power, jumps of megawatt-hours, captures
off the quarter hour, in the future, not rising, below, above and beyond the rating, replays, a
flood, and a module swap. P1 (dsmr_parser, CRC checked) and P3 (`meterkast read`) show what the
comms module believed: only what an honest module carried, never going backwards; its event
lines say what it refused and why; and it keeps serving until stopped, then exits cleanly.
"""
import json
import os
import re
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import serial
from dlms_support import AK, CLIENT_TITLE, EK, SYSTEM_TITLE
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from helpers import parse_v5, wh
from meterkast import cli
from meterkast.emu.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ROOT / "tests" / "hostile" / "hostile_metering.py"
GUARD = ROOT / "firmware" / "comms" / "link" / "guard.py"
START = "2024-03-11T21:59:00Z"  # a minute before a quarter hour
SPEED = 100  # the hostile module's tick (5 meter seconds) every 50 ms
UNIX_2000 = 946684800
DNV = 0x04  # IDIS data not valid
LOST_MAX = 1000  # Wh the swaps may lose (a few ticks of 27 kW); never more, never a gain
MAX_P1_GAP = 600  # meter seconds between telegrams at most (the flood holds the line ~150 s)
REGS = ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")


def guard_codes():
    """The guard's refusal reasons (R_*, C_*) as firmware/comms/link/guard.py numbers them."""
    text = GUARD.read_text()
    codes = {m[1]: int(m[2]) for m in re.finditer(r"^([RC]_[A-Z]+) = const\((\d+)\)", text, re.M)}
    assert {"R_TIME", "R_BACKWARDS", "R_JUMP", "R_POWER", "C_TIME", "C_FUTURE", "C_BELOW",
            "C_ABOVE", "C_JUMP"} <= set(codes), codes
    return codes


def management_keys(path):
    """Management keys only: P3 ciphered for `meterkast read`, P1 in plain text for dsmr_parser."""
    doc = ('{"system_title": "%s", "management": {"ek": "%s", "ak": "%s", '
           '"client_system_title": "%s"}}' % (SYSTEM_TITLE.hex(), EK.hex(), AK.hex(),
                                               CLIENT_TITLE.hex()))
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(doc)
    return str(path)


class P1Reader(threading.Thread):
    """Every telegram on the P1 port, framed by dsmr_parser's own buffer, as long as it runs."""

    def __init__(self, url):
        super().__init__(daemon=True)
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
        self.raw = []
        self._done = threading.Event()

    def run(self):
        buf = TelegramBuffer()
        try:
            while not self._done.is_set():
                data = self.port.read(4096)
                if data:
                    buf.append(data.decode("ascii", "replace"))
                    self.raw.extend(buf.get_all())
        finally:
            self.port.close()

    def stop(self):
        self._done.set()
        self.join(5)


def telegram_values(text):
    """(meter time, [4 registers in Wh], import W, export W) of one telegram, CRC checked."""
    tg = parse_v5(text)  # raises on a bad CRC
    t = int(tg.P1_MESSAGE_TIMESTAMP.value.timestamp()) - UNIX_2000
    reg = [wh(tg.ELECTRICITY_USED_TARIFF_1.value), wh(tg.ELECTRICITY_USED_TARIFF_2.value),
           wh(tg.ELECTRICITY_DELIVERED_TARIFF_1.value), wh(tg.ELECTRICITY_DELIVERED_TARIFF_2.value)]
    return t, reg, wh(tg.CURRENT_ELECTRICITY_USAGE.value), wh(tg.CURRENT_ELECTRICITY_DELIVERY.value)


def read_p3(url, keys, capsys):
    rc = cli.main(["read", url, "--keys", keys, "--from", "2024-03-11T21:00:00Z",
                   "--to", "2024-03-12T01:00:00Z", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def iso_t(text):
    """'YYYY-MM-DDTHH:MM:SSZ' -> meter time."""
    d = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return int(d.timestamp()) - UNIX_2000


def by(emu, ev):
    return [e for e in list(emu.events) if e.get("ev") == ev]


def link_events(emu, what):
    return [e for e in list(emu.events)
            if e.get("module") == "comms" and e.get("ev") == "link" and e.get("what") == what]


def test_comms_trusts_nothing_a_hostile_metering_module_sends(tmp_path, capsys):
    codes = guard_codes()
    keys = management_keys(tmp_path / "keys.json")
    emu = Emulator(p1="pty", p3="pty", modules="two", metering_main=HOSTILE, start=START,
                   speed=SPEED, keys=keys, plain_p1=True, state=tmp_path / "state", report=True)
    emu.start()
    reader = None
    try:
        reader = P1Reader(emu.port("p1"))
        reader.start()
        done = emu.wait_event(lambda e: e.get("ev") == "hostile_done", timeout=60)
        assert done is not None, "the hostile module did not get through its plan\n" + emu.stderr
        assert emu.procs["comms"].poll() is None, "the comms module died\n" + emu.stderr
        seen_before_p3 = len(reader.raw)
        doc = read_p3(emu.port("p3"), keys, capsys)
        # honest frames go on: the comms module still serves them after every attack
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(reader.raw) < seen_before_p3 + 10:
            time.sleep(0.1)
        assert emu.procs["comms"].poll() is None, "the comms module died\n" + emu.stderr
    finally:
        if reader is not None:
            reader.stop()
        rc = emu.stop()
    assert emu.procs["comms"].returncode == 0, emu.stderr
    assert rc == 0, emu.stderr
    assert "Traceback" not in emu.stderr, emu.stderr  # LinkPort.feed prints what it catches

    plan = by(emu, "plan")[0]
    q0, swap = plan["q0"], plan["swap"]
    honest = {e["t"]: e for e in by(emu, "honest")}
    foreign = {e["t"]: e for e in by(emu, "foreign")}
    captures = {e["t"]: e for e in by(emu, "honest_capture")}
    attacks = {e["what"] for e in by(emu, "attack")}
    assert {"garbage", "bit_flip", "random_reading", "backwards", "power", "jump", "replay",
            "flood", "swap", "swap_back", "capture_future", "capture_jump"} <= attacks
    top = [max(e["reg"][k] for e in honest.values()) for k in range(4)]

    # -- P1: every telegram intact, nothing but what the honest module carried ------------------
    vals = [telegram_values(x) for x in reader.raw]
    assert len(vals) >= 100, "P1 telegrams did not keep coming: %d" % len(vals)
    times = [v[0] for v in vals]
    assert times == sorted(set(times)), "P1 times rise"
    assert times[-1] > done["t"], "no P1 telegram after the attacks"
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert max(gaps) <= MAX_P1_GAP, "P1 stalled for %d meter seconds" % max(gaps)
    for (t0, r0, _, _), (t1, r1, _, _) in zip(vals, vals[1:]):
        assert all(b >= a for a, b in zip(r0, r1)), ("a P1 register went backwards", t0, r0, t1, r1)
    for t, reg, imp_w, exp_w in vals:
        assert all(reg[k] <= top[k] for k in range(4)), ("beyond anything honest", t, reg, top)
        assert imp_w <= 27000 and exp_w == 0, ("an absurd power served", t, imp_w, exp_w)
        if t < swap:  # before the swap only honest readings can have been believed, exactly
            assert t in honest, ("a reading that was never honest was served", t, reg)
            assert reg == honest[t]["reg"] and imp_w == honest[t]["imp_w"], (t, reg, honest[t])
        else:  # after it: continuous, so at most what the swaps lost below the honest module
            ref = honest[t]["reg"] if t in honest else foreign[t]["honest"]
            for k in range(4):
                assert ref[k] - LOST_MAX <= reg[k] <= ref[k], ("served after the swap", t, reg, ref)
    assert any(t < swap for t in times) and any(t > swap for t in times)

    # -- the comms module's log: each refusal, by reason ----------------------------------------
    refused_r = {e["detail"] for e in link_events(emu, "refused_reading")}
    assert {codes["R_TIME"], codes["R_BACKWARDS"], codes["R_JUMP"], codes["R_POWER"]} <= refused_r
    refused_c = {e["detail"] for e in link_events(emu, "refused_capture")}
    assert {codes["C_TIME"], codes["C_FUTURE"], codes["C_BELOW"], codes["C_ABOVE"],
            codes["C_JUMP"]} <= refused_c
    assert [e["detail"] for e in link_events(emu, "module_swap")] == [1, 2]  # there and back
    assert len(link_events(emu, "rebase")) == 2
    assert link_events(emu, "crc_errors"), "damaged frames not logged"
    assert link_events(emu, "value_errors"), "frames with values out of range not logged"
    assert link_events(emu, "module_restart"), "replayed frames (old sequence numbers) not logged"

    # -- P3: registers and profile, monotone and plausible ---------------------------------------
    reg = [doc["registers"][k] for k in REGS]
    before = [v[1] for v in vals[:seen_before_p3]]
    assert before and all(reg[k] >= before[-1][k] for k in range(4)), (reg, before[-1])
    assert all(reg[k] <= top[k] for k in range(4)), (reg, top)
    assert doc["registers"]["import_w"] <= 27000 and doc["registers"]["export_w"] == 0
    rows = doc["profile"]
    row_t = [iso_t(r["time"]) for r in rows]
    assert row_t == sorted(set(row_t)) and all(t % 900 == 0 for t in row_t), row_t
    assert q0 in row_t and q0 + 1800 in row_t, ("the honest captures are not all served", row_t)
    assert q0 + 900 not in row_t, "Q1: only lies were sent for it, none may be served"
    prev = None
    for r, t in zip(rows, row_t):
        assert t in captures, ("a profile entry no honest capture made", r)
        want = captures[t]["reg"]
        got = [r[k] for k in REGS]
        if t < swap:
            assert got == want and r["status"] == 0, (r, want)
        else:
            assert all(want[k] - LOST_MAX <= got[k] <= want[k] for k in range(4)), (r, want)
        if prev is not None:
            assert all(b >= a for a, b in zip(prev, got)), ("the profile went backwards", prev, r)
        prev = got
    # refused captures and the swap flag the next entry believed
    assert rows[row_t.index(q0 + 1800)]["status"] & DNV


def test_a_leap_in_time_and_mono_gains_no_energy(monkeypatch):
    """One reading a year ahead in time and mono, with a year's energy at just below the
    rating, among honest ones: nothing of it may be served, and the honest readings after it
    must still be."""
    monkeypatch.setenv("HOSTILE_PLAN", "leap")
    emu = Emulator(p1="pty", modules="two", metering_main=HOSTILE, start=START, speed=SPEED,
                   report=True)
    emu.start()
    reader = None
    try:
        reader = P1Reader(emu.port("p1"))
        reader.start()
        done = emu.wait_event(lambda e: e.get("ev") == "hostile_done", timeout=30)
        assert done is not None, emu.stderr
        time.sleep(0.5)
        assert emu.procs["comms"].poll() is None, emu.stderr
    finally:
        if reader is not None:
            reader.stop()
        rc = emu.stop()
    assert rc == 0, emu.stderr
    assert by(emu, "attack")[0]["what"] == "leap"
    refused = [e["detail"] for e in emu.events
               if e.get("ev") == "link" and e.get("what") == "refused_reading"]
    assert guard_codes()["R_AHEAD"] in refused, ("the leap is refused for running ahead", refused)
    honest = {e["t"]: e for e in by(emu, "honest")}
    top = [max(e["reg"][k] for e in honest.values()) for k in range(4)]
    vals = [telegram_values(x) for x in reader.raw]
    assert vals
    for t, reg, _, _ in vals:
        assert all(reg[k] <= top[k] for k in range(4)), ("a leap's energy served", t, reg, top)
        assert t in honest, ("a time no honest reading had", t)
    assert vals[-1][0] >= done["t"], "honest readings after the leap no longer served"
