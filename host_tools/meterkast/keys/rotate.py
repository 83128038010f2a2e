"""Rotating a meter's management keys from the host: `meterkast keys rotate`.

The head-end side of global_key_transfer (security setup 0.0.43.0.0.255, class 64, method 2):
new encryption and authentication keys, each wrapped with the master key (`management.kek`,
RFC 3394), sent in the management association. The meter stores them before it answers and
uses them from its next association.

Neither side may lose the new keys half-way, so the order is:
1. the new keys file is written beside the old one (`<keys>.new`, mode 0600) *before* anything is
   sent: if the host dies after the meter took the keys, they are on disk;
2. the action is sent under the keys in force; the meter answers success;
3. a new association under the new keys proves the meter uses them;
4. the old file is kept as `<keys>.old` and the new one takes its name (atomic rename).
A run that finds a `<keys>.new` first tries those keys: if the meter takes them, the earlier
rotation completed on the meter and only step 4 is left; if not, the meter kept the old keys and
a fresh rotation starts. The client's invocation counter (`<keys>.ic`) goes on counting across a
rotation, as the meter's own counters do: no IV is used twice under either key.
"""
import json
import os
import secrets

from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from meterkast import firmware_module
from meterkast.dlms.client import Association, AssociationRejected
from meterkast.dlms.reader import open_link, resync_counter
from meterkast.dlms.security import Keys as MgmtKeys
from meterkast.errors import CliError
from meterkast.keys.file import parse_keys, read_keys_doc, write_keys

CLASS_SECURITY_SETUP = 64
GLOBAL_KEY_TRANSFER = 2
KEY_EK = 0  # global unicast encryption key
KEY_AK = 2  # authentication key


def key_transfer_data(kek, ek, ak):
    """The method's parameter: array of {key_id enum, key_wrapped octet-string}."""
    out = bytes((axdr_tag("array"), 2))
    for key_id, key in ((KEY_EK, ek), (KEY_AK, ak)):
        wrapped = aes_key_wrap(kek, key)
        out += bytes((axdr_tag("structure"), 2, axdr_tag("enum"), key_id,
                      axdr_tag("octet-string"), len(wrapped))) + wrapped
    return out


def axdr_tag(name):
    return {"array": 0x01, "structure": 0x02, "octet-string": 0x09, "enum": 0x16}[name]


def _mgmt(doc, path):
    keys = parse_keys(doc, "keys file %s" % path)
    m = keys.get("management")
    if m is None:
        raise CliError("keys file %s has no \"management\" section (P3 keys)" % path)
    return keys, m


def _associate(port, keys, m, counters, timeout, wrapper, work=None):
    """One management association under `m`'s keys; `work(a)` inside it. AssociationRejected
    when the meter does not take these keys (after one counter resynchronisation)."""
    mk = MgmtKeys(keys["system_title"], m["ek"], m["ak"], m["client_system_title"])
    for attempt in (0, 1):
        link = open_link(port, 1, timeout, wrapper)
        link.connect()
        try:
            a = Association.management(link, mk, counters)
            try:
                a.open()
            except AssociationRejected:
                if attempt:
                    raise
                link.disconnect()
                link = None
                resync_counter(port, counters, timeout, wrapper)
                continue
            try:
                return work(a) if work else None
            finally:
                a.release()
        finally:
            if link is not None:
                link.disconnect()


def _works(port, keys, m, counters, timeout, wrapper):
    try:
        _associate(port, keys, m, counters, timeout, wrapper)
        return True
    except AssociationRejected:
        return False


def _finish(path, new_path):
    old_path = path + ".old"
    os.replace(path, old_path)
    os.replace(new_path, path)
    return old_path


def rotate(port, path, counters, timeout=5.0, wrapper=False):
    """Rotate the management keys of the meter on `port`; returns a text of what was done."""
    doc = read_keys_doc(path)
    keys, m = _mgmt(doc, path)
    new_path = path + ".new"
    if os.path.exists(new_path):
        new_doc = read_keys_doc(new_path)
        new_keys, new_m = _mgmt(new_doc, new_path)
        if _works(port, new_keys, new_m, counters, timeout, wrapper):
            _finish(path, new_path)
            return ("the meter already uses the keys of %s (an earlier rotation ended before the "
                    "file was renamed): %s now holds them" % (new_path, path))
    if m.get("kek") is None:
        raise CliError("keys file %s has no master key (management.kek): the meter cannot take "
                       "new keys; make keys with `meterkast keys new` and provision the meter "
                       "with them" % path)
    new_doc = json.loads(json.dumps(doc))
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    p1 = keys.get("p1") or {}
    while {ek, ak} & {p1.get("ek"), p1.get("ak")} or ek == ak:
        ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    new_doc["management"]["ek"] = ek.hex().upper()
    new_doc["management"]["ak"] = ak.hex().upper()
    write_keys(new_path, new_doc, force=True)  # on disk before the meter can take them
    data = key_transfer_data(m["kek"], ek, ak)
    setup = firmware_module("contract.obis")
    ln = setup.ln(setup.SECURITY_SETUP)
    result = _associate(port, keys, m, counters, timeout, wrapper,
                        lambda a: a.action(CLASS_SECURITY_SETUP, ln, GLOBAL_KEY_TRANSFER, data))
    if result != 0:
        os.remove(new_path)
        raise CliError("the meter refused the new keys (action result %d); it keeps the keys of "
                       "%s" % (result, path))
    new_keys, new_m = _mgmt(new_doc, new_path)
    if not _works(port, new_keys, new_m, counters, timeout, wrapper):
        raise CliError("the meter accepted the new keys but refuses an association with them; "
                       "both files are kept (%s, %s): run `meterkast keys rotate` again"
                       % (path, new_path))
    old = _finish(path, new_path)
    return "the meter now uses new management keys: %s (the previous keys are in %s)" % (
        path, old)

