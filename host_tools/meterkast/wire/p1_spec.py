"""P1 telegram specifications as data: one table per DSMR generation and national variant.

Each variant says whether its telegrams carry a CRC, which header it has, and the value shape
(a regular expression over the `(value)` groups) of every OBIS object it knows. An object a
variant does not know is allowed when it is abstract (0-) or electricity (1-); its value is
kept, unchecked. 'n' in a key stands for any M-Bus channel (1-9): gas, water, heat.

`check_tables()` verifies the tables themselves (well-formed keys, compiling shapes, a unit
for every register), and `detect()` picks the variant of a telegram from its header and lines.
"""
import re

_NUM = r"\d{1,10}(?:\.\d{1,7})?"
_TS = r"\d{12}[SW]"
_HEX = r"[0-9A-Fa-f]*"
_ID = r"[0-9A-Za-z]*"


def _v(unit, num=_NUM):
    return r"\(" + num + r"\*" + unit + r"\)"


def _one(inner):
    return r"\(" + inner + r"\)"


_MBUS_READING = _one(_TS) + r"\((?:" + _NUM + r"\*(?:m3|GJ|kWh|MWh)|0+)\)"  # 0+: empty channel
_FAILURE_LOG = (r"\(\d{0,2}\)(?:\(0-0:96\.7\.19\)(?:\(" + _TS + r"\)\(\d{1,10}\*s\))*)?")
_MAX_DEMAND = (r"\(\d{1,2}\)\(1-0:1\.6\.0\)\(1-0:1\.6\.0\)(?:\(" + _TS + r"\)\(" + _TS + r"\)"
               + _v("kW") + ")*")


def _registers(energy, power, extra=()):
    t = {}
    for o in ("1.8.1", "1.8.2", "2.8.1", "2.8.2") + tuple(extra):
        t["1-0:" + o] = _v(energy)
    for o in ("1.7.0", "2.7.0", "21.7.0", "41.7.0", "61.7.0", "22.7.0", "42.7.0", "62.7.0"):
        t["1-0:" + o] = _v(power)
    return t


def _dsmr45(energy="kWh", power="kW"):
    t = {
        "1-3:0.2.8": _one(r"\d{2}"),
        "0-0:1.0.0": _one(_TS),
        "0-0:96.1.1": _one(_HEX),
        "0-0:96.14.0": _one(r"\d{4}"),
        "0-0:96.13.0": _one(_HEX),
        "0-0:96.13.1": _one(_HEX),
        "0-0:96.7.21": _one(r"\d{1,10}"),
        "0-0:96.7.9": _one(r"\d{1,10}"),
        "0-0:17.0.0": _v("kW"),
        "0-0:96.3.10": _one(r"\d"),
        "1-0:99.97.0": _FAILURE_LOG,
        "0-n:24.1.0": _one(r"\d{3}"),
        "0-n:96.1.0": _one(_ID),
        "0-n:96.1.1": _one(_ID),
        "0-n:24.4.0": _one(r"\d"),
        "0-n:24.2.1": _MBUS_READING,
        "0-n:24.2.3": _MBUS_READING,
    }
    t.update(_registers(energy, power))
    for o in ("32.7.0", "52.7.0", "72.7.0"):
        t["1-0:" + o] = _v("V")
    for o in ("31.7.0", "51.7.0", "71.7.0"):
        t["1-0:" + o] = _v("A")
    for o in ("32.32.0", "52.32.0", "72.32.0", "32.36.0", "52.36.0", "72.36.0"):
        t["1-0:" + o] = _one(r"\d{1,10}")
    return t


def _dsmr2(limit_unit, device_type):
    t = {
        "0-0:96.1.1": _one(_HEX),
        "0-0:96.14.0": _one(r"\d{4}"),
        "0-0:17.0.0": _v(limit_unit),
        "0-0:96.3.10": _one(r"\d"),
        "0-0:96.13.0": _one(_HEX),
        "0-0:96.13.1": _one(_HEX),
        "0-n:24.1.0": _one(device_type),
        "0-n:96.1.0": _one(_ID),
        # the gas reading: capture time, ..., unit, then the value on a line of its own
        "0-n:24.3.0": (_one(r"\d{12}") + _one(r"\d{2}") + _one(r"\d{2}") + _one(r"\d")
                       + r"\(0-\d:24\.2\.1\)\((?:m3|GJ)\)" + _one(_NUM)),
        "0-n:24.4.0": _one(r"\d"),
    }
    t.update(_registers("kWh", "kW"))
    return t


def _with(base, **extra):
    t = dict(base)
    t.update({k.replace("_", ":", 1).replace("_", "."): v for k, v in extra.items()})
    return t


_DSMR5 = _dsmr45()
_KVAR = {"1-0:%s" % o: _v("kvarh") for o in ("3.8.0", "4.8.0", "5.8.0", "6.8.0", "7.8.0",
                                             "8.8.0")}
_KVAR.update({"1-0:%s" % o: _v("kvar") for o in ("3.7.0", "4.7.0", "5.7.0", "6.7.0",
                                                 "7.7.0", "8.7.0")})
_TOTALS = {"1-0:1.8.0": _v("kWh"), "1-0:2.8.0": _v("kWh"), "0-0:42.0.0": _one(_HEX)}

