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

`--port p1` (rotate_p1) rotates the P1 port's keys the same way on the P1 security setup
0.0.43.0.1.255, in the management association (keys wrapped with the same master key); the
file's "p1" section changes. The meter stores them before it answers and encrypts its next
telegram with them; its frame counter goes on. The proof of step 3 is, with `--p1-url`, a
telegram read from the P1 port that verifies under the new keys (and not the old ones); without
it, the action's success. A `<keys>.new` left by an unfinished P1 rotation is simply sent again:
putting the same keys in force twice is harmless (the frame counter never restarts), so the
meter ends with the keys of the file either way.
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


def _need_kek(m, path):
    if m.get("kek") is None:
        raise CliError("keys file %s has no master key (management.kek): the meter cannot take "
                       "new keys; make keys with `meterkast keys new` and provision the meter "
                       "with them" % path)


def _fresh_pair(new_doc, section, taken, new_path):
    """New encryption and authentication keys for `section` of new_doc, none of them a key in
    `taken`; new_path holds them before anything is sent, so they are never lost."""
    ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    while {ek, ak} & taken or ek == ak:
        ek, ak = secrets.token_bytes(16), secrets.token_bytes(16)
    new_doc[section]["ek"] = ek.hex().upper()
    new_doc[section]["ak"] = ak.hex().upper()
    write_keys(new_path, new_doc, force=True)
    return ek, ak


def _transfer(port, keys, m, counters, timeout, wrapper, setup, ek, ak):
    """global_key_transfer of (ek, ak) to the security setup at contract.obis index `setup`,
    wrapped with the master key, in an association under the keys in force: the action-result."""
    data = key_transfer_data(m["kek"], ek, ak)
    ln = firmware_module("contract.obis").ln(setup)
    return _associate(port, keys, m, counters, timeout, wrapper,
                      lambda a: a.action(CLASS_SECURITY_SETUP, ln, GLOBAL_KEY_TRANSFER, data))


def _pending_p1(doc, new_doc, new_path):
    if doc.get("p1") != new_doc.get("p1"):
        raise CliError("%s holds new P1 keys of an unfinished P1 rotation: finish it first with "
                       "`meterkast keys rotate --port p1`" % new_path)


def rotate(port, path, counters, timeout=5.0, wrapper=False):
    """Rotate the management keys of the meter on `port`; returns a text of what was done."""
    doc = read_keys_doc(path)
    keys, m = _mgmt(doc, path)
    new_path = path + ".new"
    if os.path.exists(new_path):
        new_doc = read_keys_doc(new_path)
        _pending_p1(doc, new_doc, new_path)
        new_keys, new_m = _mgmt(new_doc, new_path)
        if _works(port, new_keys, new_m, counters, timeout, wrapper):
            _finish(path, new_path)
            return ("the meter already uses the keys of %s (an earlier rotation ended before the "
                    "file was renamed): %s now holds them" % (new_path, path))
    _need_kek(m, path)
    new_doc = json.loads(json.dumps(doc))
    p1 = keys.get("p1") or {}
    ek, ak = _fresh_pair(new_doc, "management", {p1.get("ek"), p1.get("ak")}, new_path)
    obis = firmware_module("contract.obis")
    result = _transfer(port, keys, m, counters, timeout, wrapper, obis.SECURITY_SETUP, ek, ak)
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


def _p1_verifies(p1_port, new_doc, old_doc, seconds):
    """Read the P1 port until a telegram verifies under the new keys (True), or `seconds` pass
    (False). A frame already under way when the keys changed may still carry the old ones; a
    frame under the new keys must not verify under the old ones."""
    import time

    from meterkast.keys.file import Keys
    from meterkast.wire.frames import FrameDecoder

    new = FrameDecoder(Keys.from_dict(new_doc))
    old_keys = Keys.from_dict(old_doc)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for frame in new.feed(p1_port.read(4096)):
            if frame.ok and frame.tag_ok and frame.telegram is not None:
                return not any(f.ok for f in FrameDecoder(old_keys).feed(bytes(frame.raw)))
    return False


def rotate_p1(port, path, counters, timeout=5.0, wrapper=False, p1_port=None, p1_wait=30.0):
    """Rotate the P1 keys of the meter on `port` (P3) over the P1 security setup; `p1_port`, an
    open P1 port, proves them. Returns a text of what was done."""
    doc = read_keys_doc(path)
    keys, m = _mgmt(doc, path)
    _need_kek(m, path)
    if keys.get("p1") is None:
        raise CliError("keys file %s has no \"p1\" section: the meter sends plain P1, there are "
                       "no P1 keys to rotate" % path)
    new_path = path + ".new"
    resumed = os.path.exists(new_path)
    if resumed:
        new_doc = read_keys_doc(new_path)
        if new_doc.get("management") != doc.get("management"):
            raise CliError("%s holds new management keys of an unfinished rotation: finish it "
                           "first with `meterkast keys rotate`" % new_path)
        new_keys = parse_keys(new_doc, "keys file %s" % new_path)
        ek, ak = new_keys["p1"]["ek"], new_keys["p1"]["ak"]
    else:
        new_doc = json.loads(json.dumps(doc))
        taken = {m["ek"], m["ak"], m["kek"], keys["p1"]["ek"], keys["p1"]["ak"]}
        ek, ak = _fresh_pair(new_doc, "p1", taken, new_path)
    if p1_port is not None:
        p1_port.reset_input_buffer()
    obis = firmware_module("contract.obis")
    result = _transfer(port, keys, m, counters, timeout, wrapper, obis.P1_SECURITY_SETUP, ek, ak)
    if result != 0:
        if not resumed:
            os.remove(new_path)
            raise CliError("the meter refused the new P1 keys (action result %d); it keeps the "
                           "keys of %s" % (result, path))
        raise CliError("the meter refused the P1 keys of %s (action result %d); both files are "
                       "kept (%s, %s)" % (new_path, result, path, new_path))
    proof = "the meter answered success"
    if p1_port is not None:
        if not _p1_verifies(p1_port, new_doc, doc, p1_wait):
            raise CliError("the meter accepted the new P1 keys but no telegram verified under "
                           "them within %g s; both files are kept (%s, %s): run `meterkast keys "
                           "rotate --port p1` again" % (p1_wait, path, new_path))
        proof = "a P1 telegram verified under the new keys"
    old = _finish(path, new_path)
    return "the meter now uses new P1 keys (%s): %s (the previous keys are in %s)" % (
        proof, path, old)
