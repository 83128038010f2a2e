"""gurux-dlms as a browsing head-end (GXDLMSDirector, the Gurux example reader) on the firmware's
P3 server, over HDLC (a pty, and TCP as ser2net carries it) and over the IEC 62056-47 TCP
wrapper: it reads the association's object list (0.0.40.0.0.255 attribute 2, in GET blocks when
the PDU is small), parses it, then reads every attribute the list says it may read; the public
client sees only its own objects; GET-with-list (client.readList) in one answer and in blocks;
SET of the clock by the management client, read back, and refused to the public client."""

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from dlms_support import (
    AK,
    CLIENT_TITLE,
    EK,
    SYSTEM_TITLE,
    GuruxError,
    GuruxSession,
    P3Harness,
    local_amsterdam,
)
from gurux_dlms import GXDateTime
from gurux_dlms.enums import (
    AccessMode,
    Authentication,
    Conformance,
    InterfaceType,
    RequestTypes,
    Security,
)
from gurux_dlms.GXDLMSClient import GXDLMSClient
from gurux_dlms.objects import (
    GXDLMSAssociationLogicalName,
    GXDLMSClock,
    GXDLMSData,
    GXDLMSProfileGeneric,
    GXDLMSRegister,
    GXDLMSSecuritySetup,
)
from gurux_dlms.secure import GXDLMSSecureClient

START = "2024-03-11T23:00:00Z"
ROWS = 192
PUBLIC_OBJECTS = {"0.0.1.0.0.255", "0.0.42.0.0.255", "0.0.40.0.0.255", "0.0.43.1.0.255",
                  "0.0.43.1.1.255"}
_ic = itertools.count(1, 1000)


class CountingSession(GuruxSession):
    """GuruxSession that counts the GET-next requests it sends (HDLC's RR for the next segment
    of one APDU is not one)."""

    def __init__(self, url, client, wrapper=False):
        super().__init__(url, client, wrapper=wrapper)
        self.next_blocks = 0

    def _packet(self, data, reply):
        more = reply.moreData
        if more & RequestTypes.DATABLOCK and not more & RequestTypes.FRAME:
            self.next_blocks += 1
        super()._packet(data, reply)


@pytest.fixture(scope="module", params=["pty", "tcp", "wrapper"])
def meter(request, tmp_path_factory):
    endpoint = "pty" if request.param == "pty" else "tcp"
    h = P3Harness(tmp_path_factory.mktemp("browse"), rows=ROWS, start=START, endpoint=endpoint)
    h.args += ["--settable", "1"]
    if request.param == "wrapper":
        h.args += ["--framing", "wrapper"]
    h.wrapper = request.param == "wrapper"
    with h:
        yield h


def interface(meter):
    return InterfaceType.WRAPPER if meter.wrapper else InterfaceType.HDLC


def management(meter, pdu=None):
    c = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, interface(meter))
    c.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
    c.ciphering.systemTitle = CLIENT_TITLE
    c.ciphering.blockCipherKey = EK
    c.ciphering.authenticationKey = AK
    c.ciphering.invocationCounter = next(_ic)
    if pdu:
        c.setMaxReceivePDUSize(pdu)
    s = CountingSession(meter.url, c, meter.wrapper)
    s.open()
    return s


def public(meter, pdu=None):
    c = GXDLMSClient(True, 16, 1, Authentication.NONE, None, interface(meter))
    if pdu:
        c.setMaxReceivePDUSize(pdu)
    s = CountingSession(meter.url, c, meter.wrapper)
    s.open()
    return s


def object_list(s):
    """The association's object list as gurux parses it, and the GET-next requests it took."""
    before = s.next_blocks
    reply = s.request(s.client.getObjectsRequest())
    return s.client.parseObjects(reply.data, True), s.next_blocks - before


def browse(s, objects):
    """Read every attribute the list lets this client read, as a browsing tool does (the Gurux
    example reader first reads the profiles' capture objects: the buffer's columns); return
    {logical name: {attribute: value}} and the attributes it may not read."""
    values, denied = {}, []
    for obj in objects:
        if isinstance(obj, GXDLMSProfileGeneric) and int(obj.getAccess(3)) & int(AccessMode.READ):
            s.read(obj, 3)
    for obj in objects:
        got = values.setdefault(obj.logicalName, {})
        for index in range(1, obj.getAttributeCount() + 1):
            if int(obj.getAccess(index)) & int(AccessMode.READ):
                got[index] = s.read(obj, index)
            else:
                denied.append((obj.logicalName, index))
    return values, denied


