# meterkast: encrypted P1 frames, the Luxembourg E-Meter P1 ("Smarty") layout
# MIT license
#
#   DB 08 <system title 8> 82 <LEN 2> 30 <frame counter 4> <ciphertext> <tag 12>
#   LEN = 1 + 4 + len(ciphertext) + 12; IV = system title || frame counter; AAD = 0x30 || AK;
#   the plaintext is the ordinary telegram, CRC included.
# The frame counter comes from the persisted invocation counter, so no IV ever repeats under
# the P1 key, across restarts and power cuts alike. Encryption is into a preallocated frame.
from micropython import const

from comms.crypto.counter import InvocationCounter
from comms.crypto.gcm import Gcm
from comms.crypto.keystore import P1_KEYSET_SLOTS, RotatedKeys

_HEADER = const(18)
_TAG = const(12)
_SC = const(0x30)  # security suite 0, authenticated and encrypted
_NO_KEK = bytes(16)  # a P1 key set has no master key of its own


class P1Encryptor:
    def __init__(self, system_title, p1_keys, storage, max_plain=2048, floor=0, on_reserve=None):
        if storage is None:
            raise ValueError("encrypted P1 needs persistent storage for its frame counter")
        self.rotation = RotatedKeys(storage, p1_keys, P1_KEYSET_SLOTS)
        rotated = self.rotation.keys
        if rotated is None:
            self.ek, self.ak = p1_keys["ek"], p1_keys["ak"]
        else:
            self.ek, self.ak = rotated[0], rotated[1]
        self._next = None  # keys transferred, in force from the next telegram
        self._gcm = Gcm(self.ek, max_len=max_plain)
        self.counter = InvocationCounter(storage + "/ic_p1", floor=floor, on_reserve=on_reserve)
        self.buf = bytearray(_HEADER + max_plain + _TAG)
        b = self.buf
        b[0] = 0xDB
        b[1] = 8
        b[2:10] = system_title
        b[10] = 0x82
        b[13] = _SC
        self._iv = bytearray(12)
        self._iv[0:8] = system_title
        self._aad = bytearray(17)
        self._aad[0] = _SC
        self._aad[1:17] = self.ak
        self._body = memoryview(self.buf)[_HEADER:]
        self.frame_counter = 0

    def transfer(self, ek, ak):
        """New keys (None: unchanged) from the next telegram on; persisted first (raises OSError
        when the flash did not take them: nothing changes)."""
        cur = self._next or (self.ek, self.ak)
        new = (ek or cur[0], ak or cur[1])
        self.rotation.save(new[0], new[1], _NO_KEK)
        self._next = new

    def wrap(self, src, n):
        """Encrypt telegram src[:n] into self.buf; returns the frame length."""
        if self._next is not None:
            self.ek, self.ak = self._next
            self._next = None
            self._gcm.rekey(self.ek)
            self._aad[1:17] = self.ak
        fc = self.counter.next()  # raises CounterExhausted rather than reuse an IV
        self.frame_counter = fc
        b = self.buf
        length = 1 + 4 + n + _TAG
        b[11] = length >> 8
        b[12] = length & 0xFF
        for i in range(4):
            v = (fc >> (24 - 8 * i)) & 0xFF
            b[14 + i] = v
            self._iv[8 + i] = v
        self._gcm.encrypt_into(self._iv, self._aad, src, n, self._body, _TAG)
        return _HEADER + n + _TAG
