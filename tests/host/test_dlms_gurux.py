"""The gurux-dlms client (an independent, lenient head-end stack) reads the firmware's P3 server:
HLS-GMAC with SC 0x30, clock, every register with its scaler_unit, the profile by range and by
entry (GET-with-datablock and HDLC segmentation), over a pty and over TCP."""

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from dlms_support import (
    GuruxSession,
    P3Harness,
    expected_rows,
    gurux_management,
    gurux_public,
    local_amsterdam,
)
from gurux_dlms.enums import Conformance
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSProfileGeneric, GXDLMSRegister

START = "2024-03-11T23:00:00Z"  # profile: 192 rows, the newest at 00:00 local on 12 March
ROWS = 192
DAY_FIRST = 95  # index of 2024-03-11 00:00 CET (23:00 UTC on the 10th)
REGISTERS = {
    "1.0.1.8.1.255": 30,
    "1.0.1.8.2.255": 30,
    "1.0.2.8.1.255": 30,
    "1.0.2.8.2.255": 30,
    "1.0.1.7.0.255": 27,
    "1.0.2.7.0.255": 27,
}
_ic = itertools.count(1, 1000)  # each session starts above every counter used before


@pytest.fixture(scope="module", params=["pty", "tcp"])
def meter(request, tmp_path_factory):
    h = P3Harness(tmp_path_factory.mktemp("gurux"), rows=ROWS, start=START, endpoint=request.param)
    with h:
        yield h


@pytest.fixture(scope="module")
def rows():
    return expected_rows(START, ROWS)


def utc(gx_datetime):
    return gx_datetime.value.astimezone(timezone.utc)


def check_rows(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert utc(g[0]) == datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=w["t"])
        assert [g[1], g[2], g[3], g[4], g[5]] == [
            w["status"],
            w["import_t1_wh"],
            w["import_t2_wh"],
            w["export_t1_wh"],
            w["export_t2_wh"],
        ]


def management(meter, **kw):
    s = GuruxSession(meter.url, gurux_management(next(_ic), **kw))
    s.open()
    return s


def test_clock_and_registers(meter):
    s = management(meter)
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        s.read(clock, 2)
        # 23:00 UTC on 11 March is 00:00 CET on the 12th: deviation -60, no DST bit
        t = clock.time.value
        assert t.utcoffset() == timedelta(hours=1)
        assert abs(
            t.astimezone(timezone.utc) - datetime(2024, 3, 11, 23, 0, tzinfo=timezone.utc)
        ) < timedelta(seconds=30)
        assert s.read(clock, 3) == -60
        for ln, unit in REGISTERS.items():
            reg = GXDLMSRegister(ln)
            s.read(reg, 3)
            assert (reg.scaler, int(reg.unit)) == (1.0, unit)  # gurux keeps 10**scaler
            value = s.read(reg, 2)
            assert isinstance(value, int) and value >= 0
        equipment = GXDLMSData("0.0.96.1.0.255")
        assert bytes(s.read(equipment, 2)) == b"MKS0000000000001"
    finally:
        s.release()
        s.close()


def test_profile_day_by_range(meter, rows):
    s = management(meter)
    try:
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        assert len(pg.captureObjects) == 6
        assert s.read(pg, 4) == 900
        assert s.read(pg, 7) == ROWS
        start = local_amsterdam(datetime(2024, 3, 10, 23, 0, tzinfo=timezone.utc))  # 00:00 CET
        end = start + timedelta(minutes=23 * 60 + 45)
        reply = s.request(s.client.readRowsByRange(pg, start, end))
        s.client.updateValue(pg, 2, reply.value)
        check_rows(pg.buffer, rows[DAY_FIRST : DAY_FIRST + 96])
    finally:
        s.release()
        s.close()


def test_profile_by_entry(meter, rows):
    s = management(meter)
    try:
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        reply = s.request(s.client.readRowsByEntry(pg, DAY_FIRST + 1, 96))
        s.client.updateValue(pg, 2, reply.value)
        check_rows(pg.buffer, rows[DAY_FIRST : DAY_FIRST + 96])
        reply = s.request(s.client.readRowsByEntry(pg, 190, 0))  # 0: up to the last entry
        s.client.updateValue(pg, 2, reply.value)
        check_rows(pg.buffer, rows[189:])
    finally:
        s.release()
        s.close()


def test_service_specific_ciphering(meter):
    """Without general-protection gurux ciphers with glo-get-request (0xC8): answered 0xCC."""
    c = gurux_management(next(_ic))
    c.proposedConformance &= ~Conformance.GENERAL_PROTECTION
    s = GuruxSession(meter.url, c)
    s.open()
    try:
        assert not c.negotiatedConformance & Conformance.GENERAL_PROTECTION
        clock = GXDLMSClock("0.0.1.0.0.255")
        s.read(clock, 2)
        reg = GXDLMSRegister("1.0.1.8.1.255")
        assert s.read(reg, 2) > 0
    finally:
        s.release()
        s.close()


def test_public_client_reads_clock_only(meter):
    s = GuruxSession(meter.url, gurux_public())
    s.open()
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        s.read(clock, 2)
        ldn = GXDLMSData("0.0.42.0.0.255")
        assert bytes(s.read(ldn, 2)) == b"MKS-NG0000000001"
    finally:
        s.release()
        s.close()


def test_small_frames_and_pdu(meter, rows):
    """Small HDLC information fields (the AARQ goes up in segments, each one acknowledged with
    RR; answers come down in 32-byte segments) and a 256-byte max PDU (the day comes in many
    GET blocks). 64 bytes up, not 32: gurux's receiverReady() returns only the first frame of a
    GET-next that needs two, and then skips an N(S)."""
    c = gurux_management(next(_ic))
    c.hdlcSettings.maxInfoTX = 64
    c.hdlcSettings.maxInfoRX = 32
    c.setMaxReceivePDUSize(256)
    s = GuruxSession(meter.url, c)
    s.open()
    try:
        assert (c.hdlcSettings.maxInfoTX, c.hdlcSettings.maxInfoRX) == (64, 32)
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        s.read(pg, 3)
        reply = s.request(s.client.readRowsByEntry(pg, DAY_FIRST + 1, 96))
        s.client.updateValue(pg, 2, reply.value)
        check_rows(pg.buffer, rows[DAY_FIRST : DAY_FIRST + 96])
    finally:
        s.release()
        s.close()
