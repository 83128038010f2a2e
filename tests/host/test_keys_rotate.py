"""`meterkast keys rotate`: the host drives global_key_transfer on a running meter and updates its
keys file, over HDLC and over the TCP wrapper. Afterwards `meterkast read` works with the file and
not with the old keys, also after the meter's plug is pulled; a rotation cut short after the
meter took the keys (the host died before renaming the file) is finished by the next run."""
import json

import pytest
from meterkast import cli
from meterkast.emu.emulator import Emulator
from meterkast.keys import rotate as rotate_mod
from meterkast.keys.file import new_keys, write_keys

START = "2024-03-11T22:05:00Z"


def meter(p3, keys, state, start=START):
    emu = Emulator(p1=None, p3=p3, keys=keys, start=start, speed=10, state=state,
                   report=False, modules="single")
    emu.start()
    assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
    return emu


def url_of(emu):
    spec = emu.describe("p3")
    return spec if spec.startswith("tcp-wrapper:") else emu.port("p3")


def read(url, keys, capsys):
    rc = cli.main(["read", url, "--keys", keys, "--json", "--timeout", "3"])
    out = capsys.readouterr()
    return rc, out


def management(path):
    with open(path) as f:
        return json.load(f)["management"]


@pytest.mark.parametrize("p3", ["pty", "tcp-wrapper:127.0.0.1:0"])
def test_rotate_then_read_with_the_new_keys_only(tmp_path, capsys, p3):
    keys = str(tmp_path / "keys.json")
    write_keys(keys, new_keys(serial=3))
    before = management(keys)
    assert len(bytes.fromhex(before["kek"])) == 16  # a new keys file carries a master key
    state = tmp_path / "state"
    emu = meter(p3, keys, state)
    try:
        url = url_of(emu)
        assert read(url, keys, capsys)[0] == 0
        assert cli.main(["keys", "rotate", url, "--keys", keys]) == 0
        out = capsys.readouterr().out
        assert "now uses new management keys" in out
        after = management(keys)
        assert (after["ek"], after["ak"]) != (before["ek"], before["ak"])
        assert after["kek"] == before["kek"] and management(keys + ".old") == before
        rc, res = read(url, keys, capsys)
        assert rc == 0, res.err
        assert json.loads(res.out)["clock"]
        rc, res = read(url, keys + ".old", capsys)
        assert rc != 0 and "rejected" in res.err.lower()
        emu.kill()
        emu.close()
    finally:
        emu.stop()
    emu = meter(p3, keys, state, start=None)  # the plug pulled and back
    try:
        rc, res = read(url_of(emu), keys, capsys)
        assert rc == 0, res.err
    finally:
        emu.stop()


def test_a_rotation_cut_short_is_finished_by_the_next_run(tmp_path, capsys, monkeypatch):
    keys = str(tmp_path / "keys.json")
    write_keys(keys, new_keys(serial=4))
    before = management(keys)
    emu = meter("pty", keys, tmp_path / "state")
    try:
        url = emu.port("p3")

        def host_dies(path, new_path):
            raise KeyboardInterrupt  # after the meter took the keys, before the rename

        monkeypatch.setattr(rotate_mod, "_finish", host_dies)
        assert cli.main(["keys", "rotate", url, "--keys", keys]) == 130  # interrupted
        monkeypatch.undo()
        assert management(keys) == before  # the file in force still holds the old keys...
        pending = management(keys + ".new")  # ...and the new ones are on disk
        assert read(url, keys, capsys)[0] != 0  # the meter already uses the new keys
        assert cli.main(["keys", "rotate", url, "--keys", keys]) == 0
        assert "already uses the keys" in capsys.readouterr().out
        assert management(keys) == pending
        rc, res = read(url, keys, capsys)
        assert rc == 0, res.err
    finally:
        emu.stop()


def test_a_keys_file_without_a_master_key_cannot_rotate(tmp_path, capsys):
    keys = str(tmp_path / "keys.json")
    doc = new_keys(serial=5)
    del doc["management"]["kek"]
    write_keys(keys, doc)
    emu = meter("pty", keys, tmp_path / "state")
    try:
        assert cli.main(["keys", "rotate", emu.port("p3"), "--keys", keys]) == 2
        err = capsys.readouterr().err
        assert "no master key" in err and len(err.strip().splitlines()) == 1
    finally:
        emu.stop()
