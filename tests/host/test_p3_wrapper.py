"""P3 over TCP with the IEC 62056-47 wrapper (`meterkast run --p3 tcp-wrapper:HOST:PORT`), as a
Dutch head-end reads a meter: gurux-dlms (InterfaceType.WRAPPER) reads clock, registers and the
profile; dlms-cosem 21.3.2 (its TCP transport is the wrapper) reads the profile by range;
`meterkast read tcp-wrapper:...` returns what `meterkast dump` finds on the flash and what the
same read over HDLC returns. The SPEC checks of `meterkast run`."""

import itertools
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import dlms_support
import pytest
from dlms_cosem import cosem, enumerations, utils
from dlms_cosem import time as dlms_time
from dlms_cosem.clients.dlms_client import DlmsClient
from dlms_cosem.cosem import Obis
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_support import AK, CLIENT_TITLE, EK, GuruxSession, local_amsterdam, write_keys
from gurux_dlms import GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister
from gurux_dlms.secure import GXDLMSSecureClient
from meterkast import cli
from meterkast.emu.emulator import Emulator
from meterkast.errors import CliError
from meterkast.image.flashimage import dump
from meterkast.line.endpoints import parse_spec

START = "2024-03-11T22:00:00Z"
SPEED = 3600  # an hour per second: a few quarter hours are on flash within seconds
RANGE = ("2024-03-11T22:00:00Z", "2024-03-14T00:00:00Z")
_ic = itertools.count(1, 1000)
CLOCK = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, Obis(0, 0, 1, 0, 0), 2)
BUFFER = cosem.CosemAttribute(enumerations.CosemInterface.PROFILE_GENERIC, Obis(1, 0, 99, 1, 0), 2)


def WrapperSession(url, client):
    return GuruxSession(url, client, wrapper=True)


def gurux_management():
    return dlms_support.gurux_management(next(_ic) + 10**6, interface=InterfaceType.WRAPPER)


def booted(emu):
    """The P3 port is open: requests sent earlier would be lost (the pty is set up at boot, and
    a wrapper client, unlike HDLC's, does not repeat a request)."""
    assert emu.wait_event(lambda e: e.get("ev") == "boot" and e.get("module") != "metering", 30)


