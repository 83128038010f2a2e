# meterkast: AES-128-GCM (NIST SP 800-38D) on cryptolib's AES-ECB, for P1 and DLMS frames
# MIT license
#
# cryptolib has ECB and CBC only (no CTR, no GCM on any port we ship to), so CTR is built here:
# all counter blocks of a message go through ONE cryptolib ECB call (block 0 is J0, whose
# encryption masks the tag), then a kernel XORs the keystream in. GHASH uses per-position 4-bit
# tables: X * H is the XOR of 32 table entries, one per nibble of X, so the hot loop has no
# shift and no reduction. The tables depend on the key and are built once, in the constructor.
#
# Two implementations, same bytes:
# - "viper": comms.crypto.ghash, native code, tables of 8 KiB (2048 32-bit words). The default
#   whenever that module imports, i.e. the port has a native emitter for this architecture.
# - "bytecode": the kernels below, for ports without one (and forced by tests, to compare).
#   Its table entries are three limbs of 40, 40 and 48 bits in lists. Those are small ints on
#   64-bit ports (12 KiB of tables, nothing allocated per call), but long ints on 32-bit ports:
#   there the tables take about 50 KB and every XOR allocates. Slow there, but correct.
#
# encrypt_into/decrypt_into allocate nothing (tested under micropython.heap_lock()): buffers and
# memoryviews are all made in the constructor. On 32-bit ports that holds for the viper
# implementation, for lengths below 2**30.
#
# Message length: any. The keystream buffer takes max_len + 16 bytes; a longer message is
# processed in chunks of max_len, one ECB call each. GCM itself allows 2**32 - 2 blocks
# (64 GiB) per IV; in practice the caller's buffers are the limit.
#
# An IV must never repeat under one key: callers build it from comms.crypto.counter.
#
# GHASH table lookups are indexed by secret-dependent data, so on a CPU with a data cache they
# are not constant-time (MCU SRAM mostly has none). The tag comparison is constant-time.

import cryptolib
from micropython import const

try:
    from . import ghash as _native
except (ImportError, SyntaxError, ValueError):  # no native emitter, or a .mpy for another arch
    _native = None  # type: ignore[assignment]

_R = const(0xE1 << 120)  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order
_LIMB40 = const(0xFFFFFFFFFF)
_LIMB48 = const(0xFFFFFFFFFFFF)
_ZERO = b"\x00" * 16
_MIN_TAG = const(4)
_MAX_TAG = const(16)


class GcmAuthError(ValueError):
    """The tag does not match: wrong key, IV or AAD, or the frame was altered."""


def _bytecode_tables(h):
    """Three limb tables (bytes 0-4, 5-9, 10-15 of each product) plus a padding block.

    Same products and layout as ghash.tables, built with long ints: this runs once per key.
    """
    t0 = [0] * 512
    t1 = [0] * 512
    t2 = [0] * 512
    e = [0] * 16
    v = int.from_bytes(h, "big")
    for q in range(0, 512, 16):
        # x^p * H for the four powers of this nibble position; the nibble's most significant
        # bit is its lowest power, and a multiplication by x is a right shift
        for bit in (8, 4, 2, 1):
            e[bit] = v
            v = (v >> 1) ^ (_R if v & 1 else 0)
        for x in range(1, 16):
            low = x & -x
            if low != x:
                e[x] = e[low] ^ e[x ^ low]
            t0[q + x] = e[x] >> 88
            t1[q + x] = (e[x] >> 48) & _LIMB40
            t2[q + x] = e[x] & _LIMB48
    return t0, t1, t2, bytearray(16)


