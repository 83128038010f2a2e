# meterkast: the keystore: the only place keys are read, checked and held
# MIT license
#
# Keys file (JSON), one per meter; hex strings:
#   {"system_title": "<16 hex>",                      8 bytes, first 3 the manufacturer id
#    "p1": {"ek": "<32 hex>", "ak": "<32 hex>"},       encrypted P1 (optional)
#    "management": {"ek": "<32 hex>", "ak": "<32 hex>",
#                   "client_system_title": "<16 hex>"},  DLMS management client (optional)
#    "counter_floor": {"p1": n, "management": n}}     invocation counters used up to here
#                                                     (optional; written by `meterkast flash`)
# Metrology never sees this file or its contents; only comms objects receive the keys.
import json
from binascii import unhexlify


class KeyError_(ValueError):
    """A keys file that cannot be used: the message says which field and why."""


def _hex(d, name, size, where):
    v = d.get(name)
    if not isinstance(v, str):
        raise KeyError_("%s%s missing" % (where, name))
    try:
        b = unhexlify(v)
    except ValueError:
        raise KeyError_("%s%s is not hex" % (where, name))
    if len(b) != size:
        raise KeyError_("%s%s must be %d bytes (%d hex digits)" % (where, name, size, 2 * size))
    return b


def parse_keys(doc):
    keys = {"system_title": _hex(doc, "system_title", 8, "")}
    p1 = doc.get("p1")
    if p1 is not None:
        keys["p1"] = {"ek": _hex(p1, "ek", 16, "p1."), "ak": _hex(p1, "ak", 16, "p1.")}
    m = doc.get("management")
    if m is not None:
        keys["management"] = {
            "ek": _hex(m, "ek", 16, "management."),
            "ak": _hex(m, "ak", 16, "management."),
            "client_system_title": _hex(m, "client_system_title", 8, "management."),
        }
    floor = doc.get("counter_floor")
    if floor is not None:
        if not isinstance(floor, dict):
            raise KeyError_("counter_floor must be an object")
        keys["counter_floor"] = {}
        for port, n in floor.items():
            if port not in ("p1", "management") or not isinstance(n, int) or not 0 <= n <= 0xFFFFFFFF:
                raise KeyError_("counter_floor.%s must be a counter (0 .. 2^32-1)" % port)
            keys["counter_floor"][port] = n
    return keys


def load_keys(path):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        raise KeyError_("cannot read keys file %s: %s" % (path, e))
    return parse_keys(doc)