def read_json(url, keys, capsys):
    rc = cli.main(["read", url, "--keys", keys, "--from", RANGE[0], "--to", RANGE[1], "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out), out.err


def read_until(url, keys, capsys, rows, timeout=30):
    deadline = time.monotonic() + timeout
    doc, err = read_json(url, keys, capsys)
    while len(doc["profile"]) < rows and time.monotonic() < deadline:
        time.sleep(0.5)
        doc, err = read_json(url, keys, capsys)
    assert len(doc["profile"]) >= rows, doc
    return doc, err


def utc_text(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("modules", ["single", "two"])
def test_head_end_reads_over_the_wrapper(tmp_path, capsys, modules):
    logging.getLogger("dlms_cosem").setLevel(logging.ERROR)  # it logs every plaintext APDU
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    emu = Emulator(p1=None, p3="tcp-wrapper:127.0.0.1:0", keys=keys, start=START, speed=SPEED,
                   state=state, report=False, modules=modules)
    emu.start()
    try:
        where = emu.describe("p3")
        assert where.startswith("tcp-wrapper:127.0.0.1:") and not where.endswith(":0"), where
        host, port = emu.endpoints["p3"].address
        url = "tcp-wrapper:%s:%d" % (host, port)
        booted(emu)
        doc, err = read_until(url, keys, capsys, 6)
        assert "bytes sent" in err
        assert doc["registers"]["import_t1_wh"] >= doc["profile"][0]["import_t1_wh"]

        # gurux-dlms as a head-end: clock, registers, the profile by entry and by range
        s = WrapperSession(emu.port("p3"), gurux_management())
        s.open()
        try:
            clock = GXDLMSClock("0.0.1.0.0.255")
            t = s.read(clock, 2).value
            assert t.astimezone(timezone.utc) >= datetime(2024, 3, 11, 23, tzinfo=timezone.utc)
            reg = GXDLMSRegister("1.0.1.8.1.255")
            s.read(reg, 3)
            assert reg.scaler == 1 and s.read(reg, 2) >= doc["registers"]["import_t1_wh"]
            pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
            s.read(pg, 3)
            reply = s.request(s.client.readRowsByEntry(pg, 1, 4))
            s.client.updateValue(pg, 2, reply.value)
            by_entry = [(utc_text(r[0].value), r[2]) for r in pg.buffer]
            assert len(by_entry) == 4
            # the range in the meter's local time (a range sent in UTC is item 7 of issue 14)
            first = local_amsterdam(
                datetime.fromisoformat(doc["profile"][0]["time"].replace("Z", "+00:00")))
            pg.buffer = []
            reply = s.request(s.client.readRowsByRange(pg, first, first + timedelta(hours=1)))
            s.client.updateValue(pg, 2, reply.value)
            by_range = {utc_text(r[0].value): r[2] for r in pg.buffer}
            assert len(by_range) >= 4 and set(by_range) >= set(t for t, _ in by_entry[1:])
        finally:
            s.release()
            s.close()

        # dlms-cosem: its TCP transport is the wrapper; the profile by range
        c = DlmsClient.with_tcp_transport(
            host=host, port=port, client_logical_address=1, server_logical_address=1,
            authentication_method=enumerations.AuthenticationMechanism.HLS_GMAC,
            encryption_key=EK, authentication_key=AK, client_system_title=CLIENT_TITLE,
            client_initial_invocation_counter=next(_ic) + 2 * 10**6, timeout=5)
        with c.session() as cs:
            raw = cs.get(BUFFER, access_descriptor=RangeDescriptor(
                CaptureObject(CLOCK), first, first + timedelta(hours=1)))
        cosem_rows = {}
        for row in utils.parse_as_dlms_data(raw):
            rt, _ = dlms_time.datetime_from_bytes(row[0])
            cosem_rows[utc_text(rt)] = row[2]
        assert cosem_rows == by_range

        # the public client over the same connection path: the counter object
        pub = WrapperSession(emu.port("p3"), GXDLMSSecureClient(
            True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER))
        pub.open()
        try:
            assert pub.read(GXDLMSData("0.0.43.1.1.255"), 2) > 0
        finally:
            pub.release()
            pub.close()
    finally:
        emu.stop()
    stored = {e["time"]: e for e in dump(str(state))["profile"] if not e.get("damaged")}
    for row in doc["profile"]:
        e = stored[row["time"]]
        assert row == {k: e[k] for k in row}
    for t, import_t1 in by_entry + sorted(by_range.items()):
        assert stored[t]["import_t1_wh"] == import_t1


def test_wrapper_and_hdlc_reads_agree(tmp_path, capsys):
    """The same meter (state) read over the wrapper, then restarted with P3 on HDLC over TCP:
    the rows both returned are the same, value for value."""
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    emu = Emulator(p1=None, p3="tcp-wrapper:127.0.0.1:0", keys=keys, start=START, speed=SPEED,
                   state=state, report=False)
    emu.start()
    try:
        host, port = emu.endpoints["p3"].address
        booted(emu)
        wrapped, _ = read_until("tcp-wrapper:%s:%d" % (host, port), keys, capsys, 4)
    finally:
        emu.stop()
    emu = Emulator(p1=None, p3="tcp:127.0.0.1:0", keys=keys, speed=1, state=state, report=False)
    emu.start()
    try:
        booted(emu)
        hdlc, _ = read_json(emu.port("p3"), keys, capsys)
    finally:
        emu.stop()
    by_time = {r["time"]: r for r in hdlc["profile"]}
    assert wrapped["profile"] and all(by_time[r["time"]] == r for r in wrapped["profile"])


def test_wrapper_firmware_runs_a_day_in_its_budget(tmp_path):
    """The single-board build with P3 on the wrapper instead of HDLC fits the same heap."""
    from meterkast.bench.board import BUDGET_SOURCE, whole_firmware_day

    ok, mem, err = whole_firmware_day(tmp_path / "run", BUDGET_SOURCE, timeout=240,
                                      p3="tcp-wrapper:127.0.0.1:0")
    assert ok, err
    assert mem["live"] > 100 * 1024, "the whole meter was alive at the end of the day"


def test_spec_checks():
    assert parse_spec("tcp-wrapper:127.0.0.1:4059", "p3") == ("tcp-wrapper", ("127.0.0.1", 4059))
    assert parse_spec("tcp-wrapper:::1:0", "p3") == ("tcp-wrapper", ("::1", 0))
    for bad in ("tcp-wrapper:", "tcp-wrapper:host", "tcp-wrapper:host:x", "tcp-wrapper::4059",
                "tcp-wrapper:h:70000"):
        with pytest.raises(CliError, match="tcp-wrapper:HOST:PORT"):
            parse_spec(bad, "p3")
    with pytest.raises(CliError, match="P3"):
        Emulator(p1="tcp-wrapper:127.0.0.1:0")


def test_read_rejects_a_bad_wrapper_url(tmp_path, capsys):
    keys = write_keys(str(tmp_path / "keys.json"))
    assert cli.main(["read", "tcp-wrapper:nohost", "--keys", keys]) != 0
    assert "tcp-wrapper:HOST:PORT" in capsys.readouterr().err


def test_silent_wrapper_read_times_out(tmp_path, capsys):
    """A listener that never answers: a clear error, not a hang."""
    import socket

    keys = write_keys(str(tmp_path / "keys.json"))
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        rc = cli.main(["read", "tcp-wrapper:127.0.0.1:%d" % port, "--keys", keys,
                       "--timeout", "0.5"])
    assert rc != 0
    assert "no answer from the meter" in capsys.readouterr().err


def test_gurux_reply_data_is_wrapped():
    """The gurux client used above really frames with the wrapper header (not HDLC)."""
    c = gurux_management()
    frame = c.aarqRequest()[0]
    assert frame[:2] == b"\x00\x01" and frame[2:4] == b"\x00\x01" and frame[4:6] == b"\x00\x01"
    assert int.from_bytes(frame[6:8], "big") == len(frame) - 8
    assert GXReplyData() is not None
