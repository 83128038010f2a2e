"""Keys and the state that holds their counters: no GCM IV is ever used twice, whatever happens
to the state (deleted, new, copied, rolled back, shared, counters wiped), and no restart locks
the head-end out.

Every run captures both lines; every encrypted P1 frame and every ciphered P3 APDU the meter
sent is read back (meterkast.keys.ivscan) and the (key, system title, counter) triples of the whole
test must all differ.
"""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from dlms_support import GuruxSession, gurux_management
from gurux_dlms.objects import GXDLMSRegister
from helpers import meter
from littlefs import LittleFS
from meterkast import cli
from meterkast.image.flashimage import BLOCK_SIZE
from meterkast.keys.file import load_keys, new_keys, write_keys
from meterkast.keys.ivscan import iv_uses, repeats
from meterkast.line.capture import Capture

START = "2026-03-02T10:00:00Z"


def make_keys(tmp_path, name="keys.json", serial=7):
    path = tmp_path / name
    write_keys(str(path), new_keys(serial))
    return path


class Campaign:
    """Runs meters with one keys file and collects every IV they put on the wire."""

    def __init__(self, tmp_path, keys):
        self.tmp = tmp_path
        self.keys = keys
        self.uses = []
        self.runs = 0
        self.reads = 0

    def run(self, state=None, seconds=3, read=True, capsys=None, start=None):
        self.runs += 1
        cap = self.tmp / ("cap%d.txt" % self.runs)
        emu = meter(p1="pty", p3="pty", keys=str(self.keys), state=state, capture=str(cap),
                    start=start or "2026-03-02T10:%02d:00Z" % (5 * self.runs))
        emu.start()
        try:
            assert emu.wait_event(lambda e: e.get("ev") == "p1", 30), emu.stderr
            if read:
                self.read(emu.port("p3"), capsys)
            time.sleep(seconds)
        finally:
            assert emu.stop() == 0, emu.stderr
        c = Capture.load(cap)
        self.uses += iv_uses(c.stream(">", "p1"), c.stream(">", "p3"), load_keys(self.keys))
        return emu

    def read(self, url, capsys):
        rc = cli.main(["read", url, "--keys", str(self.keys), "--from", "2026-03-02",
                       "--to", "2026-03-02", "--json"])
        out = capsys.readouterr() if capsys is not None else None
        assert rc == 0, out.err if out else rc
        self.reads += 1


def _flash_files(image, drop_prefixes):
    """Delete files from a flash image on the host (what wiping the counters looks like)."""
    data = bytearray(image.read_bytes())
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=len(data) // BLOCK_SIZE, mount=False)
    fs.context.buffer = data
    fs.mount()
    gone = []
    for name in fs.listdir("/"):
        if name.startswith(drop_prefixes):
            fs.remove(name)
            gone.append(name)
    fs.unmount()
    image.write_bytes(bytes(fs.context.buffer))
    return gone


def test_no_iv_twice_whatever_happens_to_the_state(tmp_path, capsys):
    keys = make_keys(tmp_path)
    c = Campaign(tmp_path, keys)
    default_state = tmp_path / "keys.json.state"
    c.run(capsys=capsys)  # 1. the keys' own state (beside the keys file)
    snapshot = tmp_path / "snapshot"
    shutil.copytree(default_state, snapshot, ignore=shutil.ignore_patterns(".lock"))
    old_image = (default_state / "flash.img").read_bytes()
    c.run(capsys=capsys)  # 2. on from it
    shutil.rmtree(default_state)
    c.run(capsys=capsys)  # 3. state deleted
    c.run(state=tmp_path / "new-state", capsys=capsys)  # 4. --state pointing at a new dir
    c.run(state=snapshot, capsys=capsys)  # 5. a copy of an older state
    (default_state / "flash.img").write_bytes(old_image)
    c.run(capsys=capsys)  # 6. an older flash.img restored
    gone = _flash_files(default_state / "flash.img", ("ic_p1", "ic_mgmt"))
    assert len(gone) == 4, gone
    c.run(capsys=capsys)  # 7. both counters' files wiped
    assert c.reads == 7
    p1 = [u for u in c.uses if u[0] == "p1"]
    p3 = [u for u in c.uses if u[0] == "management"]
    assert len(p1) >= 7 * 3 and len(p3) >= 7 * 10, (len(p1), len(p3))
    assert repeats(c.uses) == []
    record = json.loads((tmp_path / "keys.json.counters").read_text())
    assert record["p1"] >= max(u[2] for u in p1) and record["management"] >= max(u[2] for u in p3)


def test_a_second_meter_on_the_same_keys_or_state_is_refused(tmp_path):
    keys = make_keys(tmp_path)
    first = meter(p1="pty", keys=str(keys), start=START)
    first.start()
    try:
        assert first.wait_event(lambda e: e.get("ev") == "p1", 30)
        for extra in (["--state", str(tmp_path / "other")], []):
            p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--keys", str(keys),
                                "--duration", "2", *extra], capture_output=True, text=True,
                               timeout=60)
            assert p.returncode != 0
            lines = p.stderr.strip().splitlines()
            assert len(lines) == 1 and "in use by another running meter" in lines[0], p.stderr
        # the same state without keys: refused too
        p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--state",
                            str(first.state), "--duration", "2"], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode != 0 and "state directory" in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "other").exists()
        assert first.alive()
    finally:
        assert first.stop() == 0


