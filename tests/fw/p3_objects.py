# meterkast: helpers of the P3 object tests: a public client on a server, plain GETs, GET
# answers reassembled, the association's object list parsed
# MIT license
from comms.dlms import axdr
from hal.unix.p3bench.client import fail, read_length


def check(cond, msg):
    if not cond:
        fail(msg)


class FreshDirs:
    """A new directory under a RAM flash mount for every server a test builds."""

    def __init__(self, root):
        self.root = root
        self.n = 0

    def __call__(self):
        import os

        self.n += 1
        d = "%s/%d" % (self.root, self.n)
        os.mkdir(d)
        return d


class PublicClient:
    """SAP 16, no security: plain APDUs straight to the server."""

    def __init__(self, server, max_pdu=0xFFFF, conformance=0x401E5D):
        self.server = server
        server.link_up(16)
        ui = b"\x01\x00\x00\x00\x06\x5f\x1f\x04\x00" + bytes(
            (conformance >> 16, (conformance >> 8) & 255, conformance & 255, max_pdu >> 8,
             max_pdu & 255))
        aarq = b"\x60\x1d\xa1\x09\x06\x07\x60\x85\x74\x05\x08\x01\x01\xbe\x10\x04\x0e" + ui
        self.aare = self.call(aarq)
        check(self.aare[:2] == b"\x61\x29" and self.aare[17] == 0, "public AARE %s" % self.aare)

    def call(self, apdu):
        buf = bytearray(apdu)
        n = self.server.request(16, memoryview(buf), 0, len(buf))
        s = self.server.out_start
        return bytes(self.server.out[s : s + n])


def get_plain(client, class_id, ln, attr, selector=0, params=b""):
    req = b"\xc0\x01\xc1" + bytes((class_id >> 8, class_id & 255)) + ln + bytes((attr,))
    req += (bytes((1, selector)) + params) if selector else b"\x00"
    return collect(client, client.call(req), 1)


def collect(client, answer, kind):
    """The data of a GET answer (normal: kind 1, list: kind 3), blocks reassembled; raises
    ValueError with the result code of a refused normal GET."""
    if answer[1] == kind:
        if kind == 1:
            if answer[3] != 0:
                raise ValueError("data-access-result %d" % answer[4])
            return answer[4:]
        return answer[3:]
    data = b""
    blocks = 0
    while True:
        check(answer[:2] == b"\xc4\x02", "block answer %s" % answer[:12])
        blocks += 1
        check(int.from_bytes(answer[4:8], "big") == blocks, "block number")
        if answer[8] != 0:
            raise ValueError("data-access-result %d" % answer[9])
        n, p = read_length(answer, 9)
        check(p + n == len(answer), "block length")
        data += answer[p : p + n]
        if answer[3]:
            client.blocks = blocks
            return data
        answer = client.call(b"\xc0\x02\xc1" + answer[4:8])


def aare_conformance(aare):
    i = aare.index(b"\x5f\x1f\x04\x00")
    return int.from_bytes(aare[i + 4 : i + 7], "big")


def parse_object_list(data):
    """[(class, version, ln, {attr: (mode, selectors)}, {method: mode})] and the bytes used."""
    r = axdr.Reader().reset(data, 0, len(data))
    r.expect(axdr.ARRAY)
    out = []
    for _ in range(r.length()):
        r.expect(axdr.STRUCTURE)
        check(r.length() == 4, "element of 4")
        r.expect(axdr.LONG_UNSIGNED)
        cls = r.u16()
        r.expect(axdr.UNSIGNED)
        version = r.u8()
        p = r.octets(6)
        ln = bytes(data[p : p + 6])
        r.expect(axdr.STRUCTURE)
        check(r.length() == 2, "access_rights of 2")
        attrs = {}
        r.expect(axdr.ARRAY)
        for _ in range(r.length()):
            r.expect(axdr.STRUCTURE)
            check(r.length() == 3, "attribute_access_item of 3")
            r.expect(axdr.INTEGER)
            a = r.u8()
            r.expect(axdr.ENUM)
            mode = r.u8()
            sel = []
            tag = r.u8()
            if tag == axdr.ARRAY:
                for _ in range(r.length()):
                    r.expect(axdr.INTEGER)
                    sel.append(r.u8())
            else:
                check(tag == axdr.NULL, "access_selectors null or array")
            attrs[a] = (mode, sel)
        methods = {}
        r.expect(axdr.ARRAY)
        for _ in range(r.length()):
            r.expect(axdr.STRUCTURE)
            check(r.length() == 2, "method_access_item of 2")
            r.expect(axdr.INTEGER)
            m = r.u8()
            r.expect(axdr.ENUM)
            methods[m] = r.u8()
        out.append((cls, version, ln, attrs, methods))
    check(r.pos == len(data), "nothing after the list")
    return out


def get_list_request(items):
    req = b"\xc0\x03\xc1" + bytes((len(items),))
    for cls, ln, attr, sel in items:
        req += bytes((cls >> 8, cls & 255)) + ln + bytes((attr,))
        req += (bytes((1, sel[0])) + sel[1]) if sel else b"\x00"
    return req


def parse_list(data):
    """[(0, data bytes) | (1, result)] of a GET-with-list answer."""
    r = axdr.Reader().reset(data, 0, len(data))
    out = []
    for _ in range(r.length()):
        if r.u8() == 0:
            p = r.pos
            r.skip_data()
            out.append((0, bytes(data[p : r.pos])))
        else:
            out.append((1, r.u8()))
    check(r.pos == len(data), "nothing after the list results")
    return out
