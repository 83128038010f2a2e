"""dlms-cosem 21.3.2 (the strict oracle) on the services a head-end uses besides plain GET, over
HDLC on a pty and over the IEC 62056-47 wrapper (its TCP transport): GET-with-list (get_many)
and SET of the clock by the management client, read back."""

import itertools
import logging
from datetime import datetime, timedelta, timezone

import pytest
from cosem_support import cosem_management
from dlms_cosem import cosem, enumerations, utils
from dlms_cosem import time as dlms_time
from dlms_cosem.cosem import Obis
from dlms_cosem.cosem.attribute_with_selection import CosemAttributeWithSelection
from dlms_cosem.protocol import xdlms
from dlms_support import P3Harness

START = "2024-03-11T23:00:00Z"
_ic = itertools.count(1, 1000)
CLOCK = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, Obis(0, 0, 1, 0, 0), 2)
TIME_ZONE = cosem.CosemAttribute(enumerations.CosemInterface.CLOCK, Obis(0, 0, 1, 0, 0), 3)
I181 = cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, Obis(1, 0, 1, 8, 1), 2)
I181_UNIT = cosem.CosemAttribute(enumerations.CosemInterface.REGISTER, Obis(1, 0, 1, 8, 1), 3)
SERIAL = cosem.CosemAttribute(enumerations.CosemInterface.DATA, Obis(0, 0, 96, 1, 0), 2)
NOTHING = cosem.CosemAttribute(enumerations.CosemInterface.DATA, Obis(0, 0, 96, 1, 9), 2)


@pytest.fixture(scope="module", params=["hdlc", "wrapper"])
def meter(request, tmp_path_factory):
    logging.getLogger("dlms_cosem").setLevel(logging.ERROR)  # it logs every plaintext APDU
    wrapper = request.param == "wrapper"
    h = P3Harness(tmp_path_factory.mktemp("cosem_services"), rows=8, start=START,
                  endpoint="tcp" if wrapper else "pty")
    h.args += ["--settable", "1"] + (["--framing", "wrapper"] if wrapper else [])
    h.wrapper = wrapper
    with h:
        yield h


def client(meter):
    return cosem_management(meter.url, next(_ic), meter.endpoint.address if meter.wrapper else None)


def test_get_with_list(meter):
    with client(meter).session() as c:
        response = c.get_many([CosemAttributeWithSelection(a, None)
                               for a in (CLOCK, TIME_ZONE, I181, I181_UNIT, SERIAL, NOTHING)])
        assert isinstance(response, xdlms.GetResponseWithList)
        got = response.result
        t, _ = dlms_time.datetime_from_bytes(got[0])
        assert abs(t - datetime(2024, 3, 11, 23, tzinfo=timezone.utc)) < timedelta(minutes=5)
        assert got[1] == -60
        assert got[2] == utils.parse_as_dlms_data(c.get(I181))
        assert got[3] == [0, 30]
        assert bytes(got[4]) == b"MKS0000000000001"
        assert got[5] == enumerations.DataAccessResult.OBJECT_UNDEFINED


def test_set_clock_and_read_back(meter):
    target = datetime(2024, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=2)))  # CEST
    with client(meter).session() as c:
        was, _ = dlms_time.datetime_from_bytes(utils.parse_as_dlms_data(c.get(CLOCK)))
        value = b"\x09\x0c" + dlms_time.datetime_to_bytes(target)
        response = c.set(CLOCK, value)
        assert isinstance(response, xdlms.SetResponseNormal)
        assert response.result == enumerations.DataAccessResult.SUCCESS
        t, status = dlms_time.datetime_from_bytes(utils.parse_as_dlms_data(c.get(CLOCK)))
        assert abs(t - target) < timedelta(seconds=5) and status.daylight_saving_active
        response = c.set(TIME_ZONE, b"\x10\x00\x3c")  # UTC-1: not the meter's zone
        assert response.result == enumerations.DataAccessResult.OTHER_REASON
        response = c.set(I181, b"\x06\x00\x00\x00\x00")  # a register is read only
        assert response.result == enumerations.DataAccessResult.READ_WRITE_DENIED
        response = c.set(CLOCK, b"\x09\x0c" + dlms_time.datetime_to_bytes(was))  # and back
        assert response.result == enumerations.DataAccessResult.SUCCESS