def text(value):
    """An octet-string as gurux hands it over: bytes, or str once it knows the object."""
    return value if isinstance(value, str) else bytes(value).decode()


def test_management_browses_every_object(meter):
    s = management(meter)
    try:
        objects, next_blocks = object_list(s)
        assert next_blocks == 1  # 1126 bytes: two blocks at the negotiated 1024-byte PDU
        assert len(objects) == 19
        by_ln = {o.logicalName: o for o in objects}
        assert isinstance(by_ln["0.0.40.0.0.255"], GXDLMSAssociationLogicalName)
        assert isinstance(by_ln["1.0.99.1.0.255"], GXDLMSProfileGeneric)
        assert by_ln["1.0.99.1.0.255"].version == 1 and by_ln["0.0.40.0.0.255"].version == 1
        # the clock may be set by this client; everything else is read only
        clock = by_ln["0.0.1.0.0.255"]
        assert [int(clock.getAccess(i)) for i in range(2, 10)] == [3, 3, 1, 3, 3, 3, 3, 1]
        writable = {(o.logicalName, i) for o in objects for i in range(2, o.getAttributeCount() + 1)
                    if int(o.getAccess(i)) & int(AccessMode.WRITE)}
        assert writable == {("0.0.1.0.0.255", i) for i in (2, 3, 5, 6, 7, 8)}
        values, denied = browse(s, objects)
        assert set(denied) == {("0.0.40.0.0.255", 7)}
        assert text(values["0.0.96.1.0.255"][2]) == "MKS0000000000001"
        assert values["0.0.1.0.0.255"][3] == -60
        assert len(values["1.0.99.1.0.255"][2]) == ROWS  # the whole profile buffer
        assert values["1.0.99.1.0.255"][7] == ROWS
        assert values["1.0.1.8.1.255"][2] > 0
        association = by_ln["0.0.40.0.0.255"]
        assert association.clientSAP == 1
        assert association.applicationContextName.contextId == 3  # LN with ciphering
        assert int(association.authenticationMechanismName.mechanismId) == 5  # HLS-GMAC
        xdlms = association.xDLMSContextInfo
        assert xdlms.maxReceivePduSize == 1024 and xdlms.dlmsVersionNumber == 6
        negotiated = int(s.client.negotiatedConformance)
        assert int(xdlms.conformance) == negotiated
        assert negotiated & Conformance.MULTIPLE_REFERENCES and negotiated & Conformance.SET
        assert int(values["0.0.40.0.0.255"][8]) == 2  # associated
        # the association's security setup (class 64 version 0), as gurux reads it
        assert association.securitySetupReference == "0.0.43.0.0.255"
        setup = by_ln["0.0.43.0.0.255"]
        assert isinstance(setup, GXDLMSSecuritySetup) and setup.version == 0
        assert int(setup.securityPolicy) == 3  # every APDU authenticated and encrypted
        assert int(setup.securitySuite) == 0  # AES-GCM-128
        assert bytes(setup.clientSystemTitle) == CLIENT_TITLE
        assert bytes(setup.serverSystemTitle) == SYSTEM_TITLE
        # the event logs: clock and event code / duration, empty on this harness (80 and 10
        # entries)
        for ln, column in (("0.0.99.98.0.255", "0.0.96.11.0.255"),
                           ("1.0.99.97.0.255", "0.0.96.7.19.255")):
            log = by_ln[ln]
            assert [(o.logicalName, a.attributeIndex) for o, a in log.captureObjects] == [
                ("0.0.1.0.0.255", 2), (column, 2)]
            assert values[ln][2] == [] and log.capturePeriod == 0 and log.entriesInUse == 0
            assert log.profileEntries == (80 if ln.startswith("0") else 10)
    finally:
        s.release()
        s.close()
    # the same list in GET blocks when the PDU is small (one link: one session at a time)
    small = management(meter, pdu=256)
    try:
        again, next_blocks = object_list(small)
        assert next_blocks >= 3
        assert [(o.objectType, o.logicalName) for o in again] == [
            (o.objectType, o.logicalName) for o in objects]
        assert [int(o.getAccess(i)) for o in again for i in range(1, o.getAttributeCount() + 1)
                ] == [int(o.getAccess(i)) for o in objects
                      for i in range(1, o.getAttributeCount() + 1)]
        values_small, _ = browse(small, again)
        assert len(values_small["1.0.99.1.0.255"][2]) == ROWS
    finally:
        small.release()
        small.close()


