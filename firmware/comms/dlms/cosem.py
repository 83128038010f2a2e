# meterkast: the COSEM objects the P3 port serves, their attributes and who may read or write them
# MIT license
#
# The object list is data (one row per object); attribute values are encoded straight into the
# response buffer from the newest reading, the clock, the identity, the event logs and the
# management keys' titles. The methods are the association's reply_to_HLS_authentication and
# the security setup's global_key_transfer (comms.dlms.association); the only writable
# attributes are the clock's, and only when the meter can move its RTC (set_clock: a meter that
# carries the metering module; see meter.Meter.set_clock). The meter has no supply switch: no
# disconnect-control object exists.
#
# Access rights (access(); the association's object list, attribute 2, shows them per client):
#   public client (SAP 16, no security): reads the clock, the logical device name, the two
#       invocation-counter objects (counters travel in clear in every ciphered APDU anyway, and a
#       head-end that lost its counter state reads 0.0.43.1.1.255 to resynchronise) and its own
#       association object; writes nothing;
#   management client (SAP 1, HLS-GMAC, SC 0x30): reads every object; writes the clock's time,
#       time zone and DST parameters (2, 3, 5-8) when the RTC can be set. The meter keeps one
#       zone rule (util.tz, Europe/Amsterdam, EU summer time): a write of 3 or 5-8 succeeds when
#       it states that rule and is refused (other-reason) when it asks for another.
#   Nobody reads the LLS secret (7) of the association; its security_setup_reference (9) names
#   0.0.43.0.0.255 for the management client, and is not readable by the public client (whose
#   association has no security).
# Invocation-counter objects (Data, double-long-unsigned):
#   0.0.43.1.0.255  the meter's own counter for the management key (as comms.crypto.counter peeks it)
#   0.0.43.1.1.255  the last counter the meter accepted from the management client; the client
#                   must use a higher one next (0 before the first)
# Event logs (profile generic, management only; rows from comms.events): the standard event log
#   0.0.99.98.0.255 (clock, event code 0.0.96.11.0.255) and the power-failure event log
#   1.0.99.97.0.255 (clock = end of the failure, duration 0.0.96.7.19.255 in s, as DSMR has it),
#   by range (1) and by entry (2), capture period 0 (captured as events happen).
# Security setup 0.0.43.0.0.255 (class 64 version 0, management only, read only): policy 3 (all
#   APDUs authenticated and encrypted), suite 0, the client's and the meter's system titles;
#   method 2 global_key_transfer when the keys file holds a master key (management.kek): new
#   encryption, authentication and master keys wrapped with it (RFC 3394), in force from the
#   next association (comms.dlms.security); security_activate (1) is not offered.
# Security setup 0.0.43.0.1.255 (class 64 version 0, management only, read only; in the object
#   list only of a meter with encrypted P1): the P1 port's keys. Policy 3 and suite 0 as the P1
#   frames have them (SC 0x30), no client system title (P1 is broadcast: empty octet-string),
#   the meter's system title; method 2 global_key_transfer when the management keys hold a
#   master key: a new P1 encryption (key_id 0) and authentication key (2), wrapped with the
#   management master key, in force from the next telegram (comms.p1.crypt); no master key (3)
#   of its own.
from contract import obis as ob
from contract import reading as rd
from micropython import const

from util import tz

from comms.dlms import axdr

CLASS_DATA = const(1)
CLASS_REGISTER = const(3)
CLASS_PROFILE = const(7)
CLASS_CLOCK = const(8)
CLASS_ASSOCIATION_LN = const(15)
CLASS_SECURITY_SETUP = const(64)

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

# attribute access modes (Association LN version 1 access_rights)
NO_ACCESS = const(0)
READ_ONLY = const(1)
WRITE_ONLY = const(2)
READ_WRITE = const(3)

UNIT_S = const(7)
UNIT_W = const(27)
UNIT_WH = const(30)

