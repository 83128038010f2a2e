# comms.dlms.hdlc under the real MicroPython: CRC, framing by length (0x7E inside frames and FCS),
# SNRM/UA negotiation, segmentation both ways paced by RR, retransmission, DM/FRMR, garbage.
from comms.dlms.hdlc import HdlcServer, crc16
from hal.unix.p3bench.client import fail

SERVER = b"\x03"  # logical 1, one-byte form
CLIENT = b"\x21"  # SAP 16


def check(cond, msg):
    if not cond:
        fail(msg)


class Upper:
    """Answers a request 'R' + 2-byte size with that many bytes (0x7E among them)."""

    def __init__(self):
        self.out = bytearray(2100)
        self.outmv = memoryview(self.out)
        self.out_start = 3
        self.ups = []
        self.downs = 0
        self.requests = []

    def link_up(self, sap):
        self.ups.append(sap)

    def link_down(self):
        self.downs += 1

    def request(self, sap, buf, start, n):
        if n < 0:
            self.requests.append(None)
            return 0
        data = bytes(buf[start : start + n])
        self.requests.append(data)
        if data[:1] != b"R":
            return 0
        size = (data[1] << 8) | data[2]
        for i in range(size):
            self.out[3 + i] = (i * 7 + 0x7E) & 0xFF
        return size


class Line:
    def __init__(self):
        self.sent = bytearray()

    def write(self, buf, n):
        self.sent += buf[:n]

    def frames(self):
        """Split what was sent into (format, dest, src, ctrl, info) and clear it."""
        out = []
        b = self.sent
        i = 0
        while i < len(b):
            check(b[i] == 0x7E, "flag")
            length = ((b[i + 1] & 7) << 8) | b[i + 2]
            body = b[i + 1 : i + 1 + length]
            check(b[i + 1 + length] == 0x7E, "closing flag")
            check(crc16(body, 0, length - 2) == body[-2] | (body[-1] << 8), "FCS")
            q = 3
            while not body[q] & 1:  # the source (our) address may have 1, 2 or 4 bytes
                q += 1
            ctrl = body[q + 1]
            info = b""
            if length > q + 4:
                check(crc16(body, 0, q + 2) == body[q + 2] | (body[q + 3] << 8), "HCS")
                info = bytes(body[q + 4 : -2])
            out.append((body[0], bytes(body[2:3]), bytes(body[3 : q + 1]), ctrl, info))
            i += length + 2
        self.sent = bytearray()
        return out


def frame(ctrl, info=b"", seg=False, dest=SERVER, src=CLIENT):
    length = 2 + len(dest) + len(src) + 1 + (len(info) + 2 if info else 0) + 2
    head = (
        bytearray((0xA0 | (0x08 if seg else 0) | (length >> 8), length & 0xFF))
        + dest
        + src
        + bytes((ctrl,))
    )
    if info:
        c = crc16(head, 0, len(head))
        head += bytes((c & 0xFF, c >> 8)) + info
    c = crc16(head, 0, len(head))
    return b"\x7e" + bytes(head) + bytes((c & 0xFF, c >> 8)) + b"\x7e"


def i_ctrl(ns, nr):
    return (nr << 5) | 0x10 | (ns << 1)


def new():
    up = Upper()
    line = Line()
    return HdlcServer(up, line.write), up, line


def feed(h, data):
    buf = bytearray(data)
    h.feed(memoryview(buf), len(buf))


# CRC-16/X.25 check value, and the real-meter SNRM of the dlms-cosem test suite
check(crc16(b"123456789", 0, 9) == 0x906E, "CRC-16/X.25 check value")
snrm_2byte = bytes.fromhex("7ea00802232193bd647e")  # server logical 1, physical 17; client SAP 16
check(crc16(snrm_2byte, 1, 7) == 0x64BD, "captured SNRM FCS")

# SNRM (documented capture: dlms-cosem, no parameters) -> UA with 128/128, window 1
h, up, line = new()
feed(h, bytes.fromhex("7ea0070321930f017e"))
(f,) = line.frames()
check(f[3] == 0x73 and f[1] == CLIENT and f[2] == SERVER, "UA addressed back")
check(
    f[4] == bytes.fromhex("818012050180060180070400000001080400000001"), "UA parameters %s" % f[4]
)
check(up.ups == [16] and h.connected, "link up")

# the two-byte server address form is echoed
h, up, line = new()
feed(h, snrm_2byte)
frames = line.frames()
check(frames and frames[0][3] == 0x73 and frames[0][2] == b"\x02\x23", "UA from the 2-byte form")
check(line.sent == b"", "one frame")

# negotiation: the client offers 300 to receive and sends at most 64
h, up, line = new()
feed(h, frame(0x93, b"\x81\x80\x0e\x05\x01\x40\x06\x02\x01\x2c\x07\x04\x00\x00\x00\x07"))
(f,) = line.frames()
check((h.tx_info, h.rx_info) == (300, 64), "negotiated %d/%d" % (h.tx_info, h.rx_info))
check(
    b"\x05\x02\x01\x2c\x06\x01\x40" in f[4] and f[4].endswith(b"\x08\x04\x00\x00\x00\x01"),
    "UA states 300/64, window 1",
)

# byte-by-byte arrival, garbage in front, an I-frame whose information holds 0x7E
h, up, line = new()
feed(h, frame(0x93))
line.frames()
req = b"\xe6\xe6\x00R\x00\x10\x7e\x7e"
data = b"\x00\x7e\x7e\xa0\x01garbage" + frame(i_ctrl(0, 0), req)
for b in data:
    feed(h, bytes((b,)))
