"""The event logs of the whole emulated meter (`meterkast run --p3 ...`), read as a head-end reads
them with gurux-dlms (management client): the head-end sets the clock, the plug is pulled
(SIGKILL) and the meter stays off for twenty minutes, then comes back. The standard event log
(0-0:99.98.0.255) holds the clock set (4: old time, 5: new time) and the power failure (1: down,
2: up); the power-failure event log (1-0:99.97.0.255) holds the failure's end and duration, as the
metering module measured it. Both read whole, by range and by entry; the public client sees
neither."""

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
from gurux_dlms.objects import GXDLMSClock, GXDLMSProfileGeneric
from meterkast.emu.emulator import Emulator

START = "2024-03-11T22:05:00Z"
SPEED = 10
TARGET = datetime(2024, 3, 11, 23, 29, 30, tzinfo=timezone.utc)  # the clock set: 1 h 24 min ahead
OFF_S = 1200  # the power cut: twenty minutes (a long failure: 3 minutes or more)
STANDARD = "0.0.99.98.0.255"
POWER_FAILURES = "1.0.99.97.0.255"
_ic = itertools.count(1, 1000)


def session(emu, management=True):
    return emulator_session(emu, next(_ic) + 10**6, management)


def utc(gx):
    return gx.value.astimezone(timezone.utc)


def rows(s, ln, by=None):
    """(time, value) rows of an event log: whole, or by=("range", t1, t2) / ("entry", i, n)."""
    pg = GXDLMSProfileGeneric(ln)
    s.read(pg, 3)
    if by is None:
        s.read(pg, 2)
    else:
        request = (s.client.readRowsByRange(pg, local_amsterdam(by[1]), local_amsterdam(by[2]))
                   if by[0] == "range" else s.client.readRowsByEntry(pg, by[1], by[2]))
        s.client.updateValue(pg, 2, s.request(request).value)
    return [(utc(r[0]), r[1]) for r in pg.buffer]


@pytest.mark.parametrize("p3", ["pty", "tcp-wrapper:127.0.0.1:0"])
def test_clock_set_and_power_cut_in_the_event_logs(tmp_path, p3):
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    emu = Emulator(p1=None, p3=p3, keys=keys, start=START, speed=SPEED, state=state,
                   report=False, modules="single")
    emu.start()
    try:
        booted(emu)
        s = session(emu)
        try:
            clock = GXDLMSClock("0.0.1.0.0.255")
            deadline = time.monotonic() + 10
            s.read(clock, 2)
            while utc(clock.time).year < 2024 and time.monotonic() < deadline:
                time.sleep(0.2)  # no reading from metrology yet
                s.read(clock, 2)
            before = utc(clock.time)
            clock.time = GXDateTime(local_amsterdam(TARGET))
            assert s.request(s.client.write(clock, 2)).error == 0
            deadline = time.monotonic() + 15
            while True:  # the comms module logs the set once the reading shows it
                std = rows(s, STANDARD)
                if [v for _, v in std][-2:] == [4, 5] or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
        finally:
            s.release()
            s.close()
        assert [v for _, v in std] == [4, 5], std
        (old, _), (new, _) = std
        assert before - timedelta(seconds=2) <= old < TARGET - timedelta(hours=1), (before, old)
        # logged at the reading that shows the set: a moment later, by the speed on a slow machine
        assert TARGET <= new < TARGET + timedelta(seconds=30)
        # the plug is pulled a little later
        time.sleep(3)
        emu.kill()
        emu.close()
    finally:
        emu.stop()
    # off for OFF_S: the RTC anchor (wall time, RTC time, speed) moved that far into the past;
    # the battery-backed RTC runs in real time while the meter is off
    rtc = state / "rtc"
    wall, t, *rest = rtc.read_text().split()
    rtc.write_text(" ".join(["%.3f" % (float(wall) - OFF_S), t] + rest) + "\n")
    emu = Emulator(p1=None, p3=p3, keys=keys, speed=SPEED, state=state, report=False,
                   modules="single")
    emu.start()
    try:
        booted(emu)
        s = session(emu)
        try:
            deadline = time.monotonic() + 20
            while True:
                pf = rows(s, POWER_FAILURES)
                std = rows(s, STANDARD)
                if (pf and [v for _, v in std][-2:] == [1, 2]) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert len(pf) == 1, pf
            (end, duration), = pf
            assert OFF_S <= duration <= OFF_S + 120, duration  # + what was not yet persisted
            assert [v for _, v in std] == [4, 5, 1, 2], std
            (down, _), (up, _) = std[2:]
            assert up == end and down == end - timedelta(seconds=duration)
            # the cut came after the clock set (down: the last time the meter saved its state)
            assert new - timedelta(seconds=5) <= down
            # by range: the window around the cut holds the failure, not the clock set
            around = rows(s, STANDARD, ("range", down, up))  # inclusive bounds
            assert [v for _, v in around] == [1, 2], around
            assert rows(s, POWER_FAILURES, ("range", end, end + timedelta(minutes=1))) == pf
            assert rows(s, POWER_FAILURES, ("range", end + timedelta(seconds=1),
                                            end + timedelta(minutes=1))) == []
            # by entry: the second and third entries
            assert rows(s, STANDARD, ("entry", 2, 2)) == std[1:3]
            ev = s.read(GXDLMSClock("0.0.1.0.0.255"), 2)  # the meter runs on after the cut
            assert utc(ev) >= up
        finally:
            s.release()
            s.close()
        p = session(emu, management=False)
        try:
            objects = p.client.parseObjects(p.request(p.client.getObjectsRequest()).data, True)
            assert not {o.logicalName for o in objects} & {STANDARD, POWER_FAILURES}
            with pytest.raises(GuruxError, match="DLMS error 3"):
                p.read(GXDLMSProfileGeneric(STANDARD), 2)
        finally:
            p.release()
            p.close()
    finally:
        emu.stop()
