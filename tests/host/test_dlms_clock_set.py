"""SET of the clock on the whole emulated meter (`meterkast run --p3 ...`), as a head-end
synchronises time: gurux-dlms (management client) moves the RTC forward across a quarter-hour
boundary, over HDLC and over the IEC 62056-47 TCP wrapper. The IDIS effects are those of the
emulator's own `clock` command, because the SET takes the same path (meter.Meter.set_clock):
the boundary jumped over is captured once, flagged clock-adjusted, the meter's report logs the
change, and the profile equals, entry for entry in time and status, that of a twin meter whose
clock was moved by the `clock` command. The public client is refused; a comms module on its own
board (two modules) has no way to the RTC and says so in its object list."""

import itertools
import time
from datetime import datetime, timedelta, timezone

import pytest
from dlms_support import (
    GuruxError,
    booted,
    emulator_session,
    local_amsterdam,
    write_keys,
)
from gurux_dlms import GXDateTime
from gurux_dlms.enums import AccessMode
from gurux_dlms.objects import GXDLMSClock, GXDLMSProfileGeneric
from meterkast.emu.emulator import Emulator
from meterkast.image.flashimage import dump

START = "2024-03-11T22:05:00Z"
SPEED = 10
TARGET = datetime(2024, 3, 11, 22, 29, 30, tzinfo=timezone.utc)  # past 22:15, before 22:30
CLOCK_ADJUSTED = 0x20
_ic = itertools.count(1, 1000)


def session(emu, wrapper, management=True):
    assert wrapper == (emu.p3_framing == "wrapper")
    return emulator_session(emu, next(_ic) + 10**6, management)


def utc(gx):
    return gx.value.astimezone(timezone.utc)


def profile_rows(emu, wrapper, want):
    """(time, status) of every profile entry, once the meter holds `want` of them."""
    deadline = time.monotonic() + 30
    while True:
        s = session(emu, wrapper)
        try:
            pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
            s.read(pg, 3)
            if s.read(pg, 7) >= want or time.monotonic() > deadline:
                reply = s.request(s.client.readRowsByEntry(pg, 1, 0))
                s.client.updateValue(pg, 2, reply.value)
                return [(utc(r[0]), r[1]) for r in pg.buffer]
        finally:
            s.release()
            s.close()
        time.sleep(0.5)


def run_meter(tmp_path, p3, how):
    """A meter started at 22:05; its clock moved to TARGET by `how` ("p3" or "command");
    returns its profile as read over P3 and as dumped from its flash, and its events."""
    tmp_path.mkdir()
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    wrapper = p3.startswith("tcp-wrapper")
    emu = Emulator(p1=None, p3=p3, keys=keys, start=START, speed=SPEED, state=state,
                   report=False, modules="single")
    emu.start()
    try:
        booted(emu)
        if how == "p3":
            s = session(emu, wrapper)
            try:
                clock = GXDLMSClock("0.0.1.0.0.255")
                deadline = time.monotonic() + 10
                s.read(clock, 2)
                while utc(clock.time).year < 2024 and time.monotonic() < deadline:
                    time.sleep(0.2)  # no reading from metrology yet
                    s.read(clock, 2)
                assert START <= utc(clock.time).strftime("%Y-%m-%dT%H:%M:%SZ") < "2024-03-11T22:15"
                clock.time = GXDateTime(local_amsterdam(TARGET))
                assert s.request(s.client.write(clock, 2)).error == 0
                # read back: the comms module shows the new time with the next reading
                deadline = time.monotonic() + 10
                while True:
                    s.read(clock, 2)
                    if utc(clock.time) >= TARGET or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert TARGET <= utc(clock.time) < TARGET + timedelta(seconds=30)
            finally:
                s.release()
                s.close()
            p = session(emu, wrapper, management=False)
            try:
                clock = GXDLMSClock("0.0.1.0.0.255")
                p.read(clock, 2)
                clock.time = GXDateTime(local_amsterdam(TARGET + timedelta(hours=1)))
                with pytest.raises(GuruxError, match="DLMS error 3"):
                    p.request(p.client.write(clock, 2))
            finally:
                p.release()
                p.close()
        else:
            # as the P3 path does: the meter runs (a reading reached comms) before the clock moves
            s = session(emu, wrapper)
            try:
                clock = GXDLMSClock("0.0.1.0.0.255")
                deadline = time.monotonic() + 10
                s.read(clock, 2)
                while utc(clock.time).year < 2024 and time.monotonic() < deadline:
                    time.sleep(0.2)
                    s.read(clock, 2)
            finally:
                s.release()
                s.close()
            emu.command("clock %s" % TARGET.strftime("%Y-%m-%dT%H:%M:%SZ"))
            assert emu.wait_event(lambda e: e.get("ev") == "clock", 30), "the clock command ran"
        rows = profile_rows(emu, wrapper, 2)
    finally:
        emu.stop()
    flash = [(datetime.fromisoformat(e["time"].replace("Z", "+00:00")), e["status"])
             for e in dump(str(state))["profile"] if not e.get("damaged")]
    return rows, flash, list(emu.events)


