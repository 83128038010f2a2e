"""The values of a DLMS push (meterkast.wire.push): a data-notification body turned into a
PushReading keyed like P1 ("1-0:1.8.0"), numbers as {"value", "unit"} in the units asked for
(meterkast.wire.p1_units), ids as strings, times as ISO 8601 with the meter's offset.

Three shapes of body: named (OBIS, value, scaler-unit), a list of capture objects followed by
their values (Landis+Gyr), or positional lists (meterkast.wire.push_lists); anything else keeps
its values by position under "unnamed" and gets no P1 key by guess.
"""
from datetime import datetime
from decimal import Decimal

from meterkast.dlms import axdr
from meterkast.wire import push_lists as lists
from meterkast.wire.p1_units import convert


class PushError(ValueError):
    """Not a data-notification we can read (the text says why, in one line)."""


# -- values ---------------------------------------------------------------------------------
def _is_obis(x):
    return isinstance(x, axdr.OctetString) and len(x) == 6 and x[5] == 0xFF


def _is_scaler_unit(x):
    return (isinstance(x, axdr.Structure) and len(x) == 2 and all(type(v) is int for v in x)
            and -128 <= x[0] <= 127 and 0 <= x[1] <= 255)


def obis_key(o):
    """OBIS octets as P1 writes them: '1-0:1.8.0'. A HAN list's channel 1 (Kamstrup's and
    Aidon's 1.1.x.y.z, Kamstrup's clock 0.1.1.0.0) is channel 0 in P1, so it is written so."""
    b = 0 if o[1] == 1 and (o[0] == 1 or bytes(o[2:5]) == b"\x01\x00\x00") else o[1]
    return "%d-%d:%d.%d.%d" % (o[0], b, o[2], o[3], o[4])


def _text(v):
    if isinstance(v, bytes):
        if v and all(32 <= c < 127 for c in v):
            return v.decode("ascii")
        return v.hex().upper()
    return str(v)


def iso_time(raw):
    """A 12-octet COSEM date-time as ISO 8601 with the meter's offset; None if not a date."""
    try:
        return axdr.date_time_local(raw).isoformat()
    except (ValueError, OverflowError, axdr.AxdrError):
        return None


class PushReading:
    """One decoded push, shaped like a meterkast.wire.p1.Telegram where the console needs it
    (fields, values(units), flat(units), variant, crc_ok, timestamp, out_of_shape)."""

    is_push = True
    out_of_shape = ()
    error = None

    def __init__(self, invoke_id, stamp, body, authenticated=None):
        self.invoke_id = invoke_id
        # True: GCM tag verified; False: encrypted without a tag (0x20); None: sent in clear
        self.authenticated = authenticated
        # as a telegram's CRC: the frame's check (HDLC FCS, GCM tag); None: nothing checked
        self.crc_ok = None if authenticated is False else True
        self.items = {}  # key -> ("num", Decimal, unit) | ("text", str) | ("time", iso)
        self.unnamed = []
        self.list_name = None
        self.format = None
        self.time = iso_time(stamp) if stamp else None
        _interpret(self, body)
        if self.time and lists.CLOCK not in self.items:
            self.items[lists.CLOCK] = ("time", self.time)
        clock = self.items.get(lists.CLOCK)
        self.timestamp = (datetime.fromisoformat(clock[1]) if clock and clock[0] == "time"
                          and clock[1] else None)
        self.variant = "dlms-push " + self.format

    def values(self, system="dsmr5"):
        out = {}
        for key, item in self.items.items():
            if item[0] == "num":
                v, u = _convert(item[1], item[2], system)
                out[key] = {"value": v, "unit": u}
            else:
                out[key] = item[1]
        return out

    def flat(self, system="dsmr5"):
        return {k: (v["value"] if isinstance(v, dict) else v)
                for k, v in self.values(system).items()}

    @property
    def fields(self):
        return self.flat("native")

    def meta(self):
        d = {"format": self.format, "invoke_id": self.invoke_id,
             "authenticated": self.authenticated}
        if self.list_name:
            d["list"] = self.list_name
        if self.time:
            d["time"] = self.time
        if self.unnamed:
            d["unnamed"] = self.unnamed
        return d


def _convert(d, unit, system):
    if unit is None:
        return (int(d) if d == d.to_integral_value() else float(d)), None
    v, u = convert(format(abs(d), "f"), unit, system)
    return (-v if d < 0 else v), u


def _number(value, scaler, unit):
    if type(value) is not int:
        raise PushError("expected a number, got %r" % (value,))
    return ("num", Decimal(value).scaleb(scaler), unit)


def _plain(value):
    """A value without a known meaning, for "unnamed" (JSON-safe)."""
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        t = iso_time(value) if len(value) == 12 else None
        return t or _text(value)
    return value


