"""Host-side DSMR P1 decoding: stream framing, CRC-16/ARC, strict syntax, OBIS lines to values.

Independent of the firmware's builder on purpose: it is written from the DSMR texts, so a
telegram that both sides agree on is evidence, not an echo.

Acceptance is stricter than the CRC alone. CRC-16 lets one corrupted telegram in 65,536 through,
and a reader at 1 telegram/s on a noisy cable sees thousands of corrupted ones a day. So a
telegram is accepted (`ok`) only when, besides a matching CRC (four hex digits, or three when
the meter drops a leading 0; the stream decoder holds a meter to one way of writing it): it is
printable ASCII (a header may hold a control character) with CRLF line ends; the header is
`/XXX5...`; every line is an OBIS reference followed by `(value)` groups of the characters
DSMR allows; each OBIS appears once; the OBIS codes the telegram's specification knows
(meterkast.wire.p1_spec: DSMR 2.2 to 5 and national variants, detected or forced) carry values of
their own shape (a kWh register is digits, a point and digits, then `*kWh`; a timestamp is a
real date); unknown ones are at least abstract (0-) or electricity (1-) objects; and the
power-failure log holds as many entries as it says. A variant without CRC (DSMR 2.2/3, Q3D) is
accepted on those checks alone, with `crc_ok` None.
"""
import re
from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import crcmod.predefined

from meterkast.wire.p1_spec import SPEC_NAMES, carries_crc, detect, shape_key, shapes
from meterkast.wire.p1_units import convert

_crc16 = crcmod.predefined.mkCrcFun("crc-16")  # CRC-16/ARC
# OBIS, an optional '*255' (Q3D meters), then the '(value)' groups
_LINE = re.compile(rb"^(\d+-\d+:\d+\.\d+\.\d+)(?:\*255)?((?:\([^)]*\))+)\r?$")
_LINES = re.compile(rb"^(\d+-\d+:\d+\.\d+\.\d+)(?:\*255)?((?:\([^)\n]*\))+)\r?$", re.M)
_GROUP = re.compile(rb"\(([^)]*)\)")
# Digit-only values that are identifiers or codes, not counts: kept as text.
_TEXT_OBIS = {"1-3:0.2.8", "0-0:96.1.1", "0-0:96.14.0", "0-0:96.13.0", "1-0:0.0.0"}
# Equipment and M-Bus device identifiers (0-n:96.1.x): text, even when made of digits only,
# so leading zeros and long ids survive (a JSON number would round them)
_ID_OBIS = re.compile(r"0-\d:96\.1\.\d+$")
_AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# The whole telegram in one pass: header (no '/' or '!'; some meters put a control character
# in it), optional blank line, OBIS lines (or the bare '(value)' continuation lines of DSMR
# 2.2/3 gas readings), '!', CRC (four hex digits, or three when a meter drops the leading 0),
# CRLF.
_VALUE = rb"\([0-9A-Za-z.*:\-]*\)"
_STRICT = re.compile(
    rb"/[A-Za-z]{3}[\d-][\x01-\x09\x0b\x0c\x0e-\x20\"-.0-~]*\r\n(?:\r\n)?"
    rb"(?:(?:\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}(?:\*255)?)?(?:" + _VALUE + rb")+\r\n)*"
    rb"!(?:[0-9A-Fa-f]{3,4})?\r\n"
)
_CRC_TAIL = re.compile(rb"[0-9A-Fa-f]{3,4}")
_KEYS = {}  # OBIS -> its table key (meterkast.wire.p1_spec.shape_key), remembered
KNOWN_OBIS = frozenset(k for n in SPEC_NAMES for k in shapes(n))


def crc16(data):
    return _crc16(data)


def make_telegram(header, lines):
    """A telegram with its CRC: header without '/', lines as 'OBIS(value)...' strings or bytes."""
    body = b"/" + _b(header) + b"\r\n\r\n" + b"".join(_b(x) + b"\r\n" for x in lines) + b"!"
    return body + b"%04X\r\n" % crc16(body)


