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


def load_keys(path):
    """Parsed keys with bytes values; CliError on any problem."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise CliError("cannot read keys file %s: %s" % (path, exc))

    def field(d, name, size, where):
        try:
            b = bytes.fromhex(d[name])
        except (KeyError, TypeError, ValueError):
            raise CliError("keys file %s: %s%s missing or not hex" % (path, where, name))
        if len(b) != size:
            raise CliError("keys file %s: %s%s must be %d bytes" % (path, where, name, size))
        return b

    keys = {"system_title": field(doc, "system_title", 8, "")}
    if "p1" in doc:
        keys["p1"] = {k: field(doc["p1"], k, 16, "p1.") for k in ("ek", "ak")}
    if "management" in doc:
        m = doc["management"]
        keys["management"] = {k: field(m, k, 16, "management.") for k in ("ek", "ak")}
        keys["management"]["client_system_title"] = field(m, "client_system_title", 8, "management.")
    return keys


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
