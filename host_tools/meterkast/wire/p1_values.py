"""P1 values with their units, for JSON: every number as {"value": ..., "unit": ...} in the
unit system asked for (meterkast.wire.p1_units), ids and other text as strings (leading zeros
kept), every timestamp as ISO 8601 with its offset.

    "1-0:1.8.1": {"value": 5017.12, "unit": "kWh"}
    "0-1:24.2.1": {"time": "2017-01-02T15:10:05Z", "value": 0.107, "unit": "m3"}
    "0-1:24.2.1" of an empty channel: {"time": "1970-01-01T00:00:00Z", "value": 0, "unit": null}
    "0-1:24.3.0" (DSMR 2.2/3 gas): {"time": "2009-02-12T15:00:00Z", "value": 1.001, "unit": "m3"}
    "1-0:99.97.0": [{"end": "...", "duration": {"value": 237126, "unit": "s"}}, ...]
"""
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from meterkast.wire.p1_units import convert, number

_TS = re.compile(r"\d{12}[SW]?$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?$")
_AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def iso_time(text):
    """YYMMDDhhmmss[S|W] to ISO 8601 in UTC ('Z'); without S/W the local time is taken as
    Amsterdam's. None when it is not a real date."""
    from meterkast.wire.p1 import _iso, parse_timestamp

    if len(text) == 13:  # with S/W
        try:
            return _iso(parse_timestamp(text))
        except ValueError:
            return None
    try:
        local = datetime(2000 + int(text[0:2]), int(text[2:4]), int(text[4:6]), int(text[6:8]),
                         int(text[8:10]), int(text[10:12]), tzinfo=_AMSTERDAM)
    except ValueError:
        return None
    return _iso(local.astimezone(ZoneInfo("UTC")))


def quantity(text, system):
    """'001.5*kW' -> {"value": 1.5, "unit": "kW"} (converted); a bare number has unit null."""
    value, _, unit = text.partition("*")
    if unit:
        v, u = convert(value, unit, system)
        return {"value": v, "unit": u}
    return {"value": number(value), "unit": None}


def _item(text, system):
    if _TS.match(text):
        t = iso_time(text)
        if t is not None:
            return t
    if "*" in text and _NUMBER.match(text.partition("*")[0]):
        return quantity(text, system)
    return text


def telegram_values(groups, fields, system="dsmr5"):
    out = {}
    for obis, gs in groups.items():
        texts = [g.decode("ascii", "replace") for g in gs]
        if obis == "1-0:99.97.0":
            out[obis] = [{"end": iso_time(texts[i]) or texts[i],
                          "duration": quantity(texts[i + 1], system)}
                         for i in range(2, len(texts) - 1, 2)]
        elif len(texts) == 1:
            t = texts[0]
            if ("*" in t or "." in t) and _NUMBER.match(t.partition("*")[0]):
                out[obis] = quantity(t, system)  # a bare '4.556' (power factor): unit null
            else:
                out[obis] = fields.get(obis, t)
        elif len(texts) == 2 and _TS.match(texts[0]) and _NUMBER.match(texts[1].partition("*")[0]):
            out[obis] = dict(time=iso_time(texts[0]), **quantity(texts[1], system))
        elif ":24.3.0" in obis and len(texts) == 7:  # DSMR 2.2/3 gas: unit in the 6th group
            out[obis] = dict(time=iso_time(texts[0]), **quantity(texts[6] + "*" + texts[5],
                                                                system))
        else:
            out[obis] = [_item(t, system) for t in texts]
    return out