def _b(x):
    return x if isinstance(x, bytes) else x.encode("ascii")


def parse_timestamp(text):
    """DSMR YYMMDDhhmmssX to an aware UTC datetime: local time in the Netherlands (as
    dsmr_parser reads it), X (S summer / W winter) telling the repeated autumn hour apart."""
    if len(text) != 13 or text[-1] not in "SW" or not (text[:12].isascii() and text[:12].isdigit()):
        raise ValueError("bad DSMR timestamp %r" % text)
    yy = int(text[0:2])  # 70-99: the 1970 placeholder of an empty M-Bus channel
    local = datetime(yy + (2000 if yy < 70 else 1900), int(text[2:4]), int(text[4:6]),
                     int(text[6:8]), int(text[8:10]), int(text[10:12]), tzinfo=_AMSTERDAM,
                     fold=text[-1] == "W")
    return local.astimezone(timezone.utc)


@lru_cache(maxsize=512)  # a failure log repeats its entries in every telegram
def iso_timestamp(text):
    """A DSMR timestamp as ISO 8601 UTC ('...Z'); ValueError when it is not one."""
    return _iso(parse_timestamp(text))


def _iso(dt):
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (dt.year, dt.month, dt.day, dt.hour, dt.minute,
                                               dt.second)


_DECIMAL = re.compile(r"\d+\.\d+")
_INTEGER = re.compile(r"\d+")


def _value(raw):
    """'001234.567*kWh' -> (Decimal-free number, unit); other text stays a string."""
    text = raw.decode("ascii", "replace")
    value, _, unit = text.partition("*")
    if _DECIMAL.fullmatch(value):
        return float(value), unit or None
    if unit and _INTEGER.fullmatch(value):
        return int(value), unit
    return value, unit or None


def _list_value(raw):
    value = _value(raw)[0]
    if isinstance(value, str) and len(value) == 13 and value[-1] in "SW":
        try:
            return iso_timestamp(value)
        except ValueError:
            pass
    return value


