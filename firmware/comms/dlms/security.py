# meterkast: DLMS security suite 0 for the management client: AES-128-GCM, SC 0x30, counters
# MIT license
#
# IV = sender system title (8) || invocation counter (4, big-endian); AAD = SC || AK; tag = the
# first 12 bytes of the GCM tag (Green Book, security suite 0).
#
# Counters, both directions, both persistent:
#   ours:    comms.crypto.counter.InvocationCounter at <storage>/ic_mgmt, one value per protected APDU
#            (AARE, every response, and the f(CtoS) of HLS pass 4, which gets its own value);
#   theirs:  the last value accepted from each client system title, at <storage>/ic_rx_<title>
#            (two slot files, see ReceivedCounter), written before the request it came with is
#            acted on. A counter at or below it is a replay and is refused.
#
# Key rotation (security setup method 2, global_key_transfer, comms.dlms.association): the new
# keys, unwrapped with the master key (kek), are written by comms.crypto.keystore.RotatedKeys
# before the ACTION is answered, and take effect at the next association (the association that
# transferred them ends with the keys it began with). Neither counter restarts with a new key:
# ours goes on rising, so no IV (title || counter) is ever used twice under any key, even a key
# used before; the client goes on above the last counter accepted (0.0.43.1.1.255).
from micropython import const

from comms.crypto.counter import InvocationCounter
from comms.crypto.gcm import Gcm
from comms.crypto.keystore import RotatedKeys

SC_AUTH_ENC = const(0x30)
SC_AUTH = const(0x10)
TAG_LEN = const(12)
DECIPHER_FAILED = const(-1)
REPLAYED = const(-2)


class ReceivedCounter:
    """The last invocation counter accepted from one sender, on flash, in two slot files.

    Each accepted counter is written over the older slot (kept open, rewritten in place and
    flushed: no allocation, no directory update per APDU). A record is value, sequence number
    and a check word; a power cut can only tear the slot being written, and the other one
    still holds the previous value. At start the valid slot with the higher sequence wins.
    Slots that were never written (missing or empty: the files are created at the first
    start) mean a new key: nothing accepted yet. No valid slot, and slot "a" written, means
    the history is lost: every counter is refused (the safe side of a replay check) until the
    key is replaced, and `lost` says so.
    """

    def __init__(self, path):
        self._buf = bytearray(12)
        self.last = -1  # nothing accepted yet: any counter, 0 included, is new
        self._seq = 0
        self._files = []
        self.lost = False  # the history is gone: every counter is refused
        state = []  # per slot: 0 never written (missing or empty), 1 valid, 2 damaged
        for name in (path + ".a", path + ".b"):
            try:
                f = open(name, "r+b")
                got = f.readinto(self._buf)
                if not got:
                    state.append(0)
                else:
                    v, seq = self._decode() if got == 12 else (-1, 0)
                    if v < 0:
                        state.append(2)
                    else:
                        state.append(1)
                        if seq >= self._seq:
                            self._seq = seq
                            self.last = v
            except OSError:
                f = open(name, "w+b")
                state.append(0)
            self._files.append(f)
        # The first record goes to slot "b" (sequence 1), the second to slot "a". With no valid
        # slot, a damaged "b" beside a never-written "a" is the first write torn by a power cut:
        # the request it came with was never acted on, so nothing was accepted yet.
        if 1 not in state and state[0] != 0:
            self.lost = True
            self.last = 0xFFFFFFFF

    def _decode(self):
        b = self._buf
        v = (b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]
        seq = (b[4] << 24) | (b[5] << 16) | (b[6] << 8) | b[7]
        chk = (b[8] << 24) | (b[9] << 16) | (b[10] << 8) | b[11]
        if seq == 0 or chk != v ^ seq ^ 0xA5A5A5A5:
            return -1, 0
        return v, seq

    def accept(self, ic):
        seq = self._seq + 1
        chk = ic ^ seq ^ 0xA5A5A5A5
        b = self._buf
        for i in range(4):
            shift = 24 - 8 * i
            b[i] = (ic >> shift) & 0xFF
            b[4 + i] = (seq >> shift) & 0xFF
            b[8 + i] = (chk >> shift) & 0xFF
        f = self._files[seq & 1]
        f.seek(0)
        f.write(b)
        f.flush()
        self._seq = seq
        self.last = ic


def _hex(b):
    return "".join("%02x" % x for x in b)


