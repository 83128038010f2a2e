# meterkast: the keystore: the only place keys are read, checked and held
# MIT license
#
# Keys file (JSON), one per meter; hex strings:
#   {"system_title": "<16 hex>",                      8 bytes, first 3 the manufacturer id
#    "p1": {"ek": "<32 hex>", "ak": "<32 hex>"},       encrypted P1 (optional)
#    "management": {"ek": "<32 hex>", "ak": "<32 hex>",
#                   "client_system_title": "<16 hex>",  DLMS management client (optional)
#                   "kek": "<32 hex>"},               master key: lets the head-end rotate
#                                                     the keys (global_key_transfer; optional)
#    "counter_floor": {"p1": n, "management": n}}     invocation counters used up to here
#                                                     (optional; written by `meterkast flash`)
# Metrology never sees this file or its contents; only comms objects receive the keys.
#
# Keys rotated by the head-end (security setup global_key_transfer) are kept by RotatedKeys on
# comms' flash, never in this file (a board's keys file is written by `meterkast flash`): they
# are in force over the file's until the file is provisioned with other keys. The management
# keys (0.0.43.0.0.255) and the P1 keys (0.0.43.0.1.255) each have their own pair of slots in
# the same format (KEYSET_SLOTS, P1_KEYSET_SLOTS; a P1 set's master key field is zeros: the P1
# keys are wrapped with the management master key).
import json
import struct
from binascii import crc32, unhexlify

from contract.layout import KEYSET_BODY, KEYSET_FMT, KEYSET_MAGIC, KEYSET_SIZE, KEYSET_SLOTS

P1_KEYSET_SLOTS = ("p1keys.a", "p1keys.b")


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
        if m.get("kek") is not None:
            keys["management"]["kek"] = _hex(m, "kek", 16, "management.")
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


class RotatedKeys:
    """The keys (ek, ak, kek) a head-end put in force with global_key_transfer, in two slot files
    on comms' flash (contract.layout KEYSET_*; `slots`: the management set's or P1_KEYSET_SLOTS),
    written alternately: a write either lands whole or leaves the other slot, the keys in force
    before it. `keys` is the newest valid set rotated from these keys file keys (`base`), or
    None: the file's keys are in force."""

    def __init__(self, root, base, slots=KEYSET_SLOTS):
        self._paths = (root + "/" + slots[0], root + "/" + slots[1])
        self.base = crc32(bytes(base["ek"]) + bytes(base["ak"]) + bytes(base.get("kek") or b""))
        self.seq = 0
        self.keys = None
        buf = bytearray(KEYSET_SIZE)
        for path in self._paths:
            try:
                with open(path, "rb") as f:
                    n = f.readinto(buf)
            except OSError:
                continue
            if n != KEYSET_SIZE or crc32(memoryview(buf)[:KEYSET_BODY]) != struct.unpack_from(
                    "<I", buf, KEYSET_BODY)[0]:
                continue  # torn (a power cut during its write) or never written
            v = struct.unpack_from(KEYSET_FMT, buf, 0)
            if v[0] == KEYSET_MAGIC and v[2] == self.base and v[1] > self.seq:
                self.seq = v[1]
                self.keys = (v[3], v[4], v[5])

    def save(self, ek, ak, kek):
        """Put (ek, ak, kek) in force (from the next association, and after a restart); raises
        OSError when the flash did not take it (the keys in force stay)."""
        seq = self.seq + 1
        buf = bytearray(KEYSET_SIZE)
        struct.pack_into(KEYSET_FMT, buf, 0, KEYSET_MAGIC, seq, self.base, ek, ak, kek)
        struct.pack_into("<I", buf, KEYSET_BODY, crc32(memoryview(buf)[:KEYSET_BODY]))
        with open(self._paths[seq % 2], "wb") as f:
            f.write(buf)
        self.seq = seq
        self.keys = (ek, ak, kek)
