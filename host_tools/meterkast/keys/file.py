"""Keys files: one JSON file per meter, the same format the firmware's keystore reads."""
import json
import os
import secrets

from meterkast.errors import CliError

# The E-Meter P1 specification's fixed authentication key, used by Luxembourg Smarty meters.
SMARTY_AK = "00112233445566778899AABBCCDDEEFF"


def new_keys(serial=1, smarty_ak=False):
    system_title = b"MKS" + serial.to_bytes(5, "big")
    return {
        "system_title": system_title.hex().upper(),
        "p1": {
            "ek": secrets.token_hex(16).upper(),
            "ak": SMARTY_AK if smarty_ak else secrets.token_hex(16).upper(),
        },
        "management": {
            "ek": secrets.token_hex(16).upper(),
            "ak": secrets.token_hex(16).upper(),
            "client_system_title": (b"MKH" + secrets.token_bytes(5)).hex().upper(),
            # the master key: wraps new keys in global_key_transfer (meterkast keys rotate)
            "kek": secrets.token_hex(16).upper(),
        },
    }


def write_keys(path, keys, force=False):
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CliError("%s exists; keys are never overwritten silently (use --force)" % path)
    except OSError as exc:
        raise CliError("cannot write %s: %s" % (path, exc.strerror))
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        json.dump(keys, f, indent=2)
        f.write("\n")


def read_keys_doc(path):
    """The JSON document of a keys file; CliError when it cannot be read or is not JSON."""
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as exc:
        raise CliError("cannot read keys file %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise CliError("keys file %s is not JSON: %s" % (path, exc))


def parse_keys(doc, name="keys", partial=False):
    """The one keys-file parser: {"system_title": bytes, "p1": {"ek", "ak"}, "management":
    {"ek", "ak", "client_system_title"}} with bytes values; CliError naming the field at fault.

    partial=True is what a console needs to decrypt what it sees: every field may be missing
    (the P1 AK then defaults to the published one); a field that is present is still checked.
    """
    if not isinstance(doc, dict):
        raise CliError("%s: a keys file is a JSON object" % name)

    def field(d, key, size, where, default=None):
        text = d.get(key) if isinstance(d, dict) else None
        if text is None and partial:
            return default
        try:
            raw = bytes.fromhex(text)
        except (TypeError, ValueError):
            raw = None
        if raw is None or len(raw) != size:
            raise CliError("%s: %s%s must be %d hex digits" % (name, where, key, 2 * size))
        return raw

    keys = {"system_title": field(doc, "system_title", 8, "")}
    if "p1" in doc:
        keys["p1"] = {"ek": field(doc["p1"], "ek", 16, "p1."),
                      "ak": field(doc["p1"], "ak", 16, "p1.", bytes.fromhex(SMARTY_AK))}
    if "management" in doc:
        m = doc["management"]
        keys["management"] = {k: field(m, k, 16, "management.") for k in ("ek", "ak")}
        keys["management"]["client_system_title"] = field(m, "client_system_title", 8,
                                                          "management.")
        if isinstance(m, dict) and m.get("kek") is not None:  # the master key (key rotation)
            keys["management"]["kek"] = field(m, "kek", 16, "management.")
    return keys


def load_keys(path, partial=False):
    """Parsed keys of a keys file (parse_keys); CliError on any problem."""
    return parse_keys(read_keys_doc(path), "keys file %s" % path, partial)


class Keys:
    """What a console or a line test needs to open frames: the system title, the P1 keys and,
    for HDLC traffic, the management keys; any of them may be None."""

    def __init__(self, system_title=None, p1_ek=None, p1_ak=bytes.fromhex(SMARTY_AK),
                 mgmt_ek=None, mgmt_ak=None):
        self.system_title = system_title
        self.p1_ek = p1_ek
        self.p1_ak = p1_ak
        self.mgmt_ek = mgmt_ek
        self.mgmt_ak = mgmt_ak

    @classmethod
    def load(cls, path):
        return cls.from_dict(read_keys_doc(path), "keys file %s" % path)

    @classmethod
    def from_dict(cls, doc, name="keys"):
        k = parse_keys(doc, name, partial=True)
        p1 = k.get("p1") or {}
        m = k.get("management") or {}
        return cls(k["system_title"], p1.get("ek"), p1.get("ak", bytes.fromhex(SMARTY_AK)),
                   m.get("ek"), m.get("ak"))


def check_keys(path, plain_p1=False):
    """A keys file fit to drive a meter: load_keys, plus what makes one unsafe to use.

    - readable by group or others: refused, as ssh refuses a private key (chmod 600);
    - P1 and management keys equal: both ports encrypt under one system title with counters
      of their own, so equal keys would meet equal IVs;
    - no "p1" section: P1 would go out in plain text, which only --plain-p1 allows.
    """
    keys = load_keys(path)
    mode = os.stat(path).st_mode & 0o777
    if mode & 0o077:
        raise CliError("keys file %s is readable by group or others (mode %04o): chmod 600 %s"
                       % (path, mode, path))
    p1, mgmt = keys.get("p1"), keys.get("management")
    if p1 and mgmt and {p1["ek"], p1["ak"]} & {mgmt["ek"], mgmt["ak"]}:
        raise CliError("keys file %s: a P1 key equals a management key: each port needs keys "
                       "of its own (make new ones with meterkast keys new)" % path)
    if p1 is None and not plain_p1:
        raise CliError("keys file %s has no p1 keys: P1 would be sent in plain text; "
                       "add --plain-p1 if that is what you want" % path)
    return keys
