"""The firmware and the host agree on every flash layout: records written by the firmware's own
stores under MicroPython are decoded by the host's `dump` code into the values written, and both
sides take their constants from one module (firmware/contract/layout.py)."""
import os
import re
from pathlib import Path

from conftest import FIRMWARE, run_micropython
from meterkast.image import flashimage

WRITER = r'''
import sys
from contract import layout as L
from metering.store import RegisterStore
from metering.registers import EnergyRegisters as Registers
from metering.events import PowerFailures, VoltageEvents
from util.qhstore import QuarterHourStore
root = sys.argv[1]
regs = Registers()
regs.load([123456, 7890, 42, 1], [11, 22, 33, 44])
pf = PowerFailures()
pf.count, pf.long_count, pf.log_n = 9, 2, 2
pf.log[0], pf.log[1], pf.log[2], pf.log[3] = 800000000, 200, 800100000, 4000
ve = VoltageEvents()
ve.sags[0], ve.sags[2], ve.swells[1] = 3, 5, 7
store = RegisterStore(root)
store.save(800000900, 17, L.POWER_DOWN | L.CLOCK_ADJUSTED, regs, pf, ve)
regs.load([123457, 7890, 42, 1], [11, 22, 33, 44])
store.save(800000960, 18, 0, regs, pf, ve)
for name, n in ((L.PROFILE_DIR, 100), (L.PROFILE_COPY_DIR, 3)):
    q = QuarterHourStore(root, name)
    for k in range(n):
        q.append(800001000 - 800001000 % 900 + 900 * k, L.DATA_NOT_VALID if k == 1 else 0,
                 (1000 + k, 2000 + 2 * k, 3 * k, 4))
from comms.events import EventLog


class Clock:
    def utc(self):
        return 800200000


ev = EventLog(root, Clock())
ev.reading([800100000, 0, 0, 0] + [0] * 18 + [9, 2] + [0] * 7 + [2, 800100000, 4000, 800000000, 200] + [0] * 16)
for k in range(L.EVENT_STANDARD_ENTRIES):
    ev.event(230 + k % 10, 800200000 + k, k)
print("written")
'''


class DirFS:
    """A directory as the host's flash-image reader sees a LittleFS."""

    def __init__(self, root):
        self.root = Path(root)

    def open(self, name, mode="rb"):
        return open(self.root / name.lstrip("/"), mode)

    def listdir(self, name):
        return os.listdir(self.root / name.lstrip("/"))


def test_records_the_firmware_writes_are_what_the_host_reads(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    root = tmp_path / "flash"
    root.mkdir()
    r = run_micropython(script, root)
    assert r.returncode == 0 and b"written" in r.stdout, r.stderr.decode()
    fs = DirFS(root)
    rec, slots = flashimage.read_registers(fs)
    assert slots == {"regs.a": "ok (seq 1)", "regs.b": "ok (seq 2)"}
    assert rec["seq"] == 2 and rec["saved_at"] == flashimage.iso(800000960)
    assert rec["registers"] == {"import_t1_wh": 123457, "import_t2_wh": 7890,
                                "export_t1_wh": 42, "export_t2_wh": 1}
    assert rec["residual_mws"] == [11, 22, 33, 44]
    assert (rec["power_failures"], rec["long_power_failures"]) == (9, 2)
    assert rec["power_failure_log"] == [
        {"end": flashimage.iso(800000000), "duration_s": 200},
        {"end": flashimage.iso(800100000), "duration_s": 4000}]
    assert rec["voltage_sags"] == [3, 0, 5] and rec["voltage_swells"] == [0, 7, 0]
    assert rec["pending_status"] == 0
    (root / "regs.b").unlink()  # the older slot alone: its pending bits come through
    rec1, _ = flashimage.read_registers(fs)
    assert flashimage.decode_status(rec1["pending_status"]) == ["power_down", "clock_adjusted"]

    profile = flashimage.read_profile(fs)
    assert len(profile) == 100 and not any(e.get("damaged") for e in profile)
    assert [e["seq"] for e in profile] == list(range(100))  # two segment files, in order
    assert profile[1]["flags"] == ["data_not_valid"] and profile[2]["flags"] == []
    assert profile[99]["import_t1_wh"] == 1099 and profile[99]["import_t2_wh"] == 2198
    assert profile[99]["export_t1_wh"] == 297 and profile[99]["export_t2_wh"] == 4
    copy = flashimage.read_profile(fs, "qhc")
    assert [e["import_t1_wh"] for e in copy] == [1000, 1001, 1002]


def test_event_logs_the_firmware_writes_are_what_the_host_reads(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    root = tmp_path / "flash"
    root.mkdir()
    r = run_micropython(script, root)
    assert r.returncode == 0 and b"written" in r.stdout, r.stderr.decode()
    events = flashimage.read_events(DirFS(root))
    assert events["power_failures"] == [
        {"end": flashimage.iso(800000000), "duration_s": 200},
        {"end": flashimage.iso(800100000), "duration_s": 4000}]
    assert events["power_failures_seen"] == [9, 2]
    std = events["standard"]
    # four power events (down, up per long failure), then a full ring: the oldest four dropped
    assert len(std) == 80 and std[0] == {"time": flashimage.iso(800200000), "code": 230,
                                        "value": 0}
    assert std[-1] == {"time": flashimage.iso(800200079), "code": 239, "value": 79}


def test_no_layout_is_written_twice():
    """The host keeps no format string of its own: every struct format of a flash record lives
    in contract/layout.py, and the firmware's stores import theirs from it."""
    host = (Path(flashimage.__file__)).read_text()
    assert not re.search(r'"<[0-9A-Za-z]{4,}"', host), "a record format string in flashimage.py"
    for rel in ("metering/store.py", "util/qhstore.py", "comms/events.py",
                "comms/crypto/keystore.py"):
        src = (FIRMWARE / rel).read_text()
        assert "contract.layout" in src and not re.search(r'_FMT = "<', src), rel
