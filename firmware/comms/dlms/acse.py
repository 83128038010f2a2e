# meterkast: ACSE (AARQ/AARE, RLRQ/RLRE, BER) and the xDLMS InitiateRequest/Response
# MIT license
#
# Only what a logical-name association needs. BER lengths are read in every form and written
# in the shortest. Positions point into the received APDU; nothing is copied out.
from micropython import const

from comms.dlms import axdr

AARQ = const(0x60)
AARE = const(0x61)
RLRQ = const(0x62)
RLRE = const(0x63)

CONTEXT_LN = const(1)  # 2.16.756.5.8.1.1 logical names, no ciphering
CONTEXT_LN_CIPHERED = const(3)  # 2.16.756.5.8.1.3
MECHANISM_NONE = const(0)
MECHANISM_HLS_GMAC = const(5)

# AARE result / acse-service-user diagnostics
ACCEPTED = const(0)
REJECTED_PERMANENT = const(1)
DIAG_NULL = const(0)
DIAG_NO_REASON = const(1)
DIAG_CONTEXT_NOT_SUPPORTED = const(2)
DIAG_CALLING_TITLE_NOT_RECOGNISED = const(3)
DIAG_MECHANISM_NOT_RECOGNISED = const(11)
DIAG_MECHANISM_REQUIRED = const(12)
DIAG_AUTHENTICATION_FAILURE = const(13)
DIAG_AUTHENTICATION_REQUIRED = const(14)

# xDLMS initiate errors (ConfirmedServiceError, initiateError, ServiceError.initiate)
INITIATE_OTHER = const(0)
INITIATE_VERSION_TOO_LOW = const(1)
INITIATE_INCOMPATIBLE_CONFORMANCE = const(2)
INITIATE_PDU_TOO_SHORT = const(3)

INITIATE_REQUEST = const(0x01)
INITIATE_RESPONSE = const(0x08)
GLO_INITIATE_REQUEST = const(0x21)
GLO_INITIATE_RESPONSE = const(0x28)

# conformance block bits offered (Blue Book numbering: bit n = 1 << (23 - n))
GENERAL_PROTECTION = const(0x400000)
BLOCK_TRANSFER_WITH_GET = const(0x001000)
MULTIPLE_REFERENCES = const(0x000200)  # GET-with-list
GET = const(0x000010)
SET = const(0x000008)
SELECTIVE_ACCESS = const(0x000004)
ACTION = const(0x000001)
# What each association can use, and nothing more (the AARE returns client AND offer):
#   public: GET, with lists and blocks (its object list is longer than a small PDU); it writes
#       nothing, selects nothing (the profile is not its) and calls no method;
#   management: all of that, general protection (0xDB), selective access to the profile, ACTION
#       (HLS pass 3), and SET when the meter can move its RTC (MANAGEMENT_CONFORMANCE | SET).
PUBLIC_CONFORMANCE = const(0x001210)
MANAGEMENT_CONFORMANCE = const(0x401215)
SERVER_CONFORMANCE = const(0x40121D)  # everything this server can offer

_OID_PREFIX = b"\x60\x85\x74\x05\x08"  # 2.16.756.5.8 (DLMS UA)


class AcseError(ValueError):
    pass


def _oid_last(r, kind):
    """06 07 60 85 74 05 08 <kind> <x>: return x."""
    r.expect(0x06)
    if r.length() != 7:
        raise AcseError("object identifier")
    b = r.buf
    p = r.pos
    for i in range(5):
        if b[p + i] != _OID_PREFIX[i]:
            raise AcseError("object identifier")
    if b[p + 5] != kind:
        raise AcseError("object identifier")
    v = b[p + 6]
    r.pos = p + 7
    return v


