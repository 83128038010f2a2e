"""The whole emulated meter (`meterkast run --p3 ...`): metrology writes the quarter-hour profile
to flash, the P3 port serves it; `meterkast read` and gurux read it ciphered, over a pty and over
TCP, and what they read equals what `meterkast dump` finds on the flash afterwards."""

import itertools
import json
import socket
import time
from datetime import timezone

import pytest
from dlms_support import GuruxSession, gurux_management, write_keys
from gurux_dlms.objects import GXDLMSProfileGeneric, GXDLMSRegister
from meterkast import cli
from meterkast.emu.emulator import Emulator
from meterkast.image.flashimage import dump

START = "2024-03-11T22:00:00Z"
SPEED = 3600  # an hour per second: a few quarter hours are on flash within seconds
_ic = itertools.count(1, 1000)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_json(url, keys, capsys):
    rc = cli.main(
        [
            "read",
            url,
            "--keys",
            keys,
            "--from",
            "2024-03-11T22:00:00Z",
            "--to",
            "2024-03-14T00:00:00Z",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


@pytest.mark.parametrize("spec,modules", [("pty", "single"), ("tcp", "single"), ("pty", "two"),
                                          ("tcp", "two")])
def test_meter_serves_its_flash_profile(tmp_path, capsys, spec, modules):
    """Two modules: P3 serves the comms module's checked copy, and it equals, entry for entry,
    what the metering module keeps on its own flash (metering.img)."""
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    p3 = "pty" if spec == "pty" else "tcp:127.0.0.1:%d" % free_port()
    emu = Emulator(p1=None, p3=p3, keys=keys, start=START, speed=SPEED, state=state, report=False,
                   modules=modules)
    emu.start()
    try:
        url = emu.port("p3")
        deadline = time.monotonic() + 30
        doc = read_json(url, keys, capsys)
        while len(doc["profile"]) < 6 and time.monotonic() < deadline:
            time.sleep(0.5)
            doc = read_json(url, keys, capsys)
        assert len(doc["profile"]) >= 6, doc
        assert doc["registers"]["import_t1_wh"] >= doc["profile"][0]["import_t1_wh"]
        # an independent client on the same port, right after
        s = GuruxSession(url, gurux_management(next(_ic) + 10**6))
        s.open()
        try:
            reg = GXDLMSRegister("1.0.1.8.1.255")
            s.read(reg, 3)
            assert s.read(reg, 2) >= doc["registers"]["import_t1_wh"]
            pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
            s.read(pg, 3)
            reply = s.request(s.client.readRowsByEntry(pg, 1, 4))
            s.client.updateValue(pg, 2, reply.value)
            first = [
                (r[0].value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), r[2])
                for r in pg.buffer
            ]
        finally:
            s.release()
            s.close()
    finally:
        emu.stop()
    stored = {e["time"]: e for e in dump(str(state))["profile"] if not e.get("damaged")}
    assert (state / ("flash.img" if modules == "single" else "metering.img")).is_file()
    for row in doc["profile"]:
        e = stored[row["time"]]
        assert row == {k: e[k] for k in row}
    for t, import_t1 in first:
        assert stored[t]["import_t1_wh"] == import_t1
