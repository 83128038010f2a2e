# meterkast: A-XDR (and the few BER lengths DLMS borrows) written into and read from buffers
# MIT license
#
# Writers take a bytearray and an offset and return the offset after what they wrote, so a
# response is built in place in a preallocated buffer. The Reader walks a request without
# slicing it. Tags are the DLMS Data CHOICE numbers (Blue Book, Data ::= CHOICE).
from micropython import const
from util import tz

NULL = const(0x00)
ARRAY = const(0x01)
STRUCTURE = const(0x02)
BOOLEAN = const(0x03)
DOUBLE_LONG = const(0x05)
DOUBLE_LONG_UNSIGNED = const(0x06)
OCTET_STRING = const(0x09)
VISIBLE_STRING = const(0x0A)
INTEGER = const(0x0F)
LONG = const(0x10)
UNSIGNED = const(0x11)
LONG_UNSIGNED = const(0x12)
LONG64 = const(0x14)
LONG64_UNSIGNED = const(0x15)
ENUM = const(0x16)
DATE_TIME = const(0x19)

_DEVIATION_UNSPECIFIED = const(0x8000)
CLOCK_STATUS_DST = const(0x80)
_MAX_DEPTH = const(8)


class AxdrError(ValueError):
    """A request that is not well-formed A-XDR (truncated, wrong tag, bad length form)."""


# ---- writers --------------------------------------------------------------------------------


def put_len(b, o, n):
    """Length/count: n < 0x80 in one byte, else 0x81 n or 0x82 nn nn (BER long form)."""
    if n < 0x80:
        b[o] = n
        return o + 1
    if n < 0x100:
        b[o] = 0x81
        b[o + 1] = n
        return o + 2
    b[o] = 0x82
    b[o + 1] = n >> 8
    b[o + 2] = n & 0xFF
    return o + 3


def len_size(n):
    return 1 if n < 0x80 else (2 if n < 0x100 else 3)


def put_u16(b, o, v):
    b[o] = (v >> 8) & 0xFF
    b[o + 1] = v & 0xFF
    return o + 2


def put_u32(b, o, v):
    b[o] = (v >> 24) & 0xFF
    b[o + 1] = (v >> 16) & 0xFF
    b[o + 2] = (v >> 8) & 0xFF
    b[o + 3] = v & 0xFF
    return o + 4


def put_bytes(b, o, src):
    n = len(src)
    b[o : o + n] = src
    return o + n


def put_tag_u8(b, o, tag, v):
    b[o] = tag
    b[o + 1] = v & 0xFF
    return o + 2


def put_tag_u16(b, o, tag, v):
    b[o] = tag
    return put_u16(b, o + 1, v)


def put_tag_u32(b, o, tag, v):
    b[o] = tag
    return put_u32(b, o + 1, v)


def put_octets(b, o, src):
    """octet-string: 09 <len> <bytes>."""
    b[o] = OCTET_STRING
    o = put_len(b, o + 1, len(src))
    return put_bytes(b, o, src)


def put_header(b, o, tag, count):
    """array / structure header: tag and element count."""
    b[o] = tag
    return put_len(b, o + 1, count)


def put_logical_name(b, o, ln):
    """logical_name attribute: 09 06 <6 bytes>."""
    b[o] = OCTET_STRING
    b[o + 1] = 6
    b[o + 2 : o + 8] = ln
    return o + 8


class EncodedStream:
    """An answer longer than a block (the profile buffer, the object list): encoded one element
    at a time into a scratch buffer and copied out block by block, never held whole. _encn
    bytes of the current element are encoded, _encpos of them sent."""

    def __init__(self, element_max):
        self._enc = bytearray(element_max)
        self._encmv = memoryview(self._enc)
        self._encn = 0
        self._encpos = 0

    def _copy_out(self, b, o, end):
        """Copy what is left of the current element into b[o:end]; the new offset."""
        k = self._encn - self._encpos
        if k > end - o:
            k = end - o
        b[o : o + k] = self._encmv[self._encpos : self._encpos + k]
        self._encpos += k
        return o + k


