"""dlms-cosem 21.3.2 (the strict, MIT-licensed oracle) reads the firmware's P3 server over a pty:
HLS-GMAC, general-glo-ciphering only, HCS/FCS and BER checked, server invocation counter
required to rise; clock, registers with scaler_unit and a full day of the profile by range."""

import itertools
import logging
from datetime import datetime, timedelta, timezone

import pytest
from cosem_support import cosem_management
from dlms_cosem import cosem, enumerations, utils
from dlms_cosem import time as dlms_time
from dlms_cosem.cosem import Obis
from dlms_cosem.cosem.capture_object import CaptureObject
from dlms_cosem.cosem.selective_access import RangeDescriptor
from dlms_support import P3Harness, expected_rows

START = "2024-10-27T23:00:00Z"  # 192 rows ending 00:00 CET on 28 October
ROWS = 192
_ic = itertools.count(1, 1000)
CLOCK = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, Obis(0, 0, 1, 0, 0), 2)
BUFFER = cosem.CosemAttribute(enumerations.CosemInterface.PROFILE_GENERIC, Obis(1, 0, 99, 1, 0), 2)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    logging.getLogger("dlms_cosem").setLevel(logging.ERROR)  # it logs every plaintext APDU
    h = P3Harness(tmp_path_factory.mktemp("cosem"), rows=ROWS, start=START)
    with h:
        yield h


def client(meter):
    return cosem_management(meter.url, next(_ic))


def register(obis, attr):
    return cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, Obis(*obis), attr)


def test_clock_and_registers(meter):
    with client(meter).session() as c:
        t, status = dlms_time.datetime_from_bytes(utils.parse_as_dlms_data(c.get(CLOCK)))
        assert t.utcoffset() == timedelta(hours=1)  # deviation -60: CET, read as UTC+1
        assert not status.daylight_saving_active
        assert abs(t - datetime(2024, 10, 27, 23, 0, tzinfo=timezone.utc)) < timedelta(seconds=30)
        for obis, unit in (
            ((1, 0, 1, 8, 1), 30),
            ((1, 0, 1, 8, 2), 30),
            ((1, 0, 2, 8, 1), 30),
            ((1, 0, 2, 8, 2), 30),
            ((1, 0, 1, 7, 0), 27),
            ((1, 0, 2, 7, 0), 27),
        ):
            assert utils.parse_as_dlms_data(c.get(register(obis, 3))) == [0, unit]
            assert utils.parse_as_dlms_data(c.get(register(obis, 2))) >= 0


def test_profile_dst_end_day_by_range(meter):
    """27 October 2024 has 25 hours in Amsterdam: 100 quarter-hour rows, the 02:xx wall-clock
    times twice (once CEST, once CET)."""
    want = expected_rows(START, ROWS)[91:191]
    start = datetime(2024, 10, 27, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    end = datetime(2024, 10, 27, 23, 45, tzinfo=timezone(timedelta(hours=1)))
    with client(meter).session() as c:
        raw = c.get(BUFFER, access_descriptor=RangeDescriptor(CaptureObject(CLOCK), start, end))
    got = utils.parse_as_dlms_data(raw)
    assert len(got) == len(want) == 100
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    for g, w in zip(got, want):
        t, status = dlms_time.datetime_from_bytes(g[0])
        assert t == epoch + timedelta(seconds=w["t"])
        assert status.daylight_saving_active == (t.utcoffset() == timedelta(hours=2))
        assert g[1:] == [
            w["status"],
            w["import_t1_wh"],
            w["import_t2_wh"],
            w["export_t1_wh"],
            w["export_t2_wh"],
        ]


def test_profile_by_utc_range(meter):
    """A range sent in UTC (deviation 0) is a pair of instants, across the end of summer time:
    00:00..01:45 UTC on 27 October 2024 is 02:00 CEST..02:45 CET, 8 rows."""
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    start = datetime(2024, 10, 27, 0, 0, tzinfo=timezone.utc)
    end = datetime(2024, 10, 27, 1, 45, tzinfo=timezone.utc)
    lo, hi = ((x - epoch).total_seconds() for x in (start, end))
    want = [w for w in expected_rows(START, ROWS) if lo <= w["t"] <= hi]
    with client(meter).session() as c:
        raw = c.get(BUFFER, access_descriptor=RangeDescriptor(CaptureObject(CLOCK), start, end))
    got = utils.parse_as_dlms_data(raw)
    assert len(got) == len(want) == 8
    for g, w in zip(got, want):
        t, _ = dlms_time.datetime_from_bytes(g[0])
        assert t == epoch + timedelta(seconds=w["t"])
        assert g[2] == w["import_t1_wh"]