LN_CLOCK = ob.ln(ob.CLOCK)
LN_ASSOCIATION = ob.ln(ob.ASSOCIATION)
LN_PROFILE = ob.ln(ob.PROFILE)
LN_PROFILE_STATUS = ob.ln(ob.PROFILE_STATUS)
LN_STANDARD_EVENT_LOG = ob.ln(ob.EVENT_LOG)
LN_POWER_FAILURE_LOG = ob.ln(ob.POWER_FAILURE_LOG)
LN_SECURITY_SETUP = ob.ln(ob.SECURITY_SETUP)
_P1_SECURITY_SETUP_INDEX = const(19)  # the row of 0.0.43.0.1.255 in OBJECTS

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
_EVENT_CODE = const(9)
_EVENT_LOG = const(10)
_SECURITY_SETUP = const(11)

_PUBLIC = const(1)
_DAYS_MAX = const(31)
# clock attributes the management client may write: time (2), time_zone (3), DST begin, end,
# deviation and enabled (5-8); never status (4) or clock_base (9)
_CLOCK_WRITABLE = const(0x1EC)

# (logical name, class, kind, argument, access); registers: argument = (reading field, unit)
OBJECTS = (
    (LN_CLOCK, CLASS_CLOCK, _CLOCK, None, _PUBLIC),
    (ob.ln(ob.DEVICE_NAME), CLASS_DATA, _DEVICE_NAME, None, _PUBLIC),
    (LN_ASSOCIATION, CLASS_ASSOCIATION_LN, _ASSOCIATION, None, _PUBLIC),
    (ob.ln(ob.IC_SERVER), CLASS_DATA, _IC_SERVER, None, _PUBLIC),
    (ob.ln(ob.IC_CLIENT), CLASS_DATA, _IC_CLIENT, None, _PUBLIC),
    (ob.ln(ob.EQUIPMENT_ID_P3), CLASS_DATA, _EQUIPMENT_ID, None, 0),
    (LN_PROFILE_STATUS, CLASS_DATA, _PROFILE_STATUS, None, 0),
    (ob.ln(ob.IMPORT_T1), CLASS_REGISTER, _REGISTER, (rd.IMPORT_T1_WH, UNIT_WH), 0),
    (ob.ln(ob.IMPORT_T2), CLASS_REGISTER, _REGISTER, (rd.IMPORT_T2_WH, UNIT_WH), 0),
    (ob.ln(ob.EXPORT_T1), CLASS_REGISTER, _REGISTER, (rd.EXPORT_T1_WH, UNIT_WH), 0),
    (ob.ln(ob.EXPORT_T2), CLASS_REGISTER, _REGISTER, (rd.EXPORT_T2_WH, UNIT_WH), 0),
    (ob.ln(ob.IMPORT_W), CLASS_REGISTER, _REGISTER, (rd.IMPORT_W, UNIT_W), 0),
    (ob.ln(ob.EXPORT_W), CLASS_REGISTER, _REGISTER, (rd.EXPORT_W, UNIT_W), 0),
    (LN_PROFILE, CLASS_PROFILE, _PROFILE, None, 0),
    # the code of the newest entry of the standard event log, and the duration of the newest
    # long power failure: the second column of each event log
    (ob.ln(ob.EVENT_CODE), CLASS_DATA, _EVENT_CODE, None, 0),
    (ob.ln(ob.POWER_FAILURE_DURATION), CLASS_REGISTER, _REGISTER, (rd.PF_LOG + 1, UNIT_S), 0),
    (LN_STANDARD_EVENT_LOG, CLASS_PROFILE, _EVENT_LOG, 0, 0),
    (LN_POWER_FAILURE_LOG, CLASS_PROFILE, _EVENT_LOG, 1, 0),
    (LN_SECURITY_SETUP, CLASS_SECURITY_SETUP, _SECURITY_SETUP, None, 0),
    (ob.ln(ob.P1_SECURITY_SETUP), CLASS_SECURITY_SETUP, _SECURITY_SETUP, 1, 0),
)

# The columns of each profile (capture objects: indices in OBJECTS, attribute 2, data index 0
# each; the clock first, as range reads need) and the A-XDR type of each column's values
# (octet-string: the clock's date-time)
PROFILE_COLUMNS = (0, 6, 7, 8, 9, 10)
PROFILE_TYPES = b"\x09\x11\x06\x06\x06\x06"
EVENT_LOG_COLUMNS = ((0, 14), (0, 15))  # standard: clock, event code; power failure: duration
EVENT_LOG_TYPES = (b"\x09\x11", b"\x09\x06")
CAPTURE_PERIOD = const(900)


