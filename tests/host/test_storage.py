"""The quarter-hour profile and registers on flash: DST days, power loss, damaged flash, clock changes."""
import json
import struct
import subprocess
import sys
import zlib
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from helpers import UNIX_2000, meter
from meterkast.errors import CliError
from meterkast.image.flashimage import dump

AMS = ZoneInfo("Europe/Amsterdam")
UTC = timezone.utc


def _t(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())


def _cli_dump(state):
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "dump", "--state", str(state), "--json"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def _regs(e):
    return [e["import_t1_wh"], e["import_t2_wh"], e["export_t1_wh"], e["export_t2_wh"]]


@pytest.mark.parametrize("day,expected", [("2026-03-29", 92), ("2026-10-25", 100), ("2026-06-10", 96)])
def test_accelerated_local_day(tmp_path, day, expected):
    local_midnight = datetime.fromisoformat(day).replace(tzinfo=AMS)
    start = local_midnight.astimezone(UTC) - timedelta(minutes=1)
    end = (local_midnight + timedelta(days=1)).astimezone(UTC)
    duration = int((end - start).total_seconds()) + 60
    with meter(p1="pty", start=start.strftime("%Y-%m-%dT%H:%M:%SZ"), speed=5000,
               duration=duration, state=tmp_path) as emu:
        assert emu.wait(120) == 0
    profile = _cli_dump(tmp_path)["profile"]
    lo, hi = local_midnight.timestamp(), (local_midnight + timedelta(days=1)).timestamp()
    day_entries = [e for e in profile if lo < _t(e["time"]) <= hi]
    assert len(day_entries) == expected
    readings = {r["t"]: r for r in emu.readings()}
    times = [_t(e["time"]) for e in profile]
    assert all(t % 900 == 0 for t in times)
    assert all(b - a == 900 for a, b in zip(times, times[1:])), "no gaps, no duplicates"
    for e in profile:
        t = _t(e["time"])
        summer = datetime.fromtimestamp(t, UTC).astimezone(AMS).dst() != timedelta(0)
        assert e["status"] == (0x08 if summer else 0), e
        assert _regs(e) == readings[t]["reg"], "entry = registers at that instant"


