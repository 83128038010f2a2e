# meterkast: the COSEM objects the P3 port serves, their attributes and who may read them
# MIT license
#
# The object list is data (one row per object); attribute values are encoded straight into the
# response buffer from the newest reading, the clock and the identity. There is no writable
# attribute and no method except the association's reply_to_HLS_authentication (dlms_server).
# The meter has no supply switch: no disconnect-control object exists.
#
# Access rights (read only; everything else is denied):
#   public client (SAP 16, no security): the clock, the logical device name and the two
#       invocation-counter objects (counters travel in clear in every ciphered APDU anyway, and a
#       head-end that lost its counter state reads 0.0.43.1.1.255 to resynchronise);
#   management client (SAP 1, HLS-GMAC, SC 0x30): every object.
# Invocation-counter objects (Data, double-long-unsigned):
#   0.0.43.1.0.255  the meter's own counter for the management key (as comms.crypto.counter peeks it)
#   0.0.43.1.1.255  the last counter the meter accepted from the management client; the client
#                   must use a higher one next (0 before the first)
from contract import reading as rd
from micropython import const

from comms.dlms import axdr

CLASS_DATA = const(1)
CLASS_REGISTER = const(3)
CLASS_PROFILE = const(7)
CLASS_CLOCK = const(8)
CLASS_ASSOCIATION_LN = const(15)

# data-access-result
SUCCESS = const(0)
HARDWARE_FAULT = const(1)
TEMPORARY_FAILURE = const(2)
READ_WRITE_DENIED = const(3)
OBJECT_UNDEFINED = const(4)
OBJECT_CLASS_INCONSISTENT = const(9)
OBJECT_UNAVAILABLE = const(11)
TYPE_UNMATCHED = const(12)
SCOPE_OF_ACCESS_VIOLATED = const(13)
LONG_GET_ABORTED = const(15)
NO_LONG_GET_IN_PROGRESS = const(16)
DATA_BLOCK_NUMBER_INVALID = const(19)
OTHER_REASON = const(250)

UNIT_W = const(27)
UNIT_WH = const(30)

LN_CLOCK = b"\x00\x00\x01\x00\x00\xff"
LN_ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"
LN_PROFILE = b"\x01\x00\x63\x01\x00\xff"
LN_PROFILE_STATUS = b"\x00\x00\x60\x0a\x01\xff"

# object kinds
_CLOCK = const(0)
_REGISTER = const(1)
_EQUIPMENT_ID = const(2)
_DEVICE_NAME = const(3)
_PROFILE_STATUS = const(4)
_IC_SERVER = const(5)
_IC_CLIENT = const(6)
_ASSOCIATION = const(7)
_PROFILE = const(8)

_PUBLIC = const(1)

# (logical name, class, kind, argument, access); registers: argument = (reading field, unit)
OBJECTS = (
    (LN_CLOCK, CLASS_CLOCK, _CLOCK, None, _PUBLIC),
    (b"\x00\x00\x2a\x00\x00\xff", CLASS_DATA, _DEVICE_NAME, None, _PUBLIC),
    (LN_ASSOCIATION, CLASS_ASSOCIATION_LN, _ASSOCIATION, None, 0),
    (b"\x00\x00\x2b\x01\x00\xff", CLASS_DATA, _IC_SERVER, None, _PUBLIC),
    (b"\x00\x00\x2b\x01\x01\xff", CLASS_DATA, _IC_CLIENT, None, _PUBLIC),
    (b"\x00\x00\x60\x01\x00\xff", CLASS_DATA, _EQUIPMENT_ID, None, 0),
    (LN_PROFILE_STATUS, CLASS_DATA, _PROFILE_STATUS, None, 0),
    (b"\x01\x00\x01\x08\x01\xff", CLASS_REGISTER, _REGISTER, (rd.IMPORT_T1_WH, UNIT_WH), 0),
    (b"\x01\x00\x01\x08\x02\xff", CLASS_REGISTER, _REGISTER, (rd.IMPORT_T2_WH, UNIT_WH), 0),
    (b"\x01\x00\x02\x08\x01\xff", CLASS_REGISTER, _REGISTER, (rd.EXPORT_T1_WH, UNIT_WH), 0),
    (b"\x01\x00\x02\x08\x02\xff", CLASS_REGISTER, _REGISTER, (rd.EXPORT_T2_WH, UNIT_WH), 0),
    (b"\x01\x00\x01\x07\x00\xff", CLASS_REGISTER, _REGISTER, (rd.IMPORT_W, UNIT_W), 0),
    (b"\x01\x00\x02\x07\x00\xff", CLASS_REGISTER, _REGISTER, (rd.EXPORT_W, UNIT_W), 0),
    (LN_PROFILE, CLASS_PROFILE, _PROFILE, None, 0),
)