def _ghash(tab, y, src, n):
    """Bytecode twin of ghash.ghash; y lives in three limbs (bytes 0-4, 5-9, 10-15) meanwhile.

    Unrolled over the 16 bytes of a block (1.6x faster than a loop): byte i of y ^ block
    selects entry b >> 4 of nibble position 2i and entry b & 15 of position 2i + 1.
    """
    t0, t1, t2, pad = tab
    y0 = y[0] << 32 | y[1] << 24 | y[2] << 16 | y[3] << 8 | y[4]
    y1 = y[5] << 32 | y[6] << 24 | y[7] << 16 | y[8] << 8 | y[9]
    y2 = y[10] << 40 | y[11] << 32 | y[12] << 24 | y[13] << 16 | y[14] << 8 | y[15]
    s = src
    o = 0
    end = n & ~15
    while True:
        while o < end:
            z0 = 0
            z1 = 0
            z2 = 0
            b = (y0 >> 32) ^ s[o]
            j = b >> 4
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 16
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y0 >> 24) & 255) ^ s[o + 1]
            j = (b >> 4) + 32
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 48
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y0 >> 16) & 255) ^ s[o + 2]
            j = (b >> 4) + 64
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 80
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y0 >> 8) & 255) ^ s[o + 3]
            j = (b >> 4) + 96
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 112
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = (y0 & 255) ^ s[o + 4]
            j = (b >> 4) + 128
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 144
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = (y1 >> 32) ^ s[o + 5]
            j = (b >> 4) + 160
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 176
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y1 >> 24) & 255) ^ s[o + 6]
            j = (b >> 4) + 192
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 208
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y1 >> 16) & 255) ^ s[o + 7]
            j = (b >> 4) + 224
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 240
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y1 >> 8) & 255) ^ s[o + 8]
            j = (b >> 4) + 256
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 272
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = (y1 & 255) ^ s[o + 9]
            j = (b >> 4) + 288
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 304
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = (y2 >> 40) ^ s[o + 10]
            j = (b >> 4) + 320
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 336
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y2 >> 32) & 255) ^ s[o + 11]
            j = (b >> 4) + 352
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 368
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y2 >> 24) & 255) ^ s[o + 12]
            j = (b >> 4) + 384
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 400
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y2 >> 16) & 255) ^ s[o + 13]
            j = (b >> 4) + 416
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 432
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = ((y2 >> 8) & 255) ^ s[o + 14]
            j = (b >> 4) + 448
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 464
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            b = (y2 & 255) ^ s[o + 15]
            j = (b >> 4) + 480
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            j = (b & 15) + 496
            z0 ^= t0[j]
            z1 ^= t1[j]
            z2 ^= t2[j]
            y0 = z0
            y1 = z1
            y2 = z2
            o += 16
        if s is pad or end == n:
            break
        # the last partial block, zero-padded
        for i in range(16):
            pad[i] = src[end + i] if end + i < n else 0
        s = pad
        o = 0
        end = 16
    for i in range(5):
        y[i] = (y0 >> (32 - 8 * i)) & 255
        y[5 + i] = (y1 >> (32 - 8 * i)) & 255
    for i in range(6):
        y[10 + i] = (y2 >> (40 - 8 * i)) & 255


def _counters(buf, iv, first, blocks):
    buf[0:12] = iv
    buf[12] = buf[13] = buf[14] = 0
    buf[15] = 1
    c = first
    for o in range(16, (blocks + 1) << 4, 16):
        buf[o : o + 12] = iv
        buf[o + 12] = (c >> 24) & 255
        buf[o + 13] = (c >> 16) & 255
        buf[o + 14] = (c >> 8) & 255
        buf[o + 15] = c & 255
        c += 1


def _xor(dst, src, ks, off, n):
    d = 16 - off
    for o in range(off, off + n):
        dst[o] = src[o] ^ ks[o + d]


def _tag(dst, off, ks, y, n):
    for i in range(n):
        dst[off + i] = ks[i] ^ y[i]


def _mismatch(src, off, ks, y, n):
    d = 0
    for i in range(n):
        d |= src[off + i] ^ ks[i] ^ y[i]
    return d


