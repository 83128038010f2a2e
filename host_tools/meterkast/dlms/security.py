"""Security suite 0 for the head-end: AES-128-GCM with SC 0x30, HLS-GMAC, invocation counters.

IV = sender system title || invocation counter (big-endian); AAD = SC || AK (|| challenge for
the HLS GMAC); the tag is cut to 12 bytes.

The client's own invocation counter must never repeat for a key, across runs too. It is kept in
a state file next to the keys file (`<keys>.ic`, JSON): before the first value of a run is used
the file already reserves a block of values above it, so a run killed half-way skips values
instead of reusing them; at the end the file records the exact next value. The same file keeps
the highest server counter seen, so a replayed old session from the meter is refused.
"""

import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SC_AUTH_ENC = 0x30
SC_AUTH = 0x10
TAG_LEN = 12
_RESERVE = 1000


class SecurityError(Exception):
    """A protected APDU failed its check: tag, system title or invocation counter."""


class Keys:
    """The management key set from a keys file."""

    def __init__(self, system_title, ek, ak, client_system_title):
        self.system_title = system_title
        self.ek = ek
        self.ak = ak
        self.client_system_title = client_system_title

    @classmethod
    def load(cls, path):
        """The management keys of a keys file, checked by the one keys-file parser."""
        from meterkast.errors import CliError
        from meterkast.keys import load_keys

        doc = load_keys(path)
        m = doc.get("management")
        if m is None:
            raise CliError("keys file %s has no \"management\" section (P3 keys)" % path)
        return cls(doc["system_title"], m["ek"], m["ak"], m["client_system_title"])


def _iv(title, ic):
    return bytes(title) + ic.to_bytes(4, "big")


def encrypt(keys, title, ic, plaintext):
    enc = Cipher(algorithms.AES(keys.ek), modes.GCM(_iv(title, ic))).encryptor()
    enc.authenticate_additional_data(bytes((SC_AUTH_ENC,)) + keys.ak)
    ct = enc.update(bytes(plaintext)) + enc.finalize()
    return ct + enc.tag[:TAG_LEN]


def decrypt(keys, title, ic, ct_tag):
    if len(ct_tag) < TAG_LEN:
        raise SecurityError("ciphered APDU shorter than its tag")
    ct, tag = bytes(ct_tag[:-TAG_LEN]), bytes(ct_tag[-TAG_LEN:])
    dec = Cipher(
        algorithms.AES(keys.ek), modes.GCM(_iv(title, ic), tag, min_tag_length=TAG_LEN)
    ).decryptor()
    dec.authenticate_additional_data(bytes((SC_AUTH_ENC,)) + keys.ak)
    try:
        return dec.update(ct) + dec.finalize()
    except InvalidTag:
        raise SecurityError("authentication tag mismatch (wrong keys, or the data was altered)")


def gmac(keys, title, ic, challenge):
    enc = Cipher(algorithms.AES(keys.ek), modes.GCM(_iv(title, ic))).encryptor()
    enc.authenticate_additional_data(bytes((SC_AUTH,)) + keys.ak + bytes(challenge))
    enc.finalize()
    return enc.tag[:TAG_LEN]


class CounterState:
    """`<keys>.ic`: the client's next invocation counter and the highest server counter seen."""

    def __init__(self, path):
        self.path = path
        self.next_client = 1
        self.server_seen = 0
        try:
            with open(path) as f:
                doc = json.load(f)
            self.next_client = int(doc["next_client_ic"])
            self.server_seen = int(doc.get("server_ic_seen", 0))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                "invocation-counter state %s is damaged (%s); delete it to "
                "resynchronise from the meter" % (path, exc)
            )
        self.existed = os.path.exists(path)
        self._reserved = self.next_client - 1

    def _save(self, next_client):
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            json.dump({"next_client_ic": next_client, "server_ic_seen": self.server_seen}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def take(self):
        """The next client counter; the file reserves ahead before any value is used."""
        v = self.next_client
        if v > 0xFFFFFFFF:
            raise SecurityError("client invocation counter exhausted: the keys must be renewed")
        if v > self._reserved:
            self._reserved = min(v + _RESERVE, 0xFFFFFFFF + 1) - 1
            self._save(self._reserved + 1)
        self.next_client = v + 1
        return v

    def skip_to(self, value):
        """The meter expects counters above `value - 1`: never go below what we had."""
        if value > self.next_client:
            self.next_client = value

    def server(self, ic):
        """Check a server counter is above every one seen before (replay protection)."""
        if ic <= self.server_seen:
            raise SecurityError(
                "server invocation counter %d not above %d: replayed or "
                "reset meter" % (ic, self.server_seen)
            )
        self.server_seen = ic

    def close(self):
        self._save(self.next_client)