def _interpret(r, body):
    values = list(body) if isinstance(body, list) else [body]
    if _capture_objects(values):
        return _captured(r, values)
    named, rest, setup = _named(values)
    if setup is not None:
        r.list_name, values = setup, rest
    if named:
        r.format = "obis"
        scalers = {}
        texts = [x for x in rest if isinstance(x, str)]
        list_id = next((_text(v) for o, v, _ in named if obis_key(o) == "1-0:0.2.129"), None)
        r.list_name = r.list_name or (texts[0] if texts else list_id)
        if r.list_name and r.list_name.startswith("Kamstrup"):
            scalers = lists.KAMSTRUP
        elif r.list_name and r.list_name.startswith("KFM"):
            scalers = lists.KAIFA
        for o, v, su in named:
            r.items[obis_key(o)] = _named_value(o, v, su, scalers)
        for x in rest:
            t = iso_time(x) if isinstance(x, bytes) and len(x) == 12 else None
            if t and lists.CLOCK not in r.items:
                r.items[lists.CLOCK] = ("time", t)
            elif not (isinstance(x, str) and x == r.list_name):
                r.unnamed.append(_plain(x))
        return
    table = _positional(values, r.list_name)
    if table is None:
        r.format = "unnamed"  # values by position: no P1 key is given by guess
        r.unnamed = [_plain(v) for v in values]
        return
    r.format = table[0]
    if r.list_name is None and len(values) > 1 and table[1][0][1:] == (None, None):
        r.list_name = _text(values[0])  # a list id or device name opens the list
    for (key, scaler, unit), v in zip(table[1], values):
        if unit == "skip":
            continue
        if key is None:
            r.unnamed.append(_plain(v))
        elif unit == "time":
            r.items[key] = ("time", iso_time(v))
        elif scaler is None:
            r.items[key] = ("text", _text(v))
        else:
            r.items[key] = _number(v, scaler, unit)


def _capture_objects(values):
    """True when the first value lists the push's capture objects (class, OBIS, attribute,
    data index) and the values follow one for one (Landis+Gyr E450)."""
    objs = values[0] if values and isinstance(values[0], list) else None
    return bool(objs) and len(objs) == len(values) and all(
        isinstance(o, axdr.Structure) and len(o) == 4 and _is_obis(o[1]) for o in objs)


def _captured(r, values):
    r.format = "capture objects"
    for (cls, obis, attr, _), v in zip(values[0][1:], values[1:]):
        key = obis_key(obis)
        if attr != 2 or cls == 40:  # logical names and the push setup itself
            continue
        if type(v) is int:
            scaler, unit = lists.LANDIS_GYR.get((obis[2], obis[3]), (0, None))
            r.items[key] = _number(v, scaler, unit)
        else:
            r.items[key] = _named_value(obis, v, None, {})


def _named(values):
    """([(obis, value, scaler-unit or None)], [other values], push setup name or None)."""
    named, rest = [], []
    r_name = None
    i = 0
    while i < len(values):
        x = values[i]
        if isinstance(x, axdr.Structure) and len(x) >= 2 and _is_obis(x[0]):
            named.append((x[0], x[1], x[2] if len(x) > 2 and _is_scaler_unit(x[2]) else None))
            i += 1
        elif _is_obis(x) and x[2:5] == b"\x19\x09\x00" and not named and r_name is None:
            r_name = obis_key(x)  # the push setup's own name (0-x:25.9.0) opens the list
            i += 1
        elif _is_obis(x) and i + 1 < len(values) and not _is_obis(values[i + 1]):
            su = values[i + 2] if i + 2 < len(values) and _is_scaler_unit(values[i + 2]) else None
            named.append((x, values[i + 1], su))
            i += 3 if su is not None else 2
        else:
            rest.append(x)
            i += 1
    return named, rest, r_name


def _named_value(obis, value, su, scalers):
    key = obis_key(obis)
    if key in lists.TEXT or isinstance(value, str):
        return ("text", _text(value))
    if isinstance(value, bytes) and len(value) == 12 and iso_time(value):
        return ("time", iso_time(value))
    if isinstance(value, bytes):
        return ("text", _text(value))
    if type(value) is not int:
        return ("text", str(_plain(value)))
    if su is not None:
        return _number(value, su[0], lists.UNITS.get(su[1], "unit %d" % su[1]))
    scaler, unit = scalers.get((obis[2], obis[3]), (0, None))
    return _number(value, scaler, unit)


def _positional(values, setup=None):
    """(name, table) of a list sent without OBIS codes, or None. The types must fit too."""
    if len(values) == 1 and type(values[0]) is int:
        return "list 1", lists.LIST_1
    head = _text(values[0]) if values and isinstance(values[0], (bytes, str)) else ""
    for (name, match, count), table in lists.POSITIONAL.items():
        if len(values) != count:
            continue
        if match == "@time":
            if not (isinstance(values[0], bytes) and len(values[0]) == 12 and iso_time(values[0])):
                continue
        elif match.startswith("@"):
            if setup != match[1:]:
                continue
        elif not head.startswith(match):
            continue
        if all(_fits(entry, v) for entry, v in zip(table, values)):
            return name, table
    return None


def _fits(entry, value):
    key, scaler, unit = entry
    if key is None or unit == "skip":
        return True
    if unit == "time":
        return isinstance(value, bytes) and len(value) == 12 and iso_time(value) is not None
    return (type(value) is int) == (scaler is not None)