class Gcm:
    """AES-128-GCM with one key, 96-bit IVs and tags of 4..16 bytes.

    One object per key and per task: calls share the scratch buffers. The *_into methods write
    into caller buffers and never allocate; encrypt/decrypt/gmac are allocating conveniences.
    """

    def __init__(self, key, max_len=2048, impl=None):
        if len(key) != 16:
            raise ValueError("AES-128 key must be 16 bytes")
        if impl is None:
            impl = "bytecode" if _native is None else "viper"
        if impl == "viper" and _native is None:
            raise ValueError("viper GCM needs a native emitter")
        if impl not in ("viper", "bytecode"):
            raise ValueError("impl must be 'viper' or 'bytecode'")
        self.impl = impl
        self._aes = cryptolib.aes(key, 1)
        h = bytearray(16)
        self._aes.encrypt(h, h)
        if impl == "viper":
            k = _native
            self._tab = bytearray(4 * 2048)  # 2048 zeroed words, read by viper as ptr32
            k.tables(self._tab, h)
            self._ghash, self._counters, self._xor = k.ghash, k.counters, k.xor
            self._tag, self._mismatch = k.tag, k.mismatch
        else:
            self._tab = _bytecode_tables(h)
            self._ghash, self._counters, self._xor = _ghash, _counters, _xor
            self._tag, self._mismatch = _tag, _mismatch
        # Counter blocks, encrypted in place into keystream by one ECB call per chunk. Block 0 is
        # J0. cryptolib always encrypts a whole buffer, so short messages use a shorter view:
        # windows of 1..8 blocks, then every 8 blocks (waste < 8 blocks per call).
        blocks = max(1, (max_len + 15) >> 4)
        self._chunk = blocks << 4
        self._ks = bytearray((blocks + 1) << 4)
        ks = memoryview(self._ks)
        windows = []
        size = 1
        while size < blocks + 1:
            windows.append(ks[: size << 4])
            size += 1 if size < 8 else 8
        windows.append(ks)
        self._windows = tuple(windows)
        self._y = bytearray(16)
        self._lengths = bytearray(16)

    def rekey(self, key):
        """Another key from now on, in the same buffers (a rotated key: no 8 KiB allocation)."""
        self._aes = cryptolib.aes(key, 1)
        h = bytearray(16)
        self._aes.encrypt(h, h)
        if self.impl == "viper":
            _native.tables(self._tab, h)  # every entry but the zero one, rewritten
        else:
            self._tab = _bytecode_tables(h)

    def _keystream(self, iv, first, n):
        """E(J0) and the keystream for n bytes of data from counter `first` on, in self._ks."""
        blocks = (n + 15) >> 4
        self._counters(self._ks, iv, first, blocks)
        i = blocks if blocks < 8 else 6 + ((blocks + 8) >> 3)  # the window for blocks + 1
        w = self._windows
        if i >= len(w):
            i = len(w) - 1
        self._aes.encrypt(w[i], w[i])

    def _digest(self, aad, ct, n):
        """GHASH over the AAD and the n bytes of ciphertext, left in self._y."""
        y = self._y
        y[:] = _ZERO
        tab = self._tab
        a = len(aad)
        self._ghash(tab, y, aad, a)
        self._ghash(tab, y, ct, n)
        b = self._lengths
        a <<= 3
        n <<= 3
        for i in range(7, -1, -1):  # bit lengths, 64-bit big-endian
            b[i] = a & 255
            b[8 + i] = n & 255
            a >>= 8
            n >>= 8
        self._ghash(tab, y, b, 16)

    def _crypt(self, iv, src, n, dst):
        """CTR over src[0:n] into dst, chunk by chunk; the first chunk's keystream is ready."""
        chunk = self._chunk
        off = 0
        while off < n:
            m = n - off
            if m > chunk:
                m = chunk
            if off:
                self._keystream(iv, 2 + (off >> 4), m)
            self._xor(dst, src, self._ks, off, m)
            off += m

    def encrypt_into(self, iv, aad, src, n, dst, tag_len=12):
        """Write n bytes of ciphertext and then the tag into dst; return n + tag_len.

        dst is a bytearray or a writable memoryview; src may be dst (in place). No allocation.
        """
        if len(iv) != 12 or not _MIN_TAG <= tag_len <= _MAX_TAG:
            raise ValueError("IV must be 12 bytes, tag 4..16 bytes")
        if n < 0 or len(src) < n or len(dst) < n + tag_len:
            raise ValueError("buffer too short")
        if isinstance(dst, bytes):  # viper would write into it regardless
            raise TypeError("dst must be writable")
        self._keystream(iv, 2, n if n < self._chunk else self._chunk)
        self._crypt(iv, src, n, dst)
        self._digest(aad, dst, n)
        self._tag(dst, n, self._ks, self._y, tag_len)  # E(J0) is still in block 0
        return n + tag_len

    def decrypt_into(self, iv, aad, src, n, dst, tag_len=12):
        """Check the tag of src[0:n] (ciphertext || tag), then write the plaintext into dst.

        Returns the plaintext length, or -1 when the tag does not match (or n < tag_len);
        dst is then untouched. src may be dst (in place). No allocation.
        """
        if len(iv) != 12 or not _MIN_TAG <= tag_len <= _MAX_TAG:
            raise ValueError("IV must be 12 bytes, tag 4..16 bytes")
        m = n - tag_len
        if m < 0:
            return -1
        if len(src) < n or len(dst) < m:
            raise ValueError("buffer too short")
        if isinstance(dst, bytes):
            raise TypeError("dst must be writable")
        self._keystream(iv, 2, m if m < self._chunk else self._chunk)
        self._digest(aad, src, m)
        if self._mismatch(src, m, self._ks, self._y, tag_len):
            return -1
        self._crypt(iv, src, m, dst)
        return m

    def encrypt(self, iv, aad, pt, tag_len=12):
        """ciphertext || tag, as new bytes."""
        out = bytearray(len(pt) + tag_len)
        self.encrypt_into(iv, aad, pt, len(pt), out, tag_len)
        return bytes(out)

    def decrypt(self, iv, aad, ct_tag, tag_len=12):
        """The plaintext as new bytes; raises GcmAuthError when the tag does not match."""
        n = len(ct_tag)
        out = bytearray(n - tag_len if n > tag_len else 0)
        if self.decrypt_into(iv, aad, ct_tag, n, out, tag_len) < 0:
            raise GcmAuthError("GCM tag mismatch")
        return bytes(out)

    def gmac(self, iv, aad, tag_len=12):
        """GMAC: the tag of GCM over the AAD alone (empty plaintext)."""
        out = bytearray(tag_len)
        self.encrypt_into(iv, aad, b"", 0, out, tag_len)
        return bytes(out)
