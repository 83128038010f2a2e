"""Host-side DSMR P1 decoding: stream framing, CRC-16/ARC, OBIS lines to values.

Independent of the firmware's builder on purpose: it is written from the DSMR 5.0.2 text, so a
telegram that both sides agree on is evidence, not an echo.
"""
import re
from datetime import datetime, timedelta, timezone

import crcmod.predefined

_crc16 = crcmod.predefined.mkCrcFun("crc-16")  # CRC-16/ARC
_LINE = re.compile(rb"^(\d+-\d+:\d+\.\d+\.\d+)((?:\([^)]*\))+)\r?$")
_GROUP = re.compile(rb"\(([^)]*)\)")
# Digit-only values that are identifiers or codes, not counts: kept as text.
_TEXT_OBIS = {"1-3:0.2.8", "0-0:96.1.1", "0-0:96.14.0", "0-0:96.13.0"}
_AMSTERDAM_STD = timezone(timedelta(hours=1))
_AMSTERDAM_DST = timezone(timedelta(hours=2))


def crc16(data):
    return _crc16(data)


def parse_timestamp(text):
    """DSMR YYMMDDhhmmssX (X = S summer / W winter) to an aware UTC datetime."""
    if len(text) != 13 or text[-1] not in "SW":
        raise ValueError("bad DSMR timestamp %r" % text)
    tz = _AMSTERDAM_DST if text[-1] == "S" else _AMSTERDAM_STD
    local = datetime.strptime("20" + text[:12], "%Y%m%d%H%M%S").replace(tzinfo=tz)
    return local.astimezone(timezone.utc)


def _value(raw):
    """'001234.567*kWh' -> (Decimal-free number, unit); other text stays a string."""
    text = raw.decode("ascii", "replace")
    value, _, unit = text.partition("*")
    if re.fullmatch(r"\d+\.\d+", value):
        return float(value), unit or None
    if re.fullmatch(r"\d+", value) and unit:
        return int(value), unit
    return value, unit or None


class Telegram:
    def __init__(self, raw):
        self.raw = bytes(raw)
        self.header = ""
        self.fields = {}  # OBIS -> value (number, str, or list for the failure log)
        self.units = {}
        self.crc_ok = False
        self.crc_sent = None
        self.crc_computed = None
        self._parse()

    def _parse(self):
        raw = self.raw
        bang = raw.rfind(b"!")
        body = raw[: bang + 1]
        self.crc_computed = crc16(body)
        tail = raw[bang + 1 :].strip()
        try:
            self.crc_sent = int(tail[:4], 16) if tail else None
        except ValueError:
            self.crc_sent = None
        self.crc_ok = self.crc_sent == self.crc_computed and bool(re.fullmatch(rb"[0-9A-F]{4}", tail))
        lines = body[:-1].split(b"\n")
        self.header = lines[0].strip().decode("ascii", "replace")
        for line in lines[1:]:
            m = _LINE.match(line.rstrip(b"\r") + b"\r")
            if not m:
                continue
            obis = m.group(1).decode()
            groups = _GROUP.findall(m.group(2))
            if obis == "1-0:99.97.0":
                self.fields[obis] = self._failure_log(groups)
                continue
            if len(groups) == 1:
                value, unit = _value(groups[0])
                if isinstance(value, str) and value.isdigit() and obis not in _TEXT_OBIS:
                    value = int(value)
                if obis == "0-0:1.0.0" and isinstance(value, str):
                    try:
                        value = parse_timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
                    except ValueError:
                        pass
                self.fields[obis] = value
                if unit:
                    self.units[obis] = unit
            else:
                self.fields[obis] = [_value(g)[0] for g in groups]

    @staticmethod
    def _failure_log(groups):
        entries = []
        for i in range(2, len(groups) - 1, 2):
            end = groups[i].decode()
            dur = _value(groups[i + 1])[0]
            try:
                end = parse_timestamp(end).strftime("%Y-%m-%dT%H:%M:%SZ")
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
        return datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) if v else None


class P1StreamDecoder:
    """Cuts a byte stream into telegrams ('/' ... '!XXXX' CRLF), whatever the read boundaries.

    Bytes before a '/' are counted as skipped; a telegram longer than `max_len` is abandoned.
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