def test_clock_shift_forward_and_back(tmp_path):
    """+10 min across a boundary, then -20 min back across it: CAD flags, no double counting."""
    with meter(p1="pty", start="2026-02-02T10:10:00Z", speed=30, state=tmp_path) as emu:
        emu.wait_event(lambda e: e.get("ev") == "r" and e["t"] >= _t("2026-02-02T10:12:00Z"), 30)
        emu.command("clock +600")
        emu.wait_event(lambda e: e.get("ev") == "r" and e["t"] >= _t("2026-02-02T10:25:00Z"), 30)
        emu.command("clock -1200")
        emu.wait_event(lambda e: e.get("ev") == "r" and e["t"] >= _t("2026-02-02T10:20:00Z")
                       and e["seq"] > 700, 40)
        assert emu.stop() == 0
    profile = dump(tmp_path)["profile"]
    stamps = [(e["time"], e["status"]) for e in profile]
    assert stamps == [
        ("2026-02-02T10:15:00Z", 0x20),  # reached by the forward jump: clock adjusted
        ("2026-02-02T10:15:00Z", 0x20),  # again after the clock went back: duplicate, flagged
    ], stamps
    rs = emu.readings()
    seqs = [r["seq"] for r in rs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "every meter second measured once"
    imp = sum(r["imp_w"] for r in rs[1:]) / 3600
    d_imp = sum(rs[-1]["reg"][:2]) - sum(rs[0]["reg"][:2])
    assert abs(d_imp - imp) <= 1 + len(rs) * 0.5 / 3600, "clock changes never add or drop energy"
    flagged = [r for r in rs if r["st"] & 0x20]
    assert len(flagged) == 2


def _entry_bytes(e, seq):
    b = struct.pack("<IB3xIIIII", _t(e["time"]) - UNIX_2000, e["status"], *_regs(e), seq)
    return b + struct.pack("<I", zlib.crc32(b))


def test_damaged_flash_is_detected_and_the_meter_keeps_measuring(tmp_path):
    with meter(p1="pty", start="2026-05-01T08:00:00Z", speed=3000, duration=4 * 3600,
               state=tmp_path) as emu:
        assert emu.wait(60) == 0
    before = dump(tmp_path)
    profile = before["profile"]
    assert len(profile) == 16 and not any(e.get("damaged") for e in profile)
    image = bytearray((tmp_path / "flash.img").read_bytes())
    victim = profile[5]
    pattern = _entry_bytes(victim, victim["seq"])
    pos = image.find(pattern)
    assert pos > 0
    while pos >= 0:  # LittleFS copies-on-write: stale copies may sit in free blocks too
        image[pos + 9] ^= 0x40  # one bit of import T1
        pos = image.find(pattern, pos + 1)
    (tmp_path / "flash.img").write_bytes(image)
    after = dump(tmp_path)["profile"]
    assert after[5].get("damaged") is True
    assert [e for i, e in enumerate(after) if i != 5] == [e for i, e in enumerate(profile) if i != 5]
    # The meter boots on the damaged image, restores its registers and keeps measuring.
    with meter(p1="pty", speed=3000, duration=1800, state=tmp_path) as emu:
        assert emu.wait(60) == 0
    restored = next(e for e in emu.events if e.get("ev") == "persist")["reg"]
    assert restored == [before["registers"][k] for k in
                            ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")]
    assert len(dump(tmp_path)["profile"]) > len(profile)


def test_unmountable_flash_is_not_formatted(tmp_path):
    with meter(p1="pty", start="2026-05-01T08:00:00Z", speed=3000, duration=1800,
               state=tmp_path) as emu:
        assert emu.wait(60) == 0
    image = bytearray((tmp_path / "flash.img").read_bytes())
    image[0:8192] = bytes(8192)  # wipe both superblock copies
    (tmp_path / "flash.img").write_bytes(image)
    with pytest.raises(CliError, match="neither blank nor a LittleFS"):
        meter(p1="pty", speed=100, duration=5, state=tmp_path)  # the host refuses it up front
    # The firmware, started on it anyway, refuses to format it and keeps measuring.
    with meter(p1="pty", speed=100, duration=5, state=tmp_path, check_flash=False) as emu:
        assert emu.wait(60) == 0
    assert any(e.get("ev") == "critical" for e in emu.events)
    assert all(r["st"] & 0x01 for r in emu.readings()), "readings carry the critical-error bit"
    assert (tmp_path / "flash.img").read_bytes()[8192:] == bytes(image[8192:]), "data left intact"


def test_register_slot_damage_falls_back_to_the_other_slot(tmp_path):
    with meter(p1="pty", start="2026-05-01T08:00:00Z", speed=3000, duration=3600,
               state=tmp_path) as emu:
        assert emu.wait(60) == 0
    d = dump(tmp_path)
    image = bytearray((tmp_path / "flash.img").read_bytes())
    newest = "regs.a" if "seq %d" % d["seq"] in d["register_slots"]["regs.a"] else "regs.b"
    pos = image.find(b"MKR1" + struct.pack("<I", d["seq"]))
    assert pos >= 0
    image[pos + 24] ^= 0xFF
    (tmp_path / "flash.img").write_bytes(image)
    d2 = dump(tmp_path)
    assert d2["register_slots"][newest] == "damaged"
    assert d2["seq"] == d["seq"] - 1
    with meter(p1="pty", speed=100, duration=3, state=tmp_path) as emu:
        assert emu.wait(60) == 0
    restored = next(e for e in emu.events if e.get("ev") == "persist")["reg"]
    assert restored == [d2["registers"][k] for k in
                     ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")]
