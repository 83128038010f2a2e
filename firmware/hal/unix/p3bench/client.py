# meterkast: a minimal DLMS management client in MicroPython, for firmware tests and benchmarks
# MIT license
#
# Talks to a DlmsServer directly (APDU in, APDU out; no HDLC), with its own Gcm: AARQ with
# HLS-GMAC, pass 3/4, general-glo-ciphering, GET normal / next. Independent of the server's
# code paths except the shared GCM primitive.
import os
import sys

from comms.crypto.gcm import Gcm

CLIENT_TITLE = b"HES\x00\x00\x00\x00\x0a"
SYSTEM_TITLE = b"MKS\x00\x00\x00\x00\x01"
EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))


def keys(kek=None):
    k = {"system_title": SYSTEM_TITLE, "ek": EK, "ak": AK, "client_system_title": CLIENT_TITLE}
    if kek is not None:
        k["kek"] = kek  # the master key: the head-end may transfer new keys
    return k


def ber(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    return bytes((tag, 0x81, n)) + content


def be32(v):
    return bytes(((v >> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255))


def length(n):
    return (
        bytes((n,))
        if n < 0x80
        else (bytes((0x81, n)) if n < 0x100 else bytes((0x82, n >> 8, n & 255)))
    )


def read_length(b, p):
    n = b[p]
    if n < 0x80:
        return n, p + 1
    k = n & 0x7F
    v = 0
    for i in range(k):
        v = (v << 8) | b[p + 1 + i]
    return v, p + 1 + k


class FwClient:
    def __init__(self, server, ic=1, max_pdu=0xFFFF, ek=EK, ak=AK):
        self.server = server
        self.gcm = Gcm(ek)
        self.ic = ic
        self.server_ic = 0
        self.max_pdu = max_pdu
        self.ak = ak
        self.aad = bytes((0x30,)) + ak

    def send(self, apdu):
        """One APDU to the server; the answer as bytes ('' when there is none)."""
        buf = bytearray(apdu)
        n = self.server.request(1, memoryview(buf), 0, len(buf))
        s = self.server.out_start
        return bytes(self.server.out[s : s + n])

    def _iv(self, title, ic):
        return title + be32(ic)

    def protect(self, plain):
        ic = self.ic
        self.ic += 1
        ct = self.gcm.encrypt(self._iv(CLIENT_TITLE, ic), self.aad, plain)
        body = b"\x30" + be32(ic) + ct
        return b"\xdb\x08" + CLIENT_TITLE + length(len(body)) + body

    def unprotect(self, apdu):
        if apdu[0] != 0xDB:
            return apdu  # plain (exception responses to undecipherable requests)
        assert apdu[2:10] == SYSTEM_TITLE
        n, p = read_length(apdu, 10)
        assert p + n == len(apdu) and apdu[p] == 0x30
        ic = int.from_bytes(apdu[p + 1 : p + 5], "big")
        assert ic > self.server_ic, "server counter did not rise"
        self.server_ic = ic
        return self.gcm.decrypt(self._iv(SYSTEM_TITLE, ic), self.aad, apdu[p + 5 :])

    def call(self, plain):
        return self.unprotect(self.send(self.protect(plain)))

    def aarq(self, ctos=b"0123456789abcdef", title=CLIENT_TITLE, mechanism=5):
        ic = self.ic
        self.ic += 1
        ui = b"\x01\x00\x00\x00\x06\x5f\x1f\x04\x00\x40\x10\x1d" + bytes(
            (self.max_pdu >> 8, self.max_pdu & 255)
        )
        ct = self.gcm.encrypt(self._iv(CLIENT_TITLE, ic), self.aad, ui)
        glo = b"\x21" + length(5 + len(ct)) + b"\x30" + be32(ic) + ct
        return ber(
            0x60,
            ber(0xA1, b"\x06\x07\x60\x85\x74\x05\x08\x01\x03")
            + ber(0xA6, ber(0x04, title))
            + b"\x8a\x02\x07\x80"
            + ber(0x8B, b"\x60\x85\x74\x05\x08\x02" + bytes((mechanism,)))
            + ber(0xAC, ber(0x80, ctos))
            + ber(0xBE, ber(0x04, glo)),
        )

    def associate(self):
        self.server.link_up(1)
        ctos = os.urandom(16)
        aare = self.send(self.aarq(ctos))
        assert aare[0] == 0x61, aare
        i = aare.index(b"\xaa\x12\x80\x10")
        stoc = aare[i + 4 : i + 20]
        j = i + 20  # user-information follows the challenge
        assert aare[j] == 0xBE
        glo = aare[j + 4 :]
        assert glo[0] == 0x28
        sic = int.from_bytes(glo[3:7], "big")
        assert sic > self.server_ic, "server counter did not rise"
        self.gcm.decrypt(self._iv(SYSTEM_TITLE, sic), self.aad, glo[7:])
        self.server_ic = sic
        gic = self.ic
        self.ic += 1
        tag = self.gcm.gmac(self._iv(CLIENT_TITLE, gic), b"\x10" + self.ak + stoc)
        f = b"\x10" + be32(gic) + tag
        answer = self.call(b"\xc3\x01\xc1\x00\x0f\x00\x00\x28\x00\x00\xff\x01\x01\x09\x11" + f)
        assert answer[:6] == b"\xc7\x01\xc1\x00\x01\x00", answer
        pic = int.from_bytes(answer[9:13], "big")
        want = self.gcm.gmac(self._iv(SYSTEM_TITLE, pic), b"\x10" + self.ak + ctos)
        assert answer[13:25] == want, "server failed HLS pass 4"

    def get(self, class_id, ln, attr, selector=0, params=b""):
        """Data bytes of an attribute, blocks reassembled; raises on an error result."""
        req = b"\xc0\x01\xc1" + bytes((class_id >> 8, class_id & 255)) + ln + bytes((attr,))
        req += (bytes((1, selector)) + params) if selector else b"\x00"
        answer = self.call(req)
        if answer[1] == 1:
            if answer[3] != 0:
                raise ValueError("data-access-result %d" % answer[4])
            return answer[4:]
        data = b""
        while True:
            assert answer[:2] == b"\xc4\x02", answer
            if answer[8] != 0:
                raise ValueError("data-access-result %d" % answer[9])
            n, p = read_length(answer, 9)
            data += answer[p : p + n]
            if answer[3]:
                return data
            answer = self.call(b"\xc0\x02\xc1" + answer[4:8])


def entry_params(first, last, col_first=1, col_last=0):
    return (
        b"\x02\x04\x06"
        + be32(first)
        + b"\x06"
        + be32(last)
        + b"\x12"
        + bytes((col_first >> 8, col_first & 255))
        + b"\x12"
        + bytes((col_last >> 8, col_last & 255))
    )


def fail(msg):
    print("FAIL", msg)
    sys.exit(1)