@pytest.mark.parametrize("p3", ["pty", "tcp-wrapper:127.0.0.1:0"])
def test_head_end_sets_the_clock_as_the_clock_command_does(tmp_path, p3):
    rows, flash, events = run_meter(tmp_path / "p3", p3, "p3")
    quarter = datetime(2024, 3, 11, 22, 15, tzinfo=timezone.utc)
    # the boundary jumped over (22:15) is captured once, flagged clock-adjusted; the next
    # (22:30, reached by running) is not
    assert rows[:2] == [(quarter, CLOCK_ADJUSTED), (quarter + timedelta(minutes=15), 0)], rows
    assert rows == flash[: len(rows)]
    clock_logs = [e["msg"] for e in events if e.get("ev") == "clock"]
    assert clock_logs == ["set to 2024-03-11T22:29:30Z by the P3 management client"], clock_logs
    sets = [e for e in events if e.get("ev") == "p3_clock_set"]
    assert len(sets) == 1 and sets[0]["to"] == "2024-03-11T22:29:30Z" and sets[0]["ok"] is True
    assert sets[0]["from"] < "2024-03-11T22:15:00Z"
    # the twin: the same jump by the emulator's clock command
    twin, twin_flash, twin_events = run_meter(tmp_path / "twin", "pty", "command")
    assert twin[:2] == rows[:2] and twin_flash[:2] == flash[:2]
    assert [e["msg"] for e in twin_events if e.get("ev") == "clock"] == [
        "adjusted by 2024-03-11T22:29:30Z"]


def test_a_comms_board_alone_cannot_set_the_clock(tmp_path):
    """Two modules: the comms board has no way to the metering board's RTC (the link is one
    way), so the clock is read only in its object list and a SET is refused."""
    keys = write_keys(str(tmp_path / "keys.json"))
    emu = Emulator(p1=None, p3="pty", keys=keys, start=START, speed=SPEED, state=tmp_path / "s",
                   report=False, modules="two")
    emu.start()
    try:
        booted(emu)
        s = session(emu, False)
        try:
            objects = s.client.parseObjects(s.request(s.client.getObjectsRequest()).data, True)
            clock = next(o for o in objects if o.logicalName == "0.0.1.0.0.255")
            assert all(not int(clock.getAccess(i)) & int(AccessMode.WRITE) for i in range(1, 10))
            s.read(clock, 2)
            with pytest.raises(GuruxError, match="DLMS error 3"):
                s.request(s.client.write(clock, 2))
        finally:
            s.release()
            s.close()
    finally:
        emu.stop()
    assert not [e for e in emu.events if e.get("ev") in ("clock", "p3_clock_set")]