class Telegram:
    """One telegram. `ok` is the verdict: CRC right and the strict checks passed (see module
    docstring); `error` says why not. `crc_ok` is None for a telegram sent without a CRC (DSMR
    2.2/3, Q3D), which can then only be accepted on its syntax, and is never "verified".

    `variant` is the specification it was checked against (meterkast.wire.p1_spec): `spec` forces
    one, else it is detected from the header and the lines. With `lenient`, a value outside the
    variant's shape does not reject the telegram: it is left out of the values and listed in
    `out_of_shape` as (line number, OBIS, text).

    `fields` maps OBIS to value as sent (number, text, or a list), `units` OBIS to unit, and
    `values(system)` gives every value with its unit (meterkast.wire.p1_values). A telegram whose
    CRC already failed is only split into fields when someone asks."""

    def __init__(self, raw, spec=None, lenient=False):
        self.raw = bytes(raw)
        self.crc_ok = False
        self.crc_sent = None
        self.crc_computed = None
        self.crc_text = b""
        self.error = None
        self.unknown_obis = []
        self.out_of_shape = []
        self.variant = spec
        self.lenient = lenient
        self._fields = None
        self._groups = {}
        self._units = {}
        self._check()
        self.ok = self.crc_ok is not False and self.error is None

    def _check(self):
        raw = self.raw
        bang = raw.rfind(b"!")
        body = raw[: bang + 1]
        self.crc_computed = crc16(body)
        tail = self.crc_text = raw[bang + 1 :].strip()
        if not tail:
            self.crc_ok = None
        else:
            ok = _CRC_TAIL.fullmatch(tail) is not None
            self.crc_sent = int(tail, 16) if ok else None
            self.crc_ok = ok and self.crc_sent == self.crc_computed
        strict = _STRICT.fullmatch(raw) is not None
        if not strict:
            self.error = self._syntax_error()
        if self.crc_ok is not False:
            self._parse(strict)
            if self.crc_ok is None and self.error is None and carries_crc(self.variant):
                self.error = "no CRC on a %s telegram" % self.variant

    @property
    def fields(self):
        if self._fields is None:
            self._parse(False)
        return self._fields

    @property
    def units(self):
        self.fields
        return self._units

    @property
    def header(self):
        end = self.raw.find(b"\n")
        return self.raw[:end].strip().decode("ascii", "replace")

    def values(self, system="dsmr5"):
        """{OBIS: value} with units, in `system` (dsmr5, si or native): see meterkast.wire.p1_values."""
        from meterkast.wire.p1_values import telegram_values

        self.fields
        return telegram_values(self._groups, self._fields, system)

    def _lines(self):
        """[(offset, OBIS, value groups)], a bare '(value)' line joined to the one before."""
        body = self.raw[: self.raw.rfind(b"!")]
        if b"\n(" not in body:  # one line per object: one pass
            return [(m.start(1), m.group(1).decode(), m.group(2))
                    for m in _LINES.finditer(body)]
        out = []
        pos = body.find(b"\n") + 1
        for line in body[pos:].split(b"\n"):
            start, pos = pos, pos + len(line) + 1
            line = line.rstrip(b"\r")
            if line.startswith(b"(") and out:
                n, obis, groups = out[-1]
                out[-1] = (n, obis, groups + line)
                continue
            m = _LINE.match(line)
            if m:
                out.append((start, m.group(1).decode(), m.group(2)))
        return out

    def _line_no(self, offset):
        return self.raw.count(b"\n", 0, offset) + 1

    def _parse(self, strict):
        fields = self._fields = {}
        units = self._units
        lines = self._lines()
        if self.variant is None:
            self.variant = detect(self.raw[: self.raw.find(b"\r")], bool(self.crc_text),
                                  {obis: g for _, obis, g in lines})
        table = shapes(self.variant)
        keys = _KEYS
        for no, obis, raw_groups in lines:
            if strict:
                key = keys.get(obis)
                shape = table.get(key) if key is not None else None
                if (shape is None or obis in fields or obis == "1-0:99.97.0"
                        or not shape.fullmatch(raw_groups)):  # the common case needs no call
                    if not self._check_shape(no, obis, raw_groups, table):
                        continue
            groups = ([raw_groups[1:-1]] if raw_groups.count(b"(") == 1
                      else _GROUP.findall(raw_groups))
            self._groups[obis] = groups
            if obis == "1-0:99.97.0":
                fields[obis] = self._failure_log(groups)
                continue
            if len(groups) == 1:
                value, unit = _value(groups[0])
                if (isinstance(value, str) and value.isdigit() and obis not in _TEXT_OBIS
                        and not _ID_OBIS.match(obis)):
                    value = int(value)
                if obis == "0-0:1.0.0" and isinstance(value, str):
                    try:
                        value = iso_timestamp(value)
                    except ValueError:
                        if strict and self.error is None:
                            self.error = "line %d: bad timestamp %r" % (
                                self._line_no(no), value)
                fields[obis] = value
                if unit:
                    units[obis] = unit
            else:  # e.g. an M-Bus reading: (capture time)(value*unit), the time as ISO 8601
                fields[obis] = [_list_value(g) for g in groups]

    def _check_shape(self, no, obis, values, table):
        """False when the line is left out (out of shape, lenient). `no`: the line's offset."""
        if obis in self._fields and self.error is None:
            self.error = "line %d: %s twice" % (self._line_no(no), obis)
        key = _KEYS.get(obis)
        if key is None:
            key = _KEYS[obis] = shape_key(obis) if len(_KEYS) < 4096 else obis
        shape = table.get(key)
        if shape is None:
            self.unknown_obis.append(obis)
            if (obis[0] not in "01" or obis[1] != "-") and self.error is None:
                # P1 carries abstract (0-) and electricity (1-) objects only; gas, heat and
                # water readings come as 0-n M-Bus channels.
                self.error = "line %d: OBIS %s is not a P1 object" % (self._line_no(no), obis)
            return True
        if not shape.fullmatch(values):
            text = values.decode("ascii", "replace")
            if self.lenient:
                self.out_of_shape.append((self._line_no(no), obis, text))
                return False
            if self.error is None:
                self.error = "line %d: %s value %r out of shape for %s" % (
                    self._line_no(no), obis, text, self.variant)
        elif obis == "1-0:99.97.0" and self.error is None:
            groups = _GROUP.findall(values)
            if groups[0] and int(groups[0]) != (len(groups) - 2) // 2:
                self.error = "line %d: 1-0:99.97.0 says %s entries, holds %d" % (
                    self._line_no(no), groups[0].decode(), (len(groups) - 2) // 2)
        return True

    def _syntax_error(self):
        raw = self.raw
        if not raw.isascii():
            return "non-ASCII byte at %d" % next(i for i, b in enumerate(raw) if b > 127)
        if not re.match(rb"/[A-Za-z]{3}[\d-][\x01-\x09\x0b\x0c\x0e-\x20\"-.0-~]*\r\n", raw):
            return "bad header"
        if not re.search(rb"!(?:[0-9A-Fa-f]{3,4})?\r\n\Z", raw):
            return "bad end"
        for no, line in enumerate(raw.split(b"\n")[1:-1], 2):
            if not line.endswith(b"\r"):
                return "line %d: no CR before LF" % no
        for no, line in enumerate(raw.split(b"\r\n")[2:-2], 3):
            if line and not line.startswith(b"(") and not _LINE.match(line):
                return "line %d: bad line syntax: %r" % (no, line[:40].decode("ascii"))
        return "bad line syntax"

    @staticmethod
    def _failure_log(groups):
        entries = []
        for i in range(2, len(groups) - 1, 2):
            end = groups[i].decode("ascii", "replace")
            dur = _value(groups[i + 1])[0]
            try:
                end = iso_timestamp(end)
            except ValueError:
                pass
            entries.append({"end": end, "duration_s": dur})
        return entries

    def as_json(self):
        d = dict(self.fields)
        d["crc_ok"] = self.crc_ok
        return d

    @property
    def timestamp(self):
        v = self.fields.get("0-0:1.0.0")
        if not v or not isinstance(v, str) or not v.endswith("Z"):
            return None
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)

    def flat(self, system="dsmr5"):
        """`fields` with every number converted to `system` (for the plain and live views)."""
        out = dict(self.fields)
        for obis, unit in self._units.items():
            text = self._groups[obis][0].partition(b"*")[0].decode()
            out[obis] = convert(text, unit, system)[0]
        return out


class P1StreamDecoder:
    """Cuts a byte stream into telegrams ('/' ... '!XXXX' CRLF), whatever the read boundaries.

    Bytes before a '/' are counted as skipped; a telegram longer than `max_len` is abandoned.
    (Plain P1 only; the console uses meterkast.wire.frames, which also finds encrypted and HDLC
    frames.)
    """

    def __init__(self, max_len=8192):
        self.buf = bytearray()
        self.max_len = max_len
        self.skipped = 0

    def feed(self, data):
        self.buf += data
        out = []
        while True:
            start = self.buf.find(b"/")
            if start < 0:
                self.skipped += len(self.buf)
                self.buf.clear()
                return out
            if start:
                self.skipped += start
                del self.buf[:start]
            m = re.search(rb"![0-9A-Za-z]{0,4}\r\n", self.buf)
            if not m:
                if len(self.buf) > self.max_len:
                    self.skipped += 1
                    del self.buf[:1]
                    continue
                return out
            nxt = self.buf.find(b"/", 1, m.start())
            if nxt > 0:
                # A new telegram started before this one ended: the first one was cut short.
                self.skipped += nxt
                del self.buf[:nxt]
                continue
            out.append(Telegram(self.buf[: m.end()]))
            del self.buf[: m.end()]