def test_public_client_sees_its_objects_only(meter):
    s = public(meter, pdu=128)
    try:
        negotiated = int(s.client.negotiatedConformance)
        assert negotiated & Conformance.MULTIPLE_REFERENCES and not negotiated & Conformance.SET
        objects, next_blocks = object_list(s)
        assert next_blocks >= 2  # blocks: the public list is 335 bytes
        assert {o.logicalName for o in objects} == PUBLIC_OBJECTS
        assert all(not int(o.getAccess(i)) & int(AccessMode.WRITE)
                   for o in objects for i in range(1, o.getAttributeCount() + 1))
        values, denied = browse(s, objects)
        assert text(values["0.0.42.0.0.255"][2]) == "MKS-NG0000000001"
        assert int(values["0.0.40.0.0.255"][8]) == 2
        association = next(o for o in objects if o.logicalName == "0.0.40.0.0.255")
        assert int(association.authenticationMechanismName.mechanismId) == 0
        assert association.clientSAP == 16
        with pytest.raises(GuruxError, match="DLMS error 3"):  # read-write-denied
            s.read(GXDLMSRegister("1.0.1.8.1.255"), 2)
    finally:
        s.release()
        s.close()


def test_get_with_list(meter):
    s = management(meter)
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        reg = GXDLMSRegister("1.0.1.8.1.255")
        power = GXDLMSRegister("1.0.1.7.0.255")
        serial = GXDLMSData("0.0.96.1.0.255")
        pg = GXDLMSProfileGeneric("1.0.99.1.0.255")
        items = [(clock, 2), (clock, 3), (reg, 3), (reg, 2), (power, 3), (power, 2), (serial, 2),
                 (pg, 7), (pg, 4)]
        before = s.next_blocks
        messages = s.client.readList(items)
        assert len(messages) == 1  # one GET-with-list request
        reply = s.request(messages[0])
        assert s.next_blocks == before
        s.client.updateValues(items, reply.value)
        assert clock.timeZone == -60 and reg.unit == 30 and power.unit == 27
        assert reg.value == s.read(reg, 2)
        assert text(serial.value) == "MKS0000000000001"
        assert pg.entriesInUse == ROWS and pg.capturePeriod == 900
    finally:
        s.release()
        s.close()
    # a long list answer (the object list among the items) comes in GET blocks
    s = management(meter, pdu=256)
    try:
        association = GXDLMSAssociationLogicalName()
        reg = GXDLMSRegister("1.0.1.8.2.255")
        items = [(reg, 3), (association, 2), (reg, 2)]
        before = s.next_blocks
        reply = s.request(s.client.readList(items)[0])
        assert s.next_blocks - before >= 3
        values = reply.value
        assert len(values) == 3 and values[0] == [0, 30]
        s.client.updateValue(association, 2, values[1])
        assert len(association.objectList) == 19
        assert values[2] == s.read(reg, 2)
    finally:
        s.release()
        s.close()


def test_management_sets_the_clock(meter):
    s = management(meter)
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        s.read(clock, 2)
        was = clock.time.value.astimezone(timezone.utc)
        target = datetime(2024, 7, 1, 12, 30, tzinfo=timezone.utc)  # summer: CEST
        clock.time = GXDateTime(local_amsterdam(target))
        reply = s.request(s.client.write(clock, 2))
        assert reply.error == 0
        s.read(clock, 2)
        now = clock.time.value
        assert now.utcoffset() == timedelta(hours=2)  # the DST deviation follows the time
        assert abs(now.astimezone(timezone.utc) - target) < timedelta(seconds=5)
        assert s.read(clock, 4) & 0x80  # status: daylight saving active
        # the DST parameters: the meter's rule written back as read succeeds
        for index in (3, 5, 6, 7, 8):
            s.read(clock, index)
            assert s.request(s.client.write(clock, index)).error == 0
        clock.timeZone = 0  # another zone than the meter's is refused
        with pytest.raises(GuruxError, match="DLMS error 250"):
            s.request(s.client.write(clock, 3))
        # and back (the fixture is shared)
        clock.time = GXDateTime(local_amsterdam(was + timedelta(seconds=2)))
        assert s.request(s.client.write(clock, 2)).error == 0
    finally:
        s.release()
        s.close()
    p = public(meter)
    try:
        clock = GXDLMSClock("0.0.1.0.0.255")
        p.read(clock, 2)
        with pytest.raises(GuruxError, match="DLMS error 3"):  # read-write-denied
            p.request(p.client.write(clock, 2))
    finally:
        p.release()
        p.close()
