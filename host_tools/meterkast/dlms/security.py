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

from meterkast.dlms.axdr import AxdrError, read_length

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
        from meterkast.keys.file import load_keys

        doc = load_keys(path)
        m = doc.get("management")
        if m is None:
            raise CliError("keys file %s has no \"management\" section (P3 keys)" % path)
        return cls(doc["system_title"], m["ek"], m["ak"], m["client_system_title"])


def _iv(title, ic):
    return bytes(title) + ic.to_bytes(4, "big")


def gcm_seal(ek, iv, aad, plaintext, tag_len=TAG_LEN):
    """AES-GCM encryption: (ciphertext, tag cut to tag_len bytes)."""
    enc = Cipher(algorithms.AES(ek), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(bytes(plaintext)) + enc.finalize()
    return ct, enc.tag[:tag_len]


def gcm_open(ek, iv, aad, ciphertext, tag):
    """AES-GCM decryption with a truncated tag; SecurityError when the tag does not verify."""
    dec = Cipher(algorithms.AES(ek), modes.GCM(iv, bytes(tag), min_tag_length=len(tag))
                 ).decryptor()
    dec.authenticate_additional_data(aad)
    try:
        return dec.update(bytes(ciphertext)) + dec.finalize()
    except InvalidTag:
        raise SecurityError("authentication tag mismatch (wrong keys, or the data was altered)")


def encrypt(keys, title, ic, plaintext):
    ct, tag = gcm_seal(keys.ek, _iv(title, ic), bytes((SC_AUTH_ENC,)) + keys.ak, plaintext)
    return ct + tag


def decrypt(keys, title, ic, ct_tag):
    if len(ct_tag) < TAG_LEN:
        raise SecurityError("ciphered APDU shorter than its tag")
    return gcm_open(keys.ek, _iv(title, ic), bytes((SC_AUTH_ENC,)) + keys.ak,
                    ct_tag[:-TAG_LEN], ct_tag[-TAG_LEN:])


def gmac(keys, title, ic, challenge):
    _, tag = gcm_seal(keys.ek, _iv(title, ic),
                      bytes((SC_AUTH,)) + keys.ak + bytes(challenge), b"")
    return tag


def glo_header(apdu):
    """(system title, invocation counter, ciphertext+tag) of a general-glo-ciphering APDU
    `DB 08 <title> <len> 30 <IC 4> <ciphertext> <tag 12>`; SecurityError if it is not one."""
    if len(apdu) < 10 or apdu[0] != 0xDB or apdu[1] != 8:
        raise SecurityError("not general-glo-ciphering")
    try:
        n, i = read_length(apdu, 10)
    except AxdrError:
        raise SecurityError("bad length")
    if i + n != len(apdu) or n < 5 + TAG_LEN:
        raise SecurityError("bad length")
    if apdu[i] != SC_AUTH_ENC:
        raise SecurityError("security control 0x%02X not handled" % apdu[i])
    return bytes(apdu[2:10]), int.from_bytes(apdu[i + 1:i + 5], "big"), bytes(apdu[i + 5:])


def open_glo(apdu, keys):
    """The plaintext of a general-glo-ciphering APDU (suite 0, SC 0x30) under `keys` (ek, ak);
    SecurityError with the reason when it is not one or its tag fails."""
    title, ic, ct_tag = glo_header(apdu)
    return decrypt(keys, title, ic, ct_tag)


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
