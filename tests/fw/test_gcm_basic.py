# comms.crypto.gcm under the real MicroPython: known answers, tag lengths, in-place use, tampering,
# both implementations, and no heap allocation in encrypt_into/decrypt_into.
import micropython
from binascii import unhexlify as h

from comms.crypto.gcm import Gcm, GcmAuthError

# McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 1-4 (AES-128):
# key, IV, AAD, plaintext, ciphertext, 16-byte tag
K3 = "feffe9928665731c6d6a8f9467308308"
IV3 = "cafebabefacedbaddecaf888"
P3 = (
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
C3 = (
    "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
    "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
)
CASES = (
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    (
        "00" * 16,
        "00" * 12,
        "",
        "00" * 16,
        "0388dace60b6a392f328c2b971b2fe78",
        "ab6e47d42cec13bdf53a67b21257bddf",
    ),
    (K3, IV3, "", P3, C3, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (
        K3,
        IV3,
        "feedfacedeadbeeffeedfacedeadbeefabaddad2",
        P3[:120],
        C3[:120],
        "5bc94fbc3221a5db94fae95ae7121a47",
    ),
)
IMPLS = ("viper", "bytecode")


def known_answers(impl):
    for case in CASES:
        key, iv, aad, pt, ct, tag = [h(x) for x in case]
        g = Gcm(key, impl=impl)
        assert g.impl == impl
        assert g.encrypt(iv, aad, pt, 16) == ct + tag, (impl, case)
        assert g.decrypt(iv, aad, ct + tag, 16) == pt
        if not pt:
            assert g.gmac(iv, aad, 16) == tag
        for t in range(4, 17):  # a shorter tag is a prefix of the full one
            out = g.encrypt(iv, aad, pt, t)
            assert out == ct + tag[:t], (impl, t)
            assert g.decrypt(iv, aad, out, t) == pt
        # the same through the no-allocation API, AAD and IV as other buffer types
        buf = bytearray(len(pt) + 20)
        n = g.encrypt_into(memoryview(iv), bytearray(aad), pt, len(pt), buf, 12)
        assert n == len(pt) + 12 and bytes(buf[:n]) == ct + tag[:12]
        out = bytearray(len(pt))
        assert g.decrypt_into(iv, memoryview(aad), buf, n, out, 12) == len(pt)
        assert out == pt


def message(n, seed):
    return bytes((i * 131 + seed * 17 + (i >> 8)) & 255 for i in range(n))


def in_place_and_tamper(impl):
    g = Gcm(h(K3), impl=impl)
    iv = h(IV3)
    aad = b"\x30" + message(16, 1)  # security header and system title, as in DLMS
    for n in (0, 1, 15, 16, 17, 63, 64, 65, 255, 1024):
        pt = message(n, n)
        ref = g.encrypt(iv, aad, pt)
        buf = bytearray(pt + bytes(12))
        assert g.encrypt_into(iv, aad, buf, n, buf) == n + 12
        assert bytes(buf) == ref, (impl, n)
        assert g.decrypt_into(iv, aad, buf, n + 12, buf) == n
        assert bytes(buf[:n]) == pt
        mv = memoryview(buf)  # a memoryview as both source and destination
        assert g.encrypt_into(iv, aad, mv, n, mv) == n + 12 and bytes(buf) == ref
    pt = message(40, 3)
    ct = g.encrypt(iv, aad, pt)
    dst = bytearray(b"\xaa" * 40)
    for i in range(len(ct)):  # every single-byte change, in ciphertext and tag, is refused
        bad = bytearray(ct)
        bad[i] ^= 0x01 << (i & 7)
        assert g.decrypt_into(iv, aad, bad, len(bad), dst) == -1
        assert dst == b"\xaa" * 40  # nothing was written
    for wrong_iv, wrong_aad in ((b"\x01" + iv[1:], aad), (iv, aad[:-1]), (iv, aad + b"\x00")):
        try:
            g.decrypt(wrong_iv, wrong_aad, ct)
            raise AssertionError("accepted a changed IV or AAD")
        except GcmAuthError:
            pass
    assert g.decrypt_into(iv, aad, ct, 11, dst) == -1  # shorter than the tag
    assert g.decrypt(iv, aad, ct) == pt
    assert isinstance(GcmAuthError("x"), ValueError)


def bad_arguments():
    for args, kw in (
        ((bytes(15),), {}),
        ((bytes(32),), {}),
        ((bytes(16),), {"impl": "native"}),
    ):
        try:
            Gcm(*args, **kw)
            raise AssertionError("accepted %r %r" % (args, kw))
        except ValueError:
            pass
    g = Gcm(bytes(16))
    for iv, tag_len, dst_len in ((bytes(11), 12, 64), (bytes(16), 12, 64), (bytes(12), 3, 64),
                                 (bytes(12), 17, 64), (bytes(12), 12, 20)):
        try:
            g.encrypt_into(iv, b"", bytes(10), 10, bytearray(dst_len), tag_len)
            raise AssertionError("accepted iv %d tag %d dst %d" % (len(iv), tag_len, dst_len))
        except ValueError:
            pass
    try:
        g.decrypt_into(bytes(12), b"", bytes(40), 40, bytearray(27))
        raise AssertionError("accepted a short destination")
    except ValueError:
        pass


def implementations_agree():
    key = message(16, 7)
    small = [Gcm(key, max_len=32, impl=impl) for impl in IMPLS]  # many chunks per message
    big = [Gcm(key, max_len=4096, impl=impl) for impl in IMPLS]
    for n in list(range(0, 70)) + [127, 128, 129, 1000, 2047, 2048, 2049, 4096, 5000]:
        iv = message(12, n)
        aad = message(n % 37, n + 1)
        pt = message(n, n + 2)
        t = 4 + n % 13
        outs = [g.encrypt(iv, aad, pt, t) for g in small + big]
        for o in outs[1:]:
            assert o == outs[0], n
        for g in small + big:
            assert g.decrypt(iv, aad, outs[0], t) == pt


def independent_instances():
    # two keys interleaved: no state is shared between objects
    a = Gcm(bytes(16))
    b = Gcm(h(K3))
    ta = a.gmac(bytes(12), b"", 16)
    assert b.encrypt(h(IV3), b"", h(P3), 16) == h(C3) + h("4d5c2af327cd64a62cf35abd2ba6fab4")
    assert a.gmac(bytes(12), b"", 16) == ta == h("58e2fccefa7e3061367f1d57a4e7455a")


def no_allocation(impl):
    g = Gcm(h(K3), impl=impl)
    iv = bytearray(h(IV3))
    aad = memoryview(b"\x30" + message(16, 1))
    src = message(3000, 5)
    buf = bytearray(3000 + 16)
    out = bytearray(3000)
    results = bytearray(64)  # filled while the heap is locked, checked afterwards
    lengths = (0, 1, 16, 17, 100, 1024, 2048, 2049, 3000)
    micropython.heap_lock()
    try:
        k = 0
        for rep in range(3):
            for n in lengths:
                iv[11] = rep * 16 + k & 255
                t = 4 + (n + rep) % 13
                ok = g.encrypt_into(iv, aad, src, n, buf, t) == n + t
                ok = ok and g.decrypt_into(iv, aad, buf, n + t, out, t) == n
                buf[0] ^= 1  # a tampered frame is refused without allocating either
                ok = ok and g.decrypt_into(iv, aad, buf, n + t, out, t) == -1
                results[k] = ok
                k += 1
    finally:
        micropython.heap_unlock()
    assert results[:k] == b"\x01" * k, (impl, results[:k])
    assert out == src


assert Gcm(bytes(16)).impl == "viper"  # the unix port has a native emitter
for impl in IMPLS:
    known_answers(impl)
    in_place_and_tamper(impl)
    no_allocation(impl)
    print(impl, "ok")
bad_arguments()
implementations_agree()
independent_instances()
print("OK")