class Security:
    """The management key set: encrypt/decrypt APDU bodies, HLS-GMAC, invocation counters."""

    def __init__(self, keys, storage, floor=0, on_reserve=None):
        self.title = bytes(keys["system_title"])
        self.client_title = bytes(keys["client_system_title"])
        self.rotation = RotatedKeys(storage, keys)
        rotated = self.rotation.keys
        if rotated is None:
            self.ek = bytes(keys["ek"])
            self.ak = bytes(keys["ak"])
            self.kek = keys.get("kek")  # the master key; None: keys cannot be transferred
        else:
            self.ek, self.ak, self.kek = rotated
        self._next = None  # keys transferred, in force from the next association
        self.gcm = Gcm(self.ek, max_len=1056)
        self.counter = InvocationCounter(storage + "/ic_mgmt", floor=floor, on_reserve=on_reserve)
        self.received = ReceivedCounter(storage + "/ic_rx_" + _hex(self.client_title))
        self._aad = bytearray(1 + len(self.ak))
        self._aad[1:] = self.ak
        self._iv = bytearray(12)
        self._ivmv = memoryview(self._iv)

    def _set_iv(self, title, ic):
        iv = self._iv
        iv[0:8] = title
        iv[8] = (ic >> 24) & 0xFF
        iv[9] = (ic >> 16) & 0xFF
        iv[10] = (ic >> 8) & 0xFF
        iv[11] = ic & 0xFF

    def open(self, src, p, n, dst):
        """Decrypt `SC IC ciphertext tag` at src[p:p+n] (a memoryview) from the client into
        dst. Returns the plaintext length, DECIPHER_FAILED or REPLAYED. The counter is
        recorded only after the tag checked out."""
        if n < 5 + TAG_LEN or src[p] != SC_AUTH_ENC:
            return DECIPHER_FAILED
        ic = (src[p + 1] << 24) | (src[p + 2] << 16) | (src[p + 3] << 8) | src[p + 4]
        if ic <= self.received.last:
            return REPLAYED
        self._set_iv(self.client_title, ic)
        self._aad[0] = SC_AUTH_ENC
        m = self.gcm.decrypt_into(self._iv, self._aad, src[p + 5 : p + n], n - 5, dst, TAG_LEN)
        if m < 0:
            return DECIPHER_FAILED
        self.received.accept(ic)
        return m

    def seal(self, src, n, dst, o):
        """Write `SC IC ciphertext tag` for src[0:n] at dst[o:] (a memoryview) with the next
        server counter; return the end offset. Raises CounterExhausted at the 32-bit end."""
        ic = self.counter.next()
        dst[o] = SC_AUTH_ENC
        dst[o + 1] = (ic >> 24) & 0xFF
        dst[o + 2] = (ic >> 16) & 0xFF
        dst[o + 3] = (ic >> 8) & 0xFF
        dst[o + 4] = ic & 0xFF
        self._set_iv(self.title, ic)
        self._aad[0] = SC_AUTH_ENC
        return o + 5 + self.gcm.encrypt_into(self._iv, self._aad, src, n, dst[o + 5 :], TAG_LEN)

    def hls_tag(self, title, ic, challenge):
        """GMAC of HLS mechanism 5: SC 0x10, IV title || ic, AAD = SC || AK || challenge."""
        self._set_iv(title, ic)
        aad = bytearray(1 + len(self.ak) + len(challenge))
        aad[0] = SC_AUTH
        aad[1 : 1 + len(self.ak)] = self.ak
        aad[1 + len(self.ak) :] = challenge
        return self.gcm.gmac(self._iv, aad, TAG_LEN)

    def check_client_hls(self, buf, p, n, stoc):
        """f(StoC) from the client (`10 IC GMAC12` at buf[p:p+n]) matches our challenge?"""
        if n != 5 + TAG_LEN or buf[p] != SC_AUTH:
            return False
        ic = (buf[p + 1] << 24) | (buf[p + 2] << 16) | (buf[p + 3] << 8) | buf[p + 4]
        want = self.hls_tag(self.client_title, ic, stoc)
        d = 0
        for i in range(TAG_LEN):
            d |= want[i] ^ buf[p + 5 + i]
        return d == 0

    def server_hls(self, ctos, dst, o):
        """Write f(CtoS) = `10 IC GMAC12` at dst[o:] with a fresh server counter."""
        ic = self.counter.next()
        dst[o] = SC_AUTH
        dst[o + 1] = (ic >> 24) & 0xFF
        dst[o + 2] = (ic >> 16) & 0xFF
        dst[o + 3] = (ic >> 8) & 0xFF
        dst[o + 4] = ic & 0xFF
        tag = self.hls_tag(self.title, ic, ctos)
        dst[o + 5 : o + 5 + TAG_LEN] = tag
        return o + 5 + TAG_LEN

    def transfer(self, ek, ak, kek):
        """New keys (None: unchanged) from the next association on; persisted first (raises
        OSError when the flash did not take them: nothing changes)."""
        cur = self._next or (self.ek, self.ak, self.kek)
        new = (ek or cur[0], ak or cur[1], kek or cur[2])
        self.rotation.save(new[0], new[1], new[2])
        self._next = new

    def wrapping_key(self):
        """The master key the next transferred keys are wrapped with (the newest one)."""
        return self._next[2] if self._next else self.kek

    def begin(self):
        """A new association: keys transferred since the last one come into force."""
        if self._next is None:
            return
        self.ek, self.ak, self.kek = self._next
        self._next = None
        self.gcm.rekey(self.ek)
        self._aad[1:] = self.ak

    def server_counter(self):
        return self.counter.peek()

    def client_counter(self):
        last = self.received.last
        return last if last > 0 else 0
