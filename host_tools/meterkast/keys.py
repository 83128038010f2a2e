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