class DateTimeCodec:
    """COSEM date-time (12 octets) <-> meter-epoch UTC seconds, in Europe/Amsterdam local time.

    The deviation is the Blue Book's "minutes from local time to UTC": -60 in winter (CET),
    -120 in summer (CEST, clock status bit 0x80). Both reference clients read it that way
    (dlms-cosem negates it into a UTC offset; gurux does the same unless useUtc2NormalTime).
    """

    def __init__(self):
        self.local_time = tz.LocalTime()
        self._civil = [0] * 7

    def put(self, b, o, t_utc, tagged=True):
        """Write 09 0C <date-time> (or only the 12 octets) for UTC time t_utc."""
        if tagged:
            b[o] = OCTET_STRING
            b[o + 1] = 12
            o += 2
        lt = self.local_time
        summer = lt.is_summer(t_utc)
        offset = tz.SUMMER_OFFSET if summer else tz.STANDARD_OFFSET
        c = self._civil
        tz.civil_into(t_utc + offset, c)
        o = put_u16(b, o, c[0])
        b[o] = c[1]
        b[o + 1] = c[2]
        b[o + 2] = c[6] + 1  # 1 = Monday
        b[o + 3] = c[3]
        b[o + 4] = c[4]
        b[o + 5] = c[5]
        b[o + 6] = 0  # hundredths
        o = put_u16(b, o + 7, (-(offset // 60)) & 0xFFFF)
        b[o] = CLOCK_STATUS_DST if summer else 0
        return o + 1

    def local_seconds(self, b, o):
        """The local wall-clock time in a 12-octet date-time as seconds since the meter epoch,
        ignoring day of week, deviation and status (range selection compares date and time
        only). Unspecified (0xFF) seconds and hundredths count as 0. Raises AxdrError when the
        date or hour/minute is unspecified or out of range."""
        y = (b[o] << 8) | b[o + 1]
        mo = b[o + 2]
        d = b[o + 3]
        h = b[o + 5]
        mi = b[o + 6]
        s = b[o + 7]
        if s == 0xFF:
            s = 0
        if not (2000 <= y < 2100 and 1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60):
            raise AxdrError("date-time")
        if s > 59:
            raise AxdrError("date-time")
        return tz.to_seconds(y, mo, d, h, mi, s)

    def local_of(self, t_utc):
        return self.local_time.local(t_utc)


# ---- reader ---------------------------------------------------------------------------------


class Reader:
    """Cursor over a received APDU (a bytearray or memoryview and bounds); reused, not
    reallocated. Every read is bounds-checked and raises AxdrError when the APDU is short."""

    def __init__(self):
        self.buf = b""
        self.pos = 0
        self.end = 0

    def reset(self, buf, start, end):
        self.buf = buf
        self.pos = start
        self.end = end
        return self

    def remaining(self):
        return self.end - self.pos

    def need(self, n):
        if self.pos + n > self.end:
            raise AxdrError("truncated")

    def u8(self):
        if self.pos >= self.end:
            raise AxdrError("truncated")
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def u16(self):
        self.need(2)
        b = self.buf
        p = self.pos
        self.pos = p + 2
        return (b[p] << 8) | b[p + 1]

    def u32(self):
        self.need(4)
        b = self.buf
        p = self.pos
        self.pos = p + 4
        return (b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]

    def length(self):
        """A-XDR length or count (one byte, or 0x81/0x82/0x83/0x84 long form)."""
        n = self.u8()
        if n < 0x80:
            return n
        k = n & 0x7F
        if k == 0 or k > 4:
            raise AxdrError("length form")
        v = 0
        for _ in range(k):
            v = (v << 8) | self.u8()
        return v

    def expect(self, tag):
        if self.u8() != tag:
            raise AxdrError("tag")

    def skip(self, n):
        self.need(n)
        self.pos += n

    def octets(self, want=-1):
        """An octet-string (tag included); returns its start offset, length in self.n."""
        self.expect(OCTET_STRING)
        n = self.length()
        if want >= 0 and n != want:
            raise AxdrError("octet-string length")
        self.need(n)
        start = self.pos
        self.pos += n
        self.n = n
        return start

    def unsigned_value(self):
        """Any unsigned/signed integer Data element as an int (for selective-access
        parameters that clients encode with different widths)."""
        tag = self.u8()
        if tag == UNSIGNED or tag == ENUM:
            return self.u8()
        if tag == INTEGER:
            v = self.u8()
            return v - 256 if v > 127 else v
        if tag == LONG_UNSIGNED:
            return self.u16()
        if tag == LONG:
            v = self.u16()
            return v - 65536 if v > 32767 else v
        if tag == DOUBLE_LONG_UNSIGNED:
            return self.u32()
        if tag == DOUBLE_LONG:
            v = self.u32()
            return v - 0x100000000 if v > 0x7FFFFFFF else v
        raise AxdrError("integer tag")

    def skip_data(self, depth=0):
        """Skip one Data element of any type."""
        if depth > _MAX_DEPTH:
            raise AxdrError("nesting")
        tag = self.u8()
        if tag == ARRAY or tag == STRUCTURE:
            for _ in range(self.length()):
                self.skip_data(depth + 1)
        elif tag in (OCTET_STRING, VISIBLE_STRING, 0x0C):
            self.skip(self.length())
        elif tag == 0x04:  # bit-string: length in bits
            self.skip((self.length() + 7) // 8)
        elif tag == NULL:
            pass
        elif tag in (BOOLEAN, INTEGER, UNSIGNED, ENUM):
            self.skip(1)
        elif tag == LONG or tag == LONG_UNSIGNED:
            self.skip(2)
        elif tag in (DOUBLE_LONG, DOUBLE_LONG_UNSIGNED, 0x17):  # 0x17 float32
            self.skip(4)
        elif tag in (LONG64, LONG64_UNSIGNED, 0x18):  # 0x18 float64
            self.skip(8)
        elif tag == DATE_TIME:
            self.skip(12)
        elif tag == 0x1A:  # date
            self.skip(5)
        elif tag == 0x1B:  # time
            self.skip(4)
        else:
            raise AxdrError("data tag")