# name -> (carries a CRC, header pattern or None, shapes)
VARIANTS = {
    "dsmr2.2": (False, None, _dsmr2("kW", r"\d{1,3}")),
    "dsmr3": (False, None, _dsmr2("A", r"\d{1,3}")),
    "dsmr4": (True, None, _DSMR5),
    "dsmr5": (True, None, _DSMR5),
    "fluvius": (True, r"/FLU\d", _with(_DSMR5, **{
        "0-0_96_1_4": _one(r"\d{5}"), "1-0_1_4_0": _v("kW"),
        "1-0_1_6_0": _one(_TS) + _v("kW"), "0-0_98_1_0": _MAX_DEMAND,
        "1-0_31_4_0": _v("A")})),
    "smarty": (True, r"/(?:Lux|SAG)\d", _with(dict(_DSMR5, **_TOTALS, **_KVAR), **{
        "0-0_17_0_0": _v("(?:kW|kVA)"), "1-0_31_4_0": _v("A")})),
    "eon-hu": (True, r"/SAG\d", _with(dict(_DSMR5, **_TOTALS, **_KVAR), **{
        "1-0_1_8_3": _v("kWh"), "1-0_1_8_4": _v("kWh"), "1-0_2_8_3": _v("kWh"),
        "1-0_2_8_4": _v("kWh"), "1-0_15_8_0": _v("kWh"), "0-0_96_1_0": _one(_HEX),
        "1-0_13_7_0": _one(_NUM), "1-0_33_7_0": _one(_NUM), "1-0_53_7_0": _one(_NUM),
        "1-0_73_7_0": _one(_NUM), "1-0_14_7_0": _v("Hz"), "1-0_31_4_0": _v("A"),
        "1-0_51_4_0": _v("A"), "1-0_71_4_0": _v("A"),
        "0-0_98_1_0": _one(_TS) + r"(?:\(" + _NUM + r"\*(?:kWh|kvarh|kW)\))*"})),
    "sagemcom-t210d": (True, r"/EST\d", dict(
        _dsmr45("Wh", "W"), **{"1-0:1.8.0": _v("Wh"), "1-0:2.8.0": _v("Wh")},
        **{k: v.replace("kvar", "var") for k, v in _KVAR.items()})),
    "iskra-ie": (True, r"/ISk\d.MIE", _with(_DSMR5, **{
        "1-0_0_0_0": _one(r"\d{1,16}"), "0-0_96_1_0": _one(_ID)})),
    "q3d": (False, r"/ESY\dQ3D", {
        "1-0:0.0.0": _one(r"\d{1,16}"),
        "1-0:1.8.0": _v("kWh"), "1-0:2.8.0": _v("kWh"),
        "1-0:21.7.0": _v("W"), "1-0:41.7.0": _v("W"), "1-0:61.7.0": _v("W"),
        "1-0:1.7.0": _v("W"), "1-0:96.5.5": _one(_HEX), "0-0:96.1.255": _one(_ID)}),
}
SPEC_NAMES = tuple(VARIANTS)
_COMPILED = {name: (crc, re.compile(head.encode()) if head else None,
                    {k: re.compile(v.encode()) for k, v in shapes.items()})
             for name, (crc, head, shapes) in VARIANTS.items()}
_REGISTER = re.compile(r"1-0:(?:[1-8]|15)\.[78]\.\d$")


def check_tables():
    """The problems in the tables themselves (an empty list when they are sound)."""
    problems = []
    for name, (crc, head, shapes) in VARIANTS.items():
        if head is not None and not head.startswith("/"):
            problems.append("%s: header pattern %r does not start with '/'" % (name, head))
        for key, shape in shapes.items():
            if not re.match(r"\d-(?:\d|n):\d{1,3}\.\d{1,3}\.\d{1,3}$", key):
                problems.append("%s: bad OBIS key %r" % (name, key))
            try:
                re.compile(shape)
            except re.error as exc:
                problems.append("%s: %s shape does not compile: %s" % (name, key, exc))
            if _REGISTER.match(key) and r"\*" not in shape:
                problems.append("%s: register %s without a unit" % (name, key))
    return problems


def shapes(name):
    return _COMPILED[name][2]


def carries_crc(name):
    return _COMPILED[name][0]


_CHANNEL = re.compile(r"0-[1-9]:")


def shape_key(obis):
    """The table key of an OBIS code: M-Bus channels 1-9 share one entry."""
    return _CHANNEL.sub("0-n:", obis, count=1) if obis.startswith("0-") else obis


def detect(header, has_crc, lines):
    """The variant of a telegram: `header` (bytes, with '/'), whether it ends in a CRC, and
    `lines` a dict OBIS -> raw value groups (bytes)."""
    for name in ("q3d", "fluvius", "sagemcom-t210d", "iskra-ie"):
        if _COMPILED[name][1].match(header):
            return name
    if not has_crc:
        if "1-3:0.2.8" in lines:
            return "dsmr5"  # a DSMR 4/5 telegram that lost its CRC
        limit = lines.get("0-0:17.0.0", b"")
        return "dsmr3" if limit.endswith(b"*A)") else "dsmr2.2"
    if b"Wh)" in lines.get("1-0:1.8.1", b"") and b"kWh)" not in lines.get("1-0:1.8.1", b""):
        return "sagemcom-t210d"
    if "0-0:42.0.0" in lines:
        return "smarty" if "1-3:0.2.8" in lines else "eon-hu"
    if "0-0:96.1.4" in lines:
        return "fluvius"
    version = lines.get("1-3:0.2.8", b"")
    return "dsmr4" if version.startswith(b"(4") else "dsmr5"
