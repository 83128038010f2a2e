# meterkast: the native (viper) kernels of AES-GCM: GHASH, CTR XOR, counter blocks, tag
# MIT license
#
# These live in their own module so that a port without a native emitter (a SyntaxError when
# this source is compiled) or a .mpy built for another architecture (a ValueError at import)
# costs only this file: comms.crypto.gcm catches the import error and runs its bytecode kernels.
#
# The same code is correct on 64-bit viper (unix x64) and 32-bit viper (boards). ghash() only
# loads and XORs table words, so no bit above 31 can appear, and shifts a word right only before
# a ptr8 store, which keeps the low 8 bits even where a 32-bit target sees the word as negative.
# tables() shifts uint values whose results stay within 32 bits.
#
# Table layout: for nibble position q (0 = high nibble of byte 0) and nibble value x, the
# product (x at position q) * H is the 128-bit big-endian value in tab[4 * (16 * q + x) .. +3],
# most significant word first. X * H is the XOR of the 32 entries picked by X's nibbles.
import micropython


@micropython.viper
def ghash(tab: ptr32, y: ptr8, src: ptr8, n: int):
    """Fold src[0:n] into the GHASH state y: y = (y ^ block) * H, the last block 0-padded."""
    off = 0
    while off < n:
        left = n - off
        z0 = 0
        z1 = 0
        z2 = 0
        z3 = 0
        i = 0
        k = 0
        while i < 16:
            b = y[i]
            if i < left:
                b ^= src[off + i]
            j = k + ((b >> 4) << 2)
            z0 ^= tab[j]
            z1 ^= tab[j + 1]
            z2 ^= tab[j + 2]
            z3 ^= tab[j + 3]
            j = k + 64 + ((b & 15) << 2)
            z0 ^= tab[j]
            z1 ^= tab[j + 1]
            z2 ^= tab[j + 2]
            z3 ^= tab[j + 3]
            i += 1
            k += 128
        y[0] = z0 >> 24
        y[1] = z0 >> 16
        y[2] = z0 >> 8
        y[3] = z0
        y[4] = z1 >> 24
        y[5] = z1 >> 16
        y[6] = z1 >> 8
        y[7] = z1
        y[8] = z2 >> 24
        y[9] = z2 >> 16
        y[10] = z2 >> 8
        y[11] = z2
        y[12] = z3 >> 24
        y[13] = z3 >> 16
        y[14] = z3 >> 8
        y[15] = z3
        off += 16


@micropython.viper
def tables(tab: ptr32, h: ptr8):
    """Fill tab (2048 zeroed words) with the per-position products of H (the layout above)."""
    # v = x^p * H for p = 0, 1, ..., 127: multiplying by x is a right shift by one bit, folding
    # the bit that falls off back in as x^7 + x^2 + x + 1 (0xE1 in the top byte)
    v0 = uint(h[0]) << 24 | uint(h[1]) << 16 | uint(h[2]) << 8 | uint(h[3])
    v1 = uint(h[4]) << 24 | uint(h[5]) << 16 | uint(h[6]) << 8 | uint(h[7])
    v2 = uint(h[8]) << 24 | uint(h[9]) << 16 | uint(h[10]) << 8 | uint(h[11])
    v3 = uint(h[12]) << 24 | uint(h[13]) << 16 | uint(h[14]) << 8 | uint(h[15])
    r = uint(0xE1) << 24
    base = 0
    while base < 2048:
        bit = 8  # the nibble's most significant bit is its lowest power of x
        while bit:
            k = base + (bit << 2)
            tab[k] = v0
            tab[k + 1] = v1
            tab[k + 2] = v2
            tab[k + 3] = v3
            carry = v3 & 1
            v3 = (v3 >> 1) | ((v2 & 1) << 31)
            v2 = (v2 >> 1) | ((v1 & 1) << 31)
            v1 = (v1 >> 1) | ((v0 & 1) << 31)
            v0 = v0 >> 1
            if carry:
                v0 ^= r
            bit >>= 1
        x = 3
        while x < 16:  # every other entry is the XOR of two single-bit ones
            low = x & (0 - x)
            if low != x:
                k = base + (x << 2)
                a = base + (low << 2)
                b = base + ((x ^ low) << 2)
                tab[k] = tab[a] ^ tab[b]
                tab[k + 1] = tab[a + 1] ^ tab[b + 1]
                tab[k + 2] = tab[a + 2] ^ tab[b + 2]
                tab[k + 3] = tab[a + 3] ^ tab[b + 3]
            x += 1
        base += 64


@micropython.viper
def counters(buf: ptr8, iv: ptr8, first: int, blocks: int):
    """Block 0 = J0 = IV || 1; blocks 1..blocks = IV || first, IV || first + 1, ... (32-bit BE)."""
    o = 0
    c = 1
    end = (blocks + 1) << 4
    while o < end:
        i = 0
        while i < 12:
            buf[o + i] = iv[i]
            i += 1
        buf[o + 12] = c >> 24
        buf[o + 13] = c >> 16
        buf[o + 14] = c >> 8
        buf[o + 15] = c
        c = first + (o >> 4)  # the counter of the next block
        o += 16


@micropython.viper
def xor(dst: ptr8, src: ptr8, ks: ptr8, off: int, n: int):
    """dst[off + i] = src[off + i] ^ keystream byte i, the keystream starting after E(J0)."""
    i = 0
    while i < n:
        dst[off + i] = src[off + i] ^ ks[16 + i]
        i += 1


@micropython.viper
def tag(dst: ptr8, off: int, ks: ptr8, y: ptr8, n: int):
    """dst[off:off + n] = E(J0) ^ GHASH, truncated to n bytes."""
    i = 0
    while i < n:
        dst[off + i] = ks[i] ^ y[i]
        i += 1


@micropython.viper
def mismatch(src: ptr8, off: int, ks: ptr8, y: ptr8, n: int) -> int:
    """Nonzero when src[off:off + n] is not the tag; takes the same time wherever it differs."""
    d = 0
    i = 0
    while i < n:
        d |= src[off + i] ^ ks[i] ^ y[i]
        i += 1
    return d