def attribute_count(class_id):
    """Highest attribute id a class defines (ids above it are undefined)."""
    if class_id == CLASS_DATA:
        return 2
    if class_id == CLASS_REGISTER:
        return 3
    if class_id == CLASS_PROFILE:
        return 8
    if class_id == CLASS_CLOCK:
        return 9
    if class_id == CLASS_SECURITY_SETUP:
        return 5  # version 0
    return 9  # association LN, version 1


def method_count(class_id):
    """Methods a class defines: register reset; profile reset, capture; clock adjust_to_quarter
    .. shift_time; association LN reply_to_HLS_authentication .. remove_object."""
    if class_id == CLASS_REGISTER:
        return 1
    if class_id == CLASS_PROFILE:
        return 2
    if class_id == CLASS_CLOCK:
        return 6
    if class_id == CLASS_ASSOCIATION_LN:
        return 4
    if class_id == CLASS_SECURITY_SETUP:
        return 2
    return 0


def class_version(class_id):
    if class_id == CLASS_PROFILE or class_id == CLASS_ASSOCIATION_LN:
        return 1
    return 0


# application_context_name and authentication_mechanism_name (Association LN version 1: the arcs
# of 2.16.756.5.8.1.x / 2.16.756.5.8.2.x as a structure), the last arc filled in per association
_OID_ARCS = b"\x02\x07\x11\x02\x11\x10\x12\x02\xf4\x11\x05\x11\x08\x11\x00\x11\x00"
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
        self.events = None  # comms.events.EventLog: the event logs' rows, or None (empty logs)
        self.dt = datetime_codec
        self.equipment_id = identity["equipment_id"].encode()
        self.device_name = identity.get("logical_device_name", identity["equipment_id"]).encode()
        self.reading = rd.new_reading()
        self.server_ic = None  # callables set by the server: counter values for 0.0.43.1.x
        self.client_ic = None
        self.association = None  # the server, for the association object's attributes
        self.p1 = None  # comms.p1.crypt.P1Encryptor of an encrypted P1 port, or None
        # set_clock(t_utc) -> None, or why the RTC was not moved; None when this meter has no
        # way to move its RTC (a comms module on its own board: the link is one way)
        self.set_clock = None

    def visible(self, index, management):
        """Is OBJECTS[index] in this client's object list (and there at all for it)?"""
        if index == _P1_SECURITY_SETUP_INDEX and self.p1 is None:
            return False  # no encrypted P1: no P1 keys to set up
        return management or OBJECTS[index][4] & _PUBLIC

    def access(self, index, attr, management):
        """Access mode of attribute attr of OBJECTS[index] for this client (NO_ACCESS for an
        attribute the class does not define)."""
        entry = OBJECTS[index]
        if attr < 1 or attr > attribute_count(entry[1]) or not self.visible(index, management):
            return NO_ACCESS
        kind = entry[2]
        if kind == _ASSOCIATION and (attr == 7 or (attr == 9 and not management)):
            return NO_ACCESS  # the secret; the public association has no security setup
        if kind == _CLOCK and management and self.set_clock is not None and _CLOCK_WRITABLE >> attr & 1:
            return READ_WRITE
        return READ_ONLY

    def method_access(self, index, method, management):
        """1 (access) or 0 (no access) of a method of OBJECTS[index]: the management client's
        reply_to_HLS_authentication, and its global_key_transfer when the meter holds a master
        key."""
        if not management or not self.visible(index, management):
            return 0
        kind = OBJECTS[index][2]
        if kind == _SECURITY_SETUP:
            sec = self.association.security
            return 1 if method == 2 and sec is not None and sec.kek is not None else 0
        return 1 if kind == _ASSOCIATION and method == 1 else 0

    def check(self, index, attr, management):
        """data-access-result for reading attribute attr of OBJECTS[index]."""
        if attr < 1 or attr > attribute_count(OBJECTS[index][1]):
            return OBJECT_UNDEFINED
        if not self.access(index, attr, management) & READ_ONLY:
            return READ_WRITE_DENIED
        return SUCCESS

    def write(self, index, attr, r, management):
        """SET attribute attr of OBJECTS[index] to the Data at reader r; a data-access-result."""
        if attr < 1 or attr > attribute_count(OBJECTS[index][1]):
            return OBJECT_UNDEFINED
        if not self.access(index, attr, management) & WRITE_ONLY:
            return READ_WRITE_DENIED
        try:
            return self._write_clock(attr, r)  # the clock is the only writable object
        except ValueError:  # AxdrError: not the type the attribute has, or cut short
            return TYPE_UNMATCHED

    def _write_clock(self, attr, r):
        if attr == 2:
            t = self._date_time_utc(r)
            if t < 0:
                return TYPE_UNMATCHED
            return SUCCESS if self.set_clock(t) is None else OTHER_REASON
        if attr == 3:  # time_zone: only the meter's own, CET (-60)
            r.expect(axdr.LONG)
            return SUCCESS if r.u16() == (-60) & 0xFFFF else OTHER_REASON
        if attr == 5 or attr == 6:
            rule = _DST_BEGIN if attr == 5 else _DST_END
            tag = r.u8()
            if tag == axdr.OCTET_STRING:
                if r.length() != 12:
                    return TYPE_UNMATCHED
            elif tag != axdr.DATE_TIME:
                return TYPE_UNMATCHED
            r.need(12)
            b = r.buf
            p = r.pos
            # month, day (0xFE last), weekday, hour, minute must be the rule's; year, seconds,
            # hundredths, deviation and status are not part of a yearly rule
            for i in (2, 3, 4, 5, 6):
                if b[p + i] != rule[i]:
                    return OTHER_REASON
            return SUCCESS
        if attr == 7:  # daylight_savings_deviation: one hour
            r.expect(axdr.INTEGER)
            return SUCCESS if r.u8() == 60 else OTHER_REASON
        r.expect(axdr.BOOLEAN)  # 8 daylight_savings_enabled: summer time is kept
        return SUCCESS if r.u8() else OTHER_REASON

    def _date_time_utc(self, r):
        """A clock value (octet-string of 12 or date-time) as meter-epoch UTC seconds, -1 when it
        is not a complete date and time. A specified deviation makes it an instant (UTC = local
        + deviation, as axdr.DateTimeCodec writes it); 0x8000 is the meter's local time, the
        status DST bit choosing in the hour that occurs twice."""
        tag = r.u8()
        if tag == axdr.OCTET_STRING:
            if r.length() != 12:
                return -1
        elif tag != axdr.DATE_TIME:
            return -1
        r.need(12)
        b = r.buf
        o = r.pos
        r.pos = o + 12
        y = (b[o] << 8) | b[o + 1]
        if b[o + 3] > _DAYS_MAX or b[o + 2] > 12 or b[o + 3] > tz.month_days(y, b[o + 2] or 1):
            return -1
        local = self.dt.local_seconds(b, o)  # AxdrError on an unspecified or impossible field
        dev = (b[o + 9] << 8) | b[o + 10]
        if dev != 0x8000:
            if dev & 0x8000:
                dev -= 0x10000
            if dev < -720 or dev > 720:
                return -1
            return local + dev * 60
        lt = self.dt.local_time
        summer = local - tz.SUMMER_OFFSET
        standard = local - tz.STANDARD_OFFSET
        if lt.is_summer(summer) and lt.is_summer(standard):
            return summer
        if lt.is_summer(summer) and b[o + 11] != 0xFF and b[o + 11] & axdr.CLOCK_STATUS_DST:
            return summer  # the hour that occurs twice, in its summer-time pass
        return standard

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
        if kind == _PROFILE or kind == _EVENT_LOG:
            return self._profile(index, attr, b, o)
        if kind == _ASSOCIATION:
            return self._association(attr, b, o)
        if kind == _SECURITY_SETUP:
            return self._security_setup(entry[3], attr, b, o)
        # Data objects: attribute 2 only
        if kind == _EQUIPMENT_ID:
            return axdr.put_octets(b, o, self.equipment_id)
        if kind == _DEVICE_NAME:
            return axdr.put_octets(b, o, self.device_name)
        if kind == _IC_SERVER:
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, self.server_ic())
        if kind == _IC_CLIENT:
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, self.client_ic())
        if kind == _EVENT_CODE:
            ev = self.events
            return axdr.put_tag_u8(b, o, axdr.UNSIGNED, ev.last_code if ev is not None else 0)
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

    def _security_setup(self, p1, attr, b, o):
        """Security setup version 0 of the management association (p1 None) or of the P1 port
        (p1 1): every APDU or frame authenticated and encrypted (policy 3), suite 0
        (AES-GCM-128), the client's system title (P1: none) and the meter's."""
        sec = self.association.security
        if sec is None:
            return -OBJECT_UNAVAILABLE  # no management keys: nobody associates to read it
        if attr == 2 or attr == 3:
            return axdr.put_tag_u8(b, o, axdr.ENUM, 3 if attr == 2 else 0)
        if attr == 4 and p1:
            return axdr.put_octets(b, o, b"")
        return axdr.put_octets(b, o, sec.client_title if attr == 4 else sec.title)

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

    def profile_rows(self, index):
        """The rows of profile OBJECTS[index]: the quarter-hour profile or an event log (the
        profile contract of comms.dlms.profile_buffer), None when this meter keeps none."""
        entry = OBJECTS[index]
        if entry[2] == _PROFILE:
            return self.profile
        ev = self.events
        if ev is None:
            return None
        return ev.standard if entry[3] == 0 else ev.power

    def profile_columns(self, index):
        entry = OBJECTS[index]
        return PROFILE_COLUMNS if entry[2] == _PROFILE else EVENT_LOG_COLUMNS[entry[3]]

    def profile_types(self, index):
        entry = OBJECTS[index]
        return PROFILE_TYPES if entry[2] == _PROFILE else EVENT_LOG_TYPES[entry[3]]

    def _profile(self, index, attr, b, o):
        p = self.profile_rows(index)
        if attr == 3:
            columns = self.profile_columns(index)
            o = axdr.put_header(b, o, axdr.ARRAY, len(columns))
            for column in columns:
                o = capture_object(b, o, column)
            return o
        if attr == 4:  # the event logs are captured as events happen: period 0
            period = CAPTURE_PERIOD if OBJECTS[index][2] == _PROFILE else 0
            return axdr.put_tag_u32(b, o, axdr.DOUBLE_LONG_UNSIGNED, period)
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
        if attr == 4 or attr == 6:  # application_context_name, authentication_mechanism_name
            o = axdr.put_bytes(b, o, _OID_ARCS)
            if attr == 4:  # 2.16.756.5.8.1.3 LN with ciphering, .1.1 without
                b[o - 3] = 1
                b[o - 1] = 3 if a.management else 1
            else:  # 2.16.756.5.8.2.5 HLS-GMAC, .2.0 lowest level
                b[o - 3] = 2
                b[o - 1] = 5 if a.management else 0
            return o
        if attr == 5:  # xDLMS_context_info of this association
            o = axdr.put_header(b, o, axdr.STRUCTURE, 6)
            b[o] = 0x04  # bit-string of 24 bits: the negotiated conformance block
            b[o + 1] = 24
            c = a.conformance
            b[o + 2] = (c >> 16) & 0xFF
            b[o + 3] = (c >> 8) & 0xFF
            b[o + 4] = c & 0xFF
            o = axdr.put_tag_u16(b, o + 5, axdr.LONG_UNSIGNED, a.max_receive_pdu())
            o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, a.max_send_pdu())
            o = axdr.put_tag_u8(b, o, axdr.UNSIGNED, 6)  # DLMS version
            o = axdr.put_tag_u8(b, o, axdr.INTEGER, 0)  # quality_of_service: not used
            b[o] = axdr.OCTET_STRING  # cyphering_info: no dedicated key
            b[o + 1] = 0
            return o + 2
        if attr == 8:  # association_status: 0 non-associated, 1 pending, 2 associated
            return axdr.put_tag_u8(b, o, axdr.ENUM, a.state)
        if attr == 9:  # security_setup_reference (the management association's)
            return axdr.put_logical_name(b, o, LN_SECURITY_SETUP)
        return -OBJECT_UNAVAILABLE  # object_list (2) is streamed by the server (object_list)
