# Checks comms.crypto.gcm against a batch of cases written by the host tests (NIST CAVP vectors,
# random cases from the host's `cryptography`). One process checks the whole file.
#
# usage: micropython gcm_driver.py viper|bytecode|auto CASEFILE
#
# CASEFILE is a sequence of records:
#   op (1 byte)   E: encrypt must give ct || tag, and decrypting that must give pt
#                 D: the same, from a decryption vector
#                 F: decrypting ct || tag must fail (pt is zeros, unused)
#   max_len (2)   the Gcm buffer size to construct with
#   key (16), iv (12), tag_len (1), aad_len (2), n (2)   big-endian lengths
#   aad (aad_len), pt (n), ct (n), tag (tag_len)
# Prints "impl <name>", a line per failure (the first few), then
# "checked <records> E <e> D <d> F <f> failures <k>".
import sys

from comms.crypto.gcm import Gcm, GcmAuthError

_SHOW = 5


def u16(b):
    return b[0] << 8 | b[1]


def check(f, impl):
    counts = {"E": 0, "D": 0, "F": 0}
    failures = 0
    checked = 0
    buf = bytearray(4096 + 16)
    out = bytearray(4096)
    mv = memoryview(buf)
    while True:
        head = f.read(36)
        if not head:
            break
        op = chr(head[0])
        max_len = u16(head[1:3])
        key = head[3:19]
        iv = head[19:31]
        t = head[31]
        aad = f.read(u16(head[32:34]))
        n = u16(head[34:36])
        pt = f.read(n)
        ct_tag = f.read(n + t)
        g = Gcm(key, max_len=max_len, impl=None if impl == "auto" else impl)
        ok = True
        why = ""
        if op == "F":
            out[:n] = b"\x5a" * n
            if g.decrypt_into(iv, aad, ct_tag, n + t, out, t) != -1:
                ok, why = False, "forgery accepted"
            elif out[:n] != b"\x5a" * n:
                ok, why = False, "plaintext written before the tag check"
            else:
                try:
                    g.decrypt(iv, aad, ct_tag, t)
                    ok, why = False, "decrypt() did not raise"
                except GcmAuthError:
                    pass
        else:
            if checked & 1:  # every other case in place
                buf[:n] = pt
                src = mv
            else:
                src = pt
            if g.encrypt_into(iv, aad, src, n, buf, t) != n + t or buf[: n + t] != ct_tag:
                ok, why = False, "ciphertext or tag differs"
            elif g.decrypt_into(iv, aad, ct_tag, n + t, out, t) != n or out[:n] != pt:
                ok, why = False, "decryption differs"
            elif g.decrypt(iv, aad, ct_tag, t) != pt:
                ok, why = False, "decrypt() differs"
            elif n == 0 and g.gmac(iv, aad, t) != ct_tag:
                ok, why = False, "gmac() differs"
        if not ok:
            failures += 1
            if failures <= _SHOW:
                print("FAIL #%d %s n=%d aad=%d tag=%d max_len=%d: %s"
                      % (checked, op, n, len(aad), t, max_len, why))
        counts[op] += 1
        checked += 1
    return checked, counts, failures


def main():
    impl = sys.argv[1]
    print("impl", Gcm(bytes(16), impl=None if impl == "auto" else impl).impl)
    with open(sys.argv[2], "rb") as f:
        checked, counts, failures = check(f, impl)
    print("checked %d E %d D %d F %d failures %d"
          % (checked, counts["E"], counts["D"], counts["F"], failures))


main()