(f,) = line.frames()
check(up.requests == [b"R\x00\x10\x7e\x7e"], "request reassembled across single bytes")
check(
    f[3] == i_ctrl(0, 1) and f[4][:3] == b"\xe6\xe7\x00" and len(f[4]) == 3 + 16,
    "response I-frame",
)

# a frame whose FCS contains 0x7E (found by varying the payload) is framed by its length
h, up, line = new()
feed(h, frame(0x93))
line.frames()
for k in range(2000):
    fr = frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x01" + bytes((k & 255, k >> 8)))
    if 0x7E in fr[-3:-1]:
        break
feed(h, fr)
(f,) = line.frames()
check(f[3] == i_ctrl(0, 1), "frame with 0x7E in its FCS accepted")

# long response: segments of at most 128 information bytes, each one released by an RR
h, up, line = new()
feed(h, frame(0x93))
line.frames()
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x03\xe8"))  # 1000 bytes
got = b""
nr = 1
for seg in range(20):
    (f,) = line.frames()
    check(f[3] & 1 == 0 and (f[3] >> 1) & 7 == seg & 7, "segment N(S)")
    check(len(f[4]) <= 128, "segment size")
    got += f[4]
    if not f[0] & 0x08:
        break
    nr = (seg + 1) & 7
    feed(h, frame(0x11 | (nr << 5)))  # RR
check(
    seg == 7 and got[:3] == b"\xe6\xe7\x00" and len(got) == 1003, "8 segments, %d bytes" % len(got)
)
check(got[3:] == bytes((i * 7 + 0x7E) & 0xFF for i in range(1000)), "segments reassemble")
# the client lost the last segment and polls: it comes again
feed(h, frame(0x11 | (nr << 5)))
(f,) = line.frames()
check(f[4] == got[-len(f[4]) :], "last segment repeated on an RR that does not acknowledge it")

# segmented request from the client: RR after each segment, one request at the end
h, up, line = new()
feed(h, frame(0x93))
line.frames()
parts = (b"\xe6\xe6\x00R\x00\x02", b"abc", b"def")
for k, p in enumerate(parts):
    feed(h, frame(i_ctrl(k, 0), p, seg=k < 2))
    f = line.frames()[0]
    if k < 2:
        check(f[3] == 0x11 | ((k + 1) << 5), "RR after client segment %d" % k)
check(up.requests == [b"R\x00\x02abcdef"], "client segments reassembled")

# the client repeats an I-frame (our answer was lost): same answer again, no second request
h, up, line = new()
feed(h, frame(0x93))
line.frames()
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x05"))
first = line.frames()
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x05"))
check(line.frames() == first and len(up.requests) == 1, "retransmission on a duplicate N(S)")
# a frame from another client in between (answered with a DM) does not replace our answer:
# the connected client repeating its I-frame gets its own answer again, never that DM
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x05", src=b"\x03"))
(dm,) = line.frames()
check(dm[3] == 0x1F and dm[1] == b"\x03", "DM to the other client")
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x05"))
check(line.frames() == first and len(up.requests) == 1, "own answer resent after a foreign DM")
# and a fresh link has nothing to resend: a repeated N(S) = 7 right after SNRM gets no old frame
h2, up2, line2 = new()
feed(h2, frame(0x93))
line2.frames()
feed(h2, frame(i_ctrl(7, 0), b"\xe6\xe6\x00R\x00\x05"))
check(all(f[3] != 0x73 for f in line2.frames()), "no UA resent as an answer")
# out of sequence: an RR tells the client what is expected
feed(h, frame(i_ctrl(5, 1), b"\xe6\xe6\x00R\x00\x05"))
(f,) = line.frames()
check(f[3] == 0x11 | (1 << 5) and len(up.requests) == 1, "RR(1) for an out-of-sequence frame")

# DM before SNRM and after DISC; FRMR for an undefined command; other addresses ignored
h, up, line = new()
feed(h, frame(i_ctrl(0, 0), b"\xe6\xe6\x00R\x00\x05"))
check(line.frames()[0][3] == 0x1F, "DM before SNRM")
feed(h, frame(0x53))
check(line.frames()[0][3] == 0x1F, "DM to DISC when not connected")
feed(h, frame(0x93))
line.frames()
feed(h, frame(0xE7))
(f,) = line.frames()
check(f[3] == 0x97 and len(f[4]) == 3 and f[4][0] == 0xE7, "FRMR")
feed(h, frame(0x93, dest=b"\x05"))  # logical device 2
check(line.frames() == [], "another logical device's frame ignored")
feed(h, frame(0x53))
(f,) = line.frames()
check(
    f[3] == 0x73 and f[4][:2] == b"\x81\x80" and up.downs == 1 and not h.connected,
    "UA (with parameters) to DISC",
)

# a length beyond any frame we accept is dropped at once; a plausible bogus length hides a
# frame until the line goes quiet
h, up, line = new()
feed(h, b"\x7e\xa7\xf0" + frame(0x93))
check(line.frames()[0][3] == 0x73, "impossible length skipped")
h, up, line = new()
feed(h, b"\x7e\xa1\xf0" + frame(0x93))
check(line.frames() == [], "waiting for the long frame")
h.flush_stale()
check(line.frames()[0][3] == 0x73, "frame found after the stale rescan")
check(not h.pending(), "buffer empty")

# a request larger than the reassembly buffer is reported to the upper layer, not stored
h, up, line = new()
feed(h, frame(0x93, b"\x81\x80\x06\x05\x02\x02\x00\x06\x01\x80"))
line.frames()
ns = 0
for k in range(3):
    feed(h, frame(i_ctrl(ns, 0), b"\xe6\xe6\x00" + b"x" * 500, seg=True))
    ns += 1
feed(h, frame(i_ctrl(ns, 0), b"end"))
check(up.requests == [None], "oversized request flagged")
print("OK")