def test_a_killed_host_leaves_slack_above_the_record(tmp_path):
    """The host process killed with its meter: the next run starts past what it may have missed."""
    keys = make_keys(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "meterkast.cli", "run", "--keys", str(keys),
                             "--speed", "500", "--start", START], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    record = tmp_path / "keys.json.counters"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if record.exists() and json.loads(record.read_text())["p1"] >= 512:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, 9)
    proc.wait()
    doc = json.loads(record.read_text())
    assert doc["running"] is True
    emu = meter(p1="pty", keys=str(keys), state=tmp_path / "fresh")
    emu.start()
    try:
        ev = emu.wait_event(lambda e: e.get("ev") == "p1", 30)
        assert ev["fc"] > doc["p1"] + 256, (ev, doc)
    finally:
        emu.stop()
    assert json.loads(record.read_text())["running"] is False


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_restarts_before_any_session_never_lock_the_head_end_out(tmp_path, capsys, how):
    keys = make_keys(tmp_path)
    for _ in range(2):
        emu = meter(p1=None, p3="pty", keys=str(keys), start=START)
        emu.start()
        assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
        time.sleep(1.5)
        if how == "stop":
            assert emu.stop() == 0
        else:
            emu.kill()
            emu.close()
    emu = meter(p1=None, p3="pty", keys=str(keys))
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
        url = emu.port("p3")
        assert cli.main(["read", url, "--keys", str(keys), "--from", "2026-03-02", "--to",
                         "2026-03-02", "--json"]) == 0, capsys.readouterr().err
        doc = json.loads(capsys.readouterr().out)
        assert "registers" in doc
        k = load_keys(keys)["management"]
        s = GuruxSession(url, gurux_management(10**6, ek=k["ek"], ak=k["ak"],
                                               title=k["client_system_title"]))
        s.open()
        try:
            assert s.read(GXDLMSRegister("1.0.1.8.1.255"), 2) >= 0
        finally:
            s.release()
            s.close()
    finally:
        assert emu.stop() == 0


def test_keys_files_that_are_unsafe_to_use(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "meterkast.cli", *args], capture_output=True,
                              text=True, timeout=60, cwd=tmp_path)

    doc = new_keys(3)
    same = dict(doc, management=dict(doc["management"], ek=doc["p1"]["ek"]))
    write_keys(str(tmp_path / "same.json"), same)
    loose = make_keys(tmp_path, "loose.json")
    os.chmod(loose, 0o644)
    nop1 = {k: v for k, v in doc.items() if k != "p1"}
    write_keys(str(tmp_path / "nop1.json"), nop1)
    for args, word in ((["keys", "check", "same.json"], "equals a management key"),
                       (["run", "--keys", "same.json", "--duration", "2"], "equals a management key"),
                       (["keys", "check", "loose.json"], "chmod 600"),
                       (["run", "--keys", "loose.json", "--duration", "2"], "chmod 600"),
                       (["run", "--keys", "nop1.json", "--duration", "2"], "--plain-p1")):
        p = run(*args)
        lines = p.stderr.strip().splitlines()
        assert p.returncode != 0 and len(lines) == 1 and word in lines[0], (args, p.stderr)
    assert not (tmp_path / "same.json.state").exists() and not (tmp_path / "nop1.json.state").exists()
    p = run("run", "--keys", "nop1.json", "--plain-p1", "--duration", "2", "--start", START)
    assert p.returncode == 0, p.stderr


def test_a_lost_counter_ends_the_run_at_once(tmp_path):
    keys = make_keys(tmp_path)
    emu = meter(p1="pty", keys=str(keys), start=START)
    emu.start()
    assert emu.wait_event(lambda e: e.get("ev") == "p1", 30)
    assert emu.stop() == 0
    image = tmp_path / "keys.json.state" / "flash.img"
    data = bytearray(image.read_bytes())
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=len(data) // BLOCK_SIZE, mount=False)
    fs.context.buffer = data
    fs.mount()
    for slot in ("ic_p1.a", "ic_p1.b"):
        with fs.open(slot, "wb") as f:
            f.write(b"\x00" * 20)
    fs.unmount()
    image.write_bytes(bytes(fs.context.buffer))
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--keys", str(keys),
                        "--duration", "600", "--report", str(tmp_path / "r.jsonl")],
                       capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 30
    assert p.returncode != 0
    assert "p1 invocation counter record lost" in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    events = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert any(e.get("ev") == "critical" and "record lost" in e["msg"] for e in events)
    assert not [e for e in events if e.get("ev") == "p1"], "nothing was sent"


def test_a_head_end_behind_is_told_why_and_resynchronises(tmp_path, capsys):
    """A client counter at or below the last accepted one: AARE diagnostic 13 (authentication
    failure), the report names the counter, and `meterkast read` resynchronises from
    0.0.43.1.1.255 and reads on."""
    from meterkast.commands.run import refusal_text

    keys = make_keys(tmp_path)
    emu = meter(p1=None, p3="pty", keys=str(keys), start=START)
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
        args = ["read", emu.port("p3"), "--keys", str(keys), "--from", "2026-03-02", "--json"]
        assert cli.main(args) == 0
        capsys.readouterr()
        state = tmp_path / "keys.json.ic"
        doc = json.loads(state.read_text())
        doc["next_client_ic"] = 1  # restored from an old backup: behind the meter
        state.write_text(json.dumps(doc))
        assert cli.main(args) == 0, capsys.readouterr().err
        ev = emu.wait_event(lambda e: e.get("ev") == "p3_refused", 10)
        assert ev is not None and ev["diagnostic"] == 13 and ev["why"] == -2 and ev["client"] == 1
        text = refusal_text(ev)
        assert "authentication failure" in text and "0.0.43.1.1.255" in text
    finally:
        assert emu.stop() == 0