# profile columns: (class, logical name index in OBJECTS); attribute 2, data index 0 each
PROFILE_COLUMNS = (0, 6, 7, 8, 9, 10)
CAPTURE_PERIOD = const(900)


def _attribute_count(class_id):
    """Highest attribute id a class defines (ids above it are undefined)."""
    if class_id == CLASS_DATA:
        return 2
    if class_id == CLASS_REGISTER:
        return 3
    if class_id == CLASS_PROFILE:
        return 8
    if class_id == CLASS_CLOCK:
        return 9
    return 11  # association LN, version 1


_CTX_LN = b"\x60\x85\x74\x05\x08\x01"  # application context name prefix (..01 / ..03)
_MECH = b"\x60\x85\x74\x05\x08\x02"  # mechanism name prefix (..00 none, ..05 HLS-GMAC)
_DST_BEGIN = b"\xff\xff\x03\xfe\x07\x02\x00\x00\x00\x80\x00\xff"  # last Sunday of March, 02:00
_DST_END = b"\xff\xff\x0a\xfe\x07\x03\x00\x00\x00\x80\x00\xff"  # last Sunday of October, 03:00


def find(class_id, buf, o):
    """Index in OBJECTS of logical name buf[o:o+6]; -1 when unknown, -2 - index when the name
    exists with another class."""
    for i in range(len(OBJECTS)):
        ln = OBJECTS[i][0]
        if (
            buf[o] == ln[0]
            and buf[o + 1] == ln[1]
            and buf[o + 2] == ln[2]
            and buf[o + 3] == ln[3]
            and buf[o + 4] == ln[4]
            and buf[o + 5] == ln[5]
        ):
            return i if OBJECTS[i][1] == class_id else -2 - i
    return -1


def capture_object(b, o, index):
    """One capture_object_definition: 02 04 12 <class> 09 06 <LN> 0F 02 12 00 00."""
    ln, cls = OBJECTS[index][0], OBJECTS[index][1]
    o = axdr.put_header(b, o, axdr.STRUCTURE, 4)
    o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, cls)
    o = axdr.put_logical_name(b, o, ln)
    o = axdr.put_tag_u8(b, o, axdr.INTEGER, 2)
    return axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 0)