class Aarq:
    """The fields of one AARQ; positions are offsets into the request buffer (-1 = absent)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.context = -1
        self.mechanism = MECHANISM_NONE
        self.title = -1
        self.title_len = 0
        self.auth_value = -1
        self.auth_len = 0
        self.user_info = -1
        self.user_info_len = 0

    def parse(self, r):
        """r: an axdr.Reader positioned at the 0x60 tag."""
        self.reset()
        r.expect(AARQ)
        n = r.length()
        end = r.pos + n
        if end > r.end:
            raise AcseError("AARQ length")
        while r.pos < end:
            tag = r.u8()
            n = r.length()
            stop = r.pos + n
            if stop > end:
                raise AcseError("AARQ field length")
            if tag == 0xA1:  # application-context-name
                self.context = _oid_last(r, 1)
            elif tag == 0xA6:  # calling-AP-title
                r.expect(0x04)
                self.title_len = r.length()
                self.title = r.pos
            elif tag == 0x8B:  # mechanism-name (implicit OID: 60 85 74 05 08 02 m)
                if n != 7:
                    raise AcseError("mechanism name")
                b = r.buf
                for i in range(5):
                    if b[r.pos + i] != _OID_PREFIX[i]:
                        raise AcseError("mechanism name")
                if b[r.pos + 5] != 2:
                    raise AcseError("mechanism name")
                self.mechanism = b[r.pos + 6]
            elif tag == 0xAC:  # calling-authentication-value: [0] charstring
                if r.u8() != 0x80:
                    raise AcseError("authentication value")
                self.auth_len = r.length()
                self.auth_value = r.pos
            elif tag == 0xBE:  # user-information: OCTET STRING holding the xDLMS APDU
                r.expect(0x04)
                self.user_info_len = r.length()
                self.user_info = r.pos
            r.pos = stop  # skip fields we do not use (protocol version, requirements, ...)
        if self.title >= 0 and self.title + self.title_len > end:
            raise AcseError("calling-AP-title")
        if self.auth_value >= 0 and self.auth_value + self.auth_len > end:
            raise AcseError("authentication value")
        if self.user_info >= 0 and self.user_info + self.user_info_len > end:
            raise AcseError("user-information")


class Initiate:
    """A parsed xDLMS InitiateRequest."""

    def __init__(self):
        self.conformance = 0
        self.max_pdu = 0
        self.version = 0
        self.dedicated_key = False

    def parse(self, r):
        """Returns 0 or an INITIATE_* error (the APDU itself being well formed)."""
        r.expect(INITIATE_REQUEST)
        self.dedicated_key = False
        if r.u8():  # dedicated-key OPTIONAL
            r.skip(r.length())
            self.dedicated_key = True
        if r.u8():  # response-allowed DEFAULT TRUE
            r.skip(1)
        if r.u8():  # proposed-quality-of-service OPTIONAL
            r.skip(1)
        self.version = r.u8()
        if r.u8() != 0x5F or r.u8() != 0x1F or r.u8() != 0x04:
            raise AcseError("conformance")
        r.skip(1)  # unused bits
        self.conformance = (r.u8() << 16) | (r.u8() << 8) | r.u8()
        self.max_pdu = r.u16()
        if self.version < 6:
            return INITIATE_VERSION_TOO_LOW
        if self.max_pdu < 64:
            return INITIATE_PDU_TOO_SHORT
        if not self.conformance & SERVER_CONFORMANCE & GET:
            return INITIATE_INCOMPATIBLE_CONFORMANCE
        return 0


def put_initiate_response(b, o, conformance, max_pdu):
    """08 00 06 5F 1F 04 00 <conformance 3> <max pdu 2> 00 07."""
    b[o] = INITIATE_RESPONSE
    b[o + 1] = 0  # negotiated QoS absent
    b[o + 2] = 6  # DLMS version
    b[o + 3] = 0x5F
    b[o + 4] = 0x1F
    b[o + 5] = 0x04
    b[o + 6] = 0x00
    b[o + 7] = (conformance >> 16) & 0xFF
    b[o + 8] = (conformance >> 8) & 0xFF
    b[o + 9] = conformance & 0xFF
    b[o + 10] = (max_pdu >> 8) & 0xFF
    b[o + 11] = max_pdu & 0xFF
    b[o + 12] = 0x00  # VAA name 0x0007: logical-name referencing
    b[o + 13] = 0x07
    return o + 14


def put_initiate_error(b, o, code):
    """ConfirmedServiceError: initiateError, ServiceError initiate(code)."""
    b[o] = 0x0E
    b[o + 1] = 0x01
    b[o + 2] = 0x06
    b[o + 3] = code
    return o + 4


def _put_tlv_header(b, o, tag, n):
    b[o] = tag
    return axdr.put_len(b, o + 1, n)


class AareWriter:
    """Builds an AARE; the parts are given in order, lengths are filled in at the end."""

    def begin(self, b, o, context):
        self.b = b
        self.start = o
        o += 4  # 61 + room for a length of up to 3 octets; moved down in finish()
        b[o : o + 2] = b"\xa1\x09"
        b[o + 2 : o + 4] = b"\x06\x07"
        b[o + 4 : o + 9] = _OID_PREFIX
        b[o + 9] = 1
        b[o + 10] = context
        return o + 11

    def result(self, o, result, diagnostic):
        b = self.b
        b[o : o + 5] = b"\xa2\x03\x02\x01\x00"
        b[o + 4] = result
        b[o + 5 : o + 12] = b"\xa3\x05\xa1\x03\x02\x01\x00"
        b[o + 11] = diagnostic
        return o + 12

    def responding_title(self, o, title):
        b = self.b
        b[o] = 0xA4
        b[o + 1] = 2 + len(title)
        b[o + 2] = 0x04
        b[o + 3] = len(title)
        return axdr.put_bytes(b, o + 4, title)

    def mechanism(self, o, mechanism, challenge):
        b = self.b
        b[o : o + 4] = b"\x88\x02\x07\x80"  # responder-acse-requirements: authentication
        b[o + 4] = 0x89
        b[o + 5] = 7
        b[o + 6 : o + 11] = _OID_PREFIX
        b[o + 11] = 2
        b[o + 12] = mechanism
        o += 13
        o = _put_tlv_header(b, o, 0xAA, 2 + len(challenge))
        o = _put_tlv_header(b, o, 0x80, len(challenge))
        return axdr.put_bytes(b, o, challenge)

    def user_information(self, o, src, n):
        """BE <len> 04 <len> <n bytes of src>."""
        b = self.b
        o = _put_tlv_header(b, o, 0xBE, 1 + axdr.len_size(n) + n)
        o = _put_tlv_header(b, o, 0x04, n)
        b[o : o + n] = src[0:n]
        return o + n

    def finish(self, o):
        """Write the 61 header right before the body; return the start of the AARE."""
        b = self.b
        body = self.start + 4
        n = o - body
        k = 1 + axdr.len_size(n)
        s = body - k
        b[s] = AARE
        axdr.put_len(b, s + 1, n)
        return s


def parse_release(r):
    """RLRQ: returns (start, length) of the user-information content or (-1, 0)."""
    r.expect(RLRQ)
    n = r.length()
    end = r.pos + n
    if end > r.end:
        raise AcseError("RLRQ length")
    ui = -1
    ui_len = 0
    while r.pos < end:
        tag = r.u8()
        n = r.length()
        stop = r.pos + n
        if stop > end:
            raise AcseError("RLRQ field length")
        if tag == 0xBE:
            r.expect(0x04)
            ui_len = r.length()
            ui = r.pos
            if ui + ui_len > stop:
                raise AcseError("user-information")
        r.pos = stop
    return ui, ui_len


def put_release_response(b, o):
    """RLRE, reason normal, no user-information."""
    b[o : o + 5] = b"\x63\x03\x80\x01\x00"
    return o + 5
