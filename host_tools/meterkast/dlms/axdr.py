"""A-XDR Data (DLMS) decoding and the few encoders a head-end needs, plus COSEM date-time."""

import struct
from datetime import datetime, timedelta, timezone

from meterkast.dlms import localtime


class AxdrError(ValueError):
    pass


class Structure(list):
    """A DLMS structure (arrays decode to plain lists)."""


class OctetString(bytes):
    pass


_FIXED = {
    0x03: (1, lambda b: bool(b[0])),
    0x05: (4, lambda b: struct.unpack(">i", b)[0]),
    0x06: (4, lambda b: struct.unpack(">I", b)[0]),
    0x0F: (1, lambda b: struct.unpack(">b", b)[0]),
    0x10: (2, lambda b: struct.unpack(">h", b)[0]),
    0x11: (1, lambda b: b[0]),
    0x12: (2, lambda b: struct.unpack(">H", b)[0]),
    0x14: (8, lambda b: struct.unpack(">q", b)[0]),
    0x15: (8, lambda b: struct.unpack(">Q", b)[0]),
    0x16: (1, lambda b: b[0]),
    0x17: (4, lambda b: struct.unpack(">f", b)[0]),
    0x18: (8, lambda b: struct.unpack(">d", b)[0]),
    0x19: (12, lambda b: OctetString(b)),
    0x1A: (5, lambda b: OctetString(b)),
    0x1B: (4, lambda b: OctetString(b)),
}


def read_length(buf, p):
    if p >= len(buf):
        raise AxdrError("truncated length")
    n = buf[p]
    if n < 0x80:
        return n, p + 1
    k = n & 0x7F
    if k == 0 or k > 4 or p + 1 + k > len(buf):
        raise AxdrError("bad length form")
    return int.from_bytes(buf[p + 1 : p + 1 + k], "big"), p + 1 + k


def encode_length(n):
    if n < 0x80:
        return bytes((n,))
    if n < 0x100:
        return bytes((0x81, n))
    return bytes((0x82, n >> 8, n & 0xFF))


def decode(buf, p=0, depth=0):
    """(value, next offset) of the Data element at buf[p]."""
    if depth > 16:
        raise AxdrError("nesting too deep")
    if p >= len(buf):
        raise AxdrError("truncated data")
    tag = buf[p]
    p += 1
    if tag == 0x00:
        return None, p
    if tag in (0x01, 0x02):
        n, p = read_length(buf, p)
        out = Structure() if tag == 0x02 else []
        for _ in range(n):
            v, p = decode(buf, p, depth + 1)
            out.append(v)
        return out, p
    if tag in (0x09, 0x0A):
        n, p = read_length(buf, p)
        if p + n > len(buf):
            raise AxdrError("truncated string")
        raw = bytes(buf[p : p + n])
        return (OctetString(raw) if tag == 0x09 else raw.decode("ascii", "replace")), p + n
    if tag == 0x04:
        n, p = read_length(buf, p)
        k = (n + 7) // 8
        return bytes(buf[p : p + k]), p + k
    if tag in _FIXED:
        n, fn = _FIXED[tag]
        if p + n > len(buf):
            raise AxdrError("truncated value")
        return fn(bytes(buf[p : p + n])), p + n
    raise AxdrError("unknown data tag 0x%02x" % tag)


def decode_all(buf):
    value, p = decode(buf, 0)
    if p != len(buf):
        raise AxdrError("%d bytes after the data" % (len(buf) - p))
    return value


def date_time_to_utc(raw):
    """A 12-octet COSEM date-time to an aware UTC datetime.

    The deviation is minutes from local time to UTC (Blue Book): UTC = local + deviation.
    When it is unspecified (0x8000) the Europe/Amsterdam rule decides, helped by the DST bit.
    """
    if len(raw) != 12:
        raise AxdrError("date-time is 12 octets, got %d" % len(raw))
    year = (raw[0] << 8) | raw[1]
    sec = raw[7] if raw[7] != 0xFF else 0
    naive = datetime(year, raw[2], raw[3], raw[5], raw[6], sec)
    deviation = struct.unpack(">h", raw[9:11])[0]
    if deviation != -0x8000:
        return (naive + timedelta(minutes=deviation)).replace(tzinfo=timezone.utc)
    return localtime.from_local(naive)


def date_time_local(raw):
    """The same instant as an aware datetime in the meter's own offset."""
    utc = date_time_to_utc(raw)
    deviation = struct.unpack(">h", raw[9:11])[0]
    if deviation != -0x8000:
        return utc.astimezone(timezone(timedelta(minutes=-deviation)))
    return localtime.to_local(utc)


def date_time(local_dt):
    """12 octets for an aware datetime, in Amsterdam wall time with deviation and DST bit."""
    utc = local_dt.astimezone(timezone.utc)
    local = localtime.to_local(utc)
    offset = int(local.utcoffset().total_seconds() // 60)
    return (
        struct.pack(">HBBB", local.year, local.month, local.day, local.isoweekday())
        + bytes((local.hour, local.minute, local.second, 0))
        + struct.pack(">h", -offset)
        + bytes((0x80 if offset == 120 else 0,))
    )


def octet_string(raw):
    return b"\x09" + encode_length(len(raw)) + bytes(raw)


def capture_object(class_id, obis, attribute=2, data_index=0):
    return (
        b"\x02\x04"
        + struct.pack(">BH", 0x12, class_id)
        + octet_string(obis)
        + struct.pack(">Bb", 0x0F, attribute)
        + struct.pack(">BH", 0x12, data_index)
    )


def range_descriptor(restricting, from_local, to_local, columns=()):
    """Selective access by range (selector 1) parameters."""
    out = (
        b"\x02\x04"
        + restricting
        + octet_string(date_time(from_local))
        + octet_string(date_time(to_local))
    )
    out += b"\x01" + encode_length(len(columns)) + b"".join(columns)
    return out


def entry_descriptor(first, last=0, first_column=1, last_column=0):
    """Selective access by entry (selector 2) parameters; entries and columns count from 1."""
    return (
        b"\x02\x04"
        + struct.pack(">BI", 0x06, first)
        + struct.pack(">BI", 0x06, last)
        + struct.pack(">BH", 0x12, first_column)
        + struct.pack(">BH", 0x12, last_column)
    )
