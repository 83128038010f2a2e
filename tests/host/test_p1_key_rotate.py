"""`meterkast keys rotate --port p1`: the head-end gives a running meter new P1 keys over P3
(global_key_transfer on the P1 security setup 0.0.43.0.1.255, wrapped with the management master
key) and the keys file's "p1" section gets them. The console's decoder (FrameDecoder with the
keys file) then verifies the P1 telegrams under the new keys and not under the old ones; the
frame counter rises strictly across the switch and across a SIGKILL restart (no IV twice)."""
import json
import time

import serial
from meterkast import cli
from meterkast.emu.emulator import Emulator
from meterkast.keys.file import Keys, new_keys, write_keys
from meterkast.wire.frames import FrameDecoder

START = "2024-03-11T22:05:00Z"


def meter(keys, state, start=START):
    emu = Emulator(p1="pty", p3="pty", keys=keys, start=start, speed=10, state=state,
                   report=False, modules="single")
    emu.start()
    assert emu.wait_event(lambda e: e.get("ev") == "boot" and e.get("module") != "metering", 30)
    return emu


def p1_bytes(emu, seconds, frames=4, limit=30.0):
    """What P1 sends in `seconds`, read on (up to `limit`) until it holds `frames` whole
    encrypted frames: a meter that has just booted, on a slow machine, needs longer."""
    port = serial.serial_for_url(emu.port("p1"), baudrate=115200, timeout=0.05)
    data = bytearray()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < limit and (
                time.monotonic() - t0 < seconds or len(encrypted(data)) < frames):
            data += port.read(4096)
    finally:
        port.close()
    return bytes(data)


def verified(keys_path, data):
    """The frame counters of the telegrams that verify under the keys of keys_path."""
    frames = FrameDecoder(Keys.load(keys_path)).feed(data)
    return [f.frame_counter for f in frames if f.ok and f.tag_ok and f.telegram is not None]


def encrypted(data):
    """Every whole encrypted frame's counter, verified or not (DB 08 <title> 82 <len> 30 <fc>;
    a frame cut off by the end of the read is left out)."""
    out, i = [], 0
    while (i := data.find(b"\xdb\x08", i)) >= 0 and i + 18 <= len(data):
        if data[i + 10] == 0x82 and data[i + 13] == 0x30:
            end = i + 13 + int.from_bytes(data[i + 11:i + 13], "big")
            if end <= len(data):
                out.append(int.from_bytes(data[i + 14:i + 18], "big"))
            i = end
        else:
            i += 1
    return out


def test_rotate_p1_keys_then_the_console_verifies_only_the_new(tmp_path, capsys):
    keys = str(tmp_path / "keys.json")
    write_keys(keys, new_keys(serial=5))
    with open(keys) as f:
        before = json.load(f)
    state = tmp_path / "state"
    emu = meter(keys, state)
    try:
        old_data = p1_bytes(emu, 2)
        old_fc = verified(keys, old_data)
        assert len(old_fc) >= 3 and old_fc == sorted(set(old_fc))
        assert cli.main(["keys", "rotate", emu.port("p3"), "--keys", keys, "--port", "p1",
                         "--p1-url", emu.port("p1")]) == 0
        out = capsys.readouterr().out
        assert "now uses new P1 keys" in out and "verified under the new keys" in out
        with open(keys) as f:
            after = json.load(f)
        assert (after["p1"]["ek"], after["p1"]["ak"]) != (before["p1"]["ek"], before["p1"]["ak"])
        assert after["management"] == before["management"], "only the P1 keys change"
        with open(keys + ".old") as f:
            assert json.load(f) == before
        new_data = p1_bytes(emu, 2)
        new_fc = verified(keys, new_data)
        assert len(new_fc) >= 3 and new_fc == sorted(set(new_fc))
        assert verified(keys + ".old", new_data) == [], "the old P1 keys verify nothing any more"
        assert new_fc == encrypted(new_data), "every frame read verifies under the new keys"
        assert new_fc[0] > old_fc[-1], "the frame counter goes on across the switch"
        rc = cli.main(["read", emu.port("p3"), "--keys", keys, "--json", "--timeout", "3"])
        assert rc == 0, capsys.readouterr().err  # the management keys are the same as before
        capsys.readouterr()
        emu.kill()  # SIGKILL: the plug pulled
        emu.close()
    finally:
        emu.stop()
    emu = meter(keys, state, start=None)
    try:
        data = p1_bytes(emu, 2)
    finally:
        emu.stop()
    fc = verified(keys, data)
    assert len(fc) >= 3 and fc == sorted(set(fc)) and fc == encrypted(data)
    assert verified(keys + ".old", data) == []
    assert fc[0] > new_fc[-1], "after the restart the frame counter still goes on"


def test_p1_rotation_without_p1_url_and_one_cut_short(tmp_path, capsys):
    keys = str(tmp_path / "keys.json")
    write_keys(keys, new_keys(serial=6))
    emu = meter(keys, tmp_path / "state")
    try:
        assert cli.main(["keys", "rotate", emu.port("p3"), "--keys", keys, "--port", "p1"]) == 0
        assert "the meter answered success" in capsys.readouterr().out
        data = p1_bytes(emu, 2)
        fc = verified(keys, data)
        assert len(fc) >= 3 and fc == encrypted(data)
        # the host died after writing keys.json.new, before the meter was told: the management
        # rotation does not adopt it, the P1 rotation sends its keys and finishes
        with open(keys) as f:
            doc = json.load(f)
        doc["p1"] = new_keys(serial=6)["p1"]
        write_keys(keys + ".new", doc, force=True)
        assert cli.main(["keys", "rotate", emu.port("p3"), "--keys", keys]) != 0
        assert "unfinished P1 rotation" in capsys.readouterr().err
        assert cli.main(["keys", "rotate", emu.port("p3"), "--keys", keys, "--port", "p1",
                         "--p1-url", emu.port("p1")]) == 0
        capsys.readouterr()
        with open(keys) as f:
            assert json.load(f) == doc
        data = p1_bytes(emu, 2)
        later = verified(keys, data)
        assert len(later) >= 3 and later == encrypted(data) and later[0] > fc[-1]
    finally:
        emu.stop()
