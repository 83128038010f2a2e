"""What keeps a GCM IV from ever repeating outside the meter: locks and the counter record.

The firmware's invocation counters (comms.crypto.counter) never repeat a value *within one flash
state*. A state that is lost, copied, rolled back or shared would start them again, and with
them the IVs (system title || counter) under the same keys. So whoever holds a keys file keeps,
beside it, the record of the highest counter ever reserved with those keys, per port:

    <keys>.counters   JSON {"fingerprint": "<sha256 of the key material, 16 hex>",
                            "p1": N, "management": N,
                            "board": "<unique id of the board the keys are on>" (flash only),
                            "running": true while a meter runs with them,
                            "updated": <unix time of the last update>}

`meterkast run` gives the record to the firmware (--ic-floor): a state whose counters are below
it counts on above it. The firmware announces each new reservation ({"ev":"ic"}) after it is
on flash and before any value under it is used, and the record follows (written atomically).
A record that belongs to other keys (the file was replaced by new keys) starts again at 0.

While a meter runs it holds an exclusive lock on its state directory and on its keys file
(flock, inherited by the firmware process, so it lasts as long as either of them): a second run
on either is refused.
"""
import fcntl
import hashlib
import json
import os
import time

from meterkast.errors import CliError

PORTS = ("p1", "management")
# Reservations (comms.crypto.counter's default 256 values each) a killed host may not have recorded.
UNRECORDED_SLACK = 4 * 256


def fingerprint(keys):
    """A short hash of the key material (not a secret: it cannot be inverted)."""
    h = hashlib.sha256(keys["system_title"])
    for port in PORTS:
        for k in ("ek", "ak"):
            h.update(keys.get(port, {}).get(k, b""))
    return h.hexdigest()[:16]


class CounterRecord:
    """The highest invocation counters ever reserved with one keys file."""

    def __init__(self, keys_path, keys):
        self.path = str(keys_path) + ".counters"
        self.fingerprint = fingerprint(keys)
        self.doc = {"fingerprint": self.fingerprint, "p1": 0, "management": 0}
        try:
            with open(self.path) as f:
                doc = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise CliError("counter record %s is unreadable (%s): it keeps IVs unique, so it "
                           "is not ignored; restore it, or make new keys" % (self.path, exc))
        if not isinstance(doc, dict) or any(
                not isinstance(doc.get(p, 0), int) or doc.get(p, 0) < 0 for p in PORTS):
            raise CliError("counter record %s is damaged: restore it, or make new keys" % self.path)
        if doc.get("fingerprint") == self.fingerprint:
            self.doc.update(doc)

    def floor(self, port):
        return self.doc.get(port, 0)

    def floors_arg(self):
        """The firmware's --ic-floor argument."""
        return ",".join("%s:%d" % (p, self.floor(p)) for p in PORTS)

    def open_session(self):
        """Before a firmware starts with these keys. A session that was never closed (the host
        was killed) may have missed the announcements written into the pipe just before: the
        firmware dies at its next announcement (broken pipe) before using that reservation, so
        at most a few reservations are unrecorded; the floor steps over them."""
        if self.doc.get("running"):
            for port in PORTS:
                if self.doc.get(port):
                    self.doc[port] += UNRECORDED_SLACK
        self.doc["running"] = True
        self.save()

    def close_session(self):
        """After the firmware's last announcement has been read."""
        self.doc["running"] = False
        self.save()

    def raise_to(self, port, high):
        """Record a reservation; written to disk (atomically, synced) when it is new."""
        if high <= self.floor(port):
            return False
        self.doc[port] = high
        self.save()
        return True

    def save(self):
        self.doc["updated"] = int(time.time())
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.doc, f, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def _lock(path, what, hint, create=False, name=None):
    flags = os.O_RDONLY | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise CliError("cannot open %s %s: %s" % (what, path, exc.strerror))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise CliError("%s %s is in use by another running meter (%s)" % (what, name or path, hint))
    return fd


def lock_state(state_dir):
    """An exclusive lock on a state directory; the fd (inheritable by the firmware)."""
    fd = _lock(os.path.join(state_dir, ".lock"), "state directory", "stop it, or give another "
               "--state", create=True, name=state_dir)
    os.set_inheritable(fd, True)
    return fd


def lock_keys(keys_path):
    """An exclusive lock on a keys file: one meter per keys file at a time."""
    fd = _lock(keys_path, "keys file", "one keys file drives one meter: stop the other run")
    os.set_inheritable(fd, True)
    return fd