class ObjectModel:
    """Reads attributes of OBJECTS for one DLMS server (one meter)."""

    def __init__(self, clock, readings, profile, identity, datetime_codec):
        self.clock = clock
        self.readings = readings
        self.profile = profile
        self.dt = datetime_codec
        self.equipment_id = identity["equipment_id"].encode()
        self.device_name = identity.get("logical_device_name", identity["equipment_id"]).encode()
        self.reading = rd.new_reading()
        self.server_ic = None  # callables set by the server: counter values for 0.0.43.1.x
        self.client_ic = None
        self.association = None  # the server, for the association object's attributes

    def check(self, index, attr, management):
        """data-access-result for reading attribute attr of OBJECTS[index]."""
        entry = OBJECTS[index]
        if attr < 1 or attr > _attribute_count(entry[1]):
            return OBJECT_UNDEFINED
        if not management and not entry[4] & _PUBLIC:
            return READ_WRITE_DENIED
        return SUCCESS

    def encode(self, index, attr, b, o):
        """Write the value of an attribute (access already checked) at b[o:]; return the new
        offset, or -(data-access-result) when the attribute cannot be read."""
        entry = OBJECTS[index]
        if attr == 1:
            return axdr.put_logical_name(b, o, entry[0])
        kind = entry[2]
        if kind == _REGISTER:
            return self._register(entry[3], attr, b, o)
        if kind == _CLOCK:
            return self._clock(attr, b, o)
        if kind == _PROFILE:
            return self._profile(attr, b, o)
        if kind == _ASSOCIATION:
            return self._association(attr, b, o)
        # Data objects: attribute 2 only
        if kind == _EQUIPMENT_ID:
            return axdr.put_octets(b, o, self.equipment_id)
        if kind == _DEVICE_NAME:
            return axdr.put_octets(b, o, self.device_name)
        if kind == _IC_SERVER:
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, self.server_ic())
        if kind == _IC_CLIENT:
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, self.client_ic())
        if kind == _PROFILE_STATUS:
            if not self.readings.copy_latest(self.reading):
                return -TEMPORARY_FAILURE
            return axdr.put_tag_u8(b, o, axdr.UNSIGNED, self.reading[rd.STATUS])
        return -OBJECT_UNAVAILABLE

    def _register(self, arg, attr, b, o):
        field, unit = arg
        if attr == 3:
            o = axdr.put_header(b, o, axdr.STRUCTURE, 2)
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, 0)
            return axdr.put_tag_u8(b, o, axdr.ENUM, unit)
        if not self.readings.copy_latest(self.reading):
            return -TEMPORARY_FAILURE  # metrology has not published a reading yet
        v = self.reading[field]
        return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, v if v > 0 else 0)

    def clock_status(self, t):
        s = axdr.CLOCK_STATUS_DST if self.dt.local_time.is_summer(t) else 0
        if (
            self.readings.copy_latest(self.reading)
            and self.reading[rd.STATUS] & rd.STATUS_CLOCK_INVALID
        ):
            s |= 0x01
        return s

    def _clock(self, attr, b, o):
        t = self.clock.utc()
        if attr == 2:
            end = self.dt.put(b, o, t)
            b[end - 1] = self.clock_status(t)
            return end
        if attr == 3:  # time_zone: minutes local -> UTC in standard time
            return axdr.put_tag_u16(b, o, axdr.LONG, (-60) & 0xFFFF)
        if attr == 4:
            return axdr.put_tag_u8(b, o, axdr.UNSIGNED, self.clock_status(t))
        if attr == 5 or attr == 6:
            b[o] = axdr.OCTET_STRING
            b[o + 1] = 12
            return axdr.put_bytes(b, o + 2, _DST_BEGIN if attr == 5 else _DST_END)
        if attr == 7:  # daylight_savings_deviation, minutes
            return axdr.put_tag_u8(b, o, axdr.INTEGER, 60)
        if attr == 8:  # daylight_savings_enabled
            return axdr.put_tag_u8(b, o, axdr.BOOLEAN, 1)
        return axdr.put_tag_u8(b, o, axdr.ENUM, 1)  # 9 clock_base: internal crystal

    def _profile(self, attr, b, o):
        p = self.profile
        if attr == 3:
            o = axdr.put_header(b, o, axdr.ARRAY, len(PROFILE_COLUMNS))
            for index in PROFILE_COLUMNS:
                o = capture_object(b, o, index)
            return o
        if attr == 4:
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, CAPTURE_PERIOD)
        if attr == 5:  # sort_method: fifo
            return axdr.put_tag_u8(b, o, axdr.ENUM, 1)
        if attr == 6:  # sort_object: none (unsorted FIFO)
            o = axdr.put_header(b, o, axdr.STRUCTURE, 4)
            o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 0)
            o = axdr.put_octets(b, o, b"\x00\x00\x00\x00\x00\x00")
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, 0)
            return axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 0)
        if attr == 7:
            n = p.entries_in_use() if p is not None else 0
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, n)
        if attr == 8:
            n = p.capacity if p is not None else 0
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, n)
        return -OBJECT_UNAVAILABLE  # attribute 2 is streamed by the server (profile_buffer)

    def _association(self, attr, b, o):
        a = self.association
        if attr == 3:  # associated_partners_id
            o = axdr.put_header(b, o, axdr.STRUCTURE, 2)
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, a.client_sap)
            return axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 1)
        if attr == 4:  # application_context_name
            b[o] = axdr.OCTET_STRING
            b[o + 1] = 7
            o = axdr.put_bytes(b, o + 2, _CTX_LN)
            b[o] = 3 if a.management else 1
            return o + 1
        if attr == 6:  # authentication_mechanism_name
            b[o] = axdr.OCTET_STRING
            b[o + 1] = 7
            o = axdr.put_bytes(b, o + 2, _MECH)
            b[o] = 5 if a.management else 0
            return o + 1
        if attr == 8:  # association_status: 0 non-associated, 1 pending, 2 associated
            return axdr.put_tag_u8(b, o, axdr.ENUM, a.state)
        return -READ_WRITE_DENIED  # object_list, xDLMS context, secret: not readable here
