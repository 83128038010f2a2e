"""Units of P1 values: a value as sent ('native'), in the units DSMR 5 uses ('dsmr5': kW, kWh,
kvar, kvarh, m3, GJ) or without prefixes ('si': W, Wh, var, varh, m3, J).

Conversion goes through Decimal, so 5017120 Wh is 5017.12 kWh, not 5017.120000000001.
"""
import re
from decimal import Decimal

_NUMBER = re.compile(r"\d+(?:\.\d+)?")

UNIT_SYSTEMS = ("dsmr5", "si", "native")
# unit -> (the unit it becomes, factor), per system
_TO = {
    "dsmr5": {"W": ("kW", Decimal("0.001")), "Wh": ("kWh", Decimal("0.001")),
              "var": ("kvar", Decimal("0.001")), "varh": ("kvarh", Decimal("0.001")),
              "MWh": ("kWh", Decimal(1000))},
    "si": {"kW": ("W", Decimal(1000)), "kWh": ("Wh", Decimal(1000)),
           "kvar": ("var", Decimal(1000)), "kvarh": ("varh", Decimal(1000)),
           "MWh": ("Wh", Decimal(1000000)), "GJ": ("J", Decimal(1000000000))},
    "native": {},
}


def number(text):
    """'001234.567' -> 1234.567 (float), '0042' -> 42 (int); other text stays text."""
    if not _NUMBER.fullmatch(text):
        return text
    return float(text) if "." in text else int(text)


def convert(text, unit, system="dsmr5"):
    """The value `text` (digits, maybe a point) in `unit`, as (number, unit) in `system`."""
    to = _TO[system].get(unit)
    if to is None or not _NUMBER.fullmatch(text):
        return number(text), unit
    v = Decimal(text) * to[1]
    return (int(v) if v == v.to_integral_value() and "." not in text and to[1] >= 1
            else float(v)), to[0]
