# meterkast: AES key unwrap (RFC 3394), for keys a head-end sends wrapped with the master key
# MIT license
#
# DLMS global_key_transfer (security setup, method 2) carries each new key wrapped with the
# master key (KEK): a 16-byte key arrives as 24 bytes. Unwrapping runs the six rounds of RFC 3394
# section 2.2.2 backwards on cryptolib's AES-ECB decryption and checks the integrity value
# A6A6A6A6A6A6A6A6 (compared in constant time): a wrong KEK or an altered key fails, and the key
# is not used.
import cryptolib

_IV = 0xA6


def unwrap(kek, src, out):
    """Unwrap src (8 (n + 1) bytes, n >= 2) with kek into out (8 n bytes); True when the
    integrity check holds (out is then the key), False otherwise."""
    n = len(src) // 8 - 1
    if n < 2 or len(src) % 8 or len(out) != 8 * n:
        return False
    aes = cryptolib.aes(kek, 1)  # an ECB object decrypts only (cryptolib: one direction each)
    b = bytearray(16)
    a = bytearray(src[0:8])
    out[:] = src[8:]
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            t = n * j + i
            for k in range(8):
                b[k] = a[k] ^ ((t >> (56 - 8 * k)) & 0xFF)
            b[8:16] = out[8 * (i - 1) : 8 * i]
            aes.decrypt(b, b)
            a[:] = b[0:8]
            out[8 * (i - 1) : 8 * i] = b[8:16]
    d = 0
    for k in range(8):
        d |= a[k] ^ _IV
    return d == 0
