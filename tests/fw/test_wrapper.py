# comms.dlms.wrapper under the real MicroPython: IEC 62056-47 headers split across reads, two
# APDUs in one read, a bad version, bad and over-long lengths, foreign wPorts, garbage, client
# changes, the stale flush; replies carry the swapped wPorts and the right length.
from comms.dlms.get import MAX_PDU
from comms.dlms.wrapper import WrapperServer
from hal.unix.p3bench.client import fail


def check(cond, msg):
    if not cond:
        fail(msg)


class Upper:
    """Answers a request 'R' + 2-byte size with that many bytes; records everything."""

    def __init__(self):
        self.out = bytearray(1100)
        self.outmv = memoryview(self.out)
        self.out_start = 5
        self.ups = []
        self.downs = 0
        self.requests = []

    def link_up(self, sap):
        self.ups.append(sap)

    def link_down(self):
        self.downs += 1

    def request(self, sap, buf, start, n):
        if n < 0:
            self.requests.append((sap, None))
            self.out[5:8] = b"\xd8\x01\x04"  # exception-response: PDU too long
            return 3
        data = bytes(buf[start : start + n])
        self.requests.append((sap, data))
        if data[:1] != b"R":
            return 0
        size = (data[1] << 8) | data[2]
        for i in range(size):
            self.out[5 + i] = (i * 7 + sap) & 0xFF
        return size


class Line:
    def __init__(self):
        self.sent = bytearray()

    def write(self, buf, n):
        self.sent += buf[:n]

    def replies(self):
        """Split what was sent into (version, src, dst, body) and clear it."""
        out = []
        b = self.sent
        i = 0
        while i < len(b):
            check(len(b) - i >= 8, "whole header")
            v = (b[i] << 8) | b[i + 1]
            src = (b[i + 2] << 8) | b[i + 3]
            dst = (b[i + 4] << 8) | b[i + 5]
            n = (b[i + 6] << 8) | b[i + 7]
            check(len(b) - i - 8 >= n, "whole body")
            out.append((v, src, dst, bytes(b[i + 8 : i + 8 + n])))
            i += 8 + n
        self.sent = bytearray()
        return out


def hdr(src, dst, n, version=1):
    return bytes((version >> 8, version & 0xFF, src >> 8, src & 0xFF, dst >> 8, dst & 0xFF,
                  n >> 8, n & 0xFF))


def apdu(src, body, dst=1):
    return hdr(src, dst, len(body)) + body


def new():
    up = Upper()
    line = Line()
    return WrapperServer(up, line.write), up, line


def feed(w, data):
    b = bytearray(data)
    w.feed(memoryview(b), len(b))


def expect_answer(line, src, size):
    r = line.replies()
    check(len(r) == 1, "one reply, got %d" % len(r))
    v, s, d, body = r[0]
    check(v == 1 and s == 1 and d == src, "header swapped: %r" % ((v, s, d),))
    check(len(body) == size, "reply length %d != %d" % (len(body), size))
    check(all(body[i] == (i * 7 + src) & 0xFF for i in range(size)), "reply body")


# one APDU in one read: handed up with its client, answered with swapped wPorts
w, up, line = new()
feed(w, apdu(16, b"R\x00\x05"))
check(up.ups == [16] and up.requests == [(16, b"R\x00\x05")], "request handed up")
expect_answer(line, 16, 5)
check(w.frames_ok == 1 and w.frames_bad == 0 and not w.pending(), "counters")

# a header split at every position, and byte by byte
for cut in range(1, 11):
    w, up, line = new()
    msg = apdu(1, b"R\x01\x00")
    feed(w, msg[:cut])
    check(line.replies() == [] and w.pending(), "waits at cut %d" % cut)
    feed(w, msg[cut:])
    expect_answer(line, 1, 256)
w, up, line = new()
for b in apdu(1, b"R\x00\x10"):
    feed(w, bytes((b,)))
expect_answer(line, 1, 16)

# two APDUs in one read (and a third one's header begun)
w, up, line = new()
feed(w, apdu(16, b"R\x00\x03") + apdu(16, b"R\x00\x04") + hdr(16, 1, 3)[:5])
r = line.replies()
check([len(x[3]) for x in r] == [3, 4], "two replies in order: %r" % r)
check(up.ups == [16], "one client, one link_up")
feed(w, hdr(16, 1, 3)[5:] + b"R\x00\x02")
check(len(line.replies()) == 1, "the third after its rest")

# a bad version is garbage: dropped byte by byte, counted, the next good header is found
w, up, line = new()
feed(w, hdr(0x2222, 0x3333, 3, version=2) + b"R\x00\x05" + apdu(16, b"R\x00\x02"))
r = line.replies()
check(len(r) == 1 and len(r[0][3]) == 2, "only the good APDU answered")
check(w.frames_bad > 0 and w.frames_ok == 1, "bad version counted")

# garbage before, between and after APDUs (none of it a version-1 header)
w, up, line = new()
junk = b"\xff\x7e\x01\x02\x03\xaa\x55\x00\x00\x00\x02\x99"
feed(w, junk + apdu(1, b"R\x00\x07") + junk + apdu(1, b"R\x00\x08") + junk[:5])
r = line.replies()
check([len(x[3]) for x in r] == [7, 8], "garbage skipped: %r" % [len(x[3]) for x in r])
check(w.frames_bad >= len(junk), "garbage counted")

# length 0: dropped and counted, nothing handed up
w, up, line = new()
feed(w, hdr(16, 1, 0) + apdu(16, b"R\x00\x01"))
check(up.requests == [(16, b"R\x00\x01")], "zero length skipped")
check(w.frames_bad == 1 and len(line.replies()) == 1, "zero length counted")

# over-long: the body is dropped as it comes, the client hears "PDU too long", the stream
# stays in step, and the buffers were never grown
w, up, line = new()
big = MAX_PDU + 100
feed(w, hdr(1, 1, big) + b"x" * 300)
check(w.pending() and line.replies() == [], "still dropping the long body")
feed(w, b"y" * (big - 300) + apdu(1, b"R\x00\x02"))
r = line.replies()
check(len(r) == 2 and r[0][3] == b"\xd8\x01\x04" and r[0][2] == 1, "PDU too long answered")
check(len(r[1][3]) == 2, "the next APDU still understood")
check(w.too_long == 1 and w.frames_bad == 1, "over-long counted")
check(up.requests[0] == (1, None), "handed up as an overflow")

# an APDU for another logical device: skipped whole, unanswered, counted
w, up, line = new()
feed(w, apdu(16, b"R\x00\x03", dst=2) + apdu(16, b"R\x00\x01"))
check(up.requests == [(16, b"R\x00\x01")], "foreign destination not handed up")
check(w.frames_bad == 1 and len(line.replies()) == 1, "foreign destination counted")

# an APDU with no answer (the upper layer returns 0) sends nothing
w, up, line = new()
feed(w, apdu(16, b"X"))
check(line.replies() == [] and w.frames_ok == 1, "no answer")

# a new client wPort starts a new context; disconnect ends it once
w, up, line = new()
feed(w, apdu(16, b"R\x00\x01") + apdu(1, b"R\x00\x01") + apdu(1, b"R\x00\x01"))
check(up.ups == [16, 1] and up.downs == 1, "client change: %r %d" % (up.ups, up.downs))
w.disconnect()
w.disconnect()
check(up.downs == 2 and not w.connected, "disconnect once")
line.replies()

# the stale flush drops a half APDU; what follows is understood
w, up, line = new()
feed(w, apdu(16, b"R\x00\x09")[:9])
w.flush_stale()
check(not w.pending() and w.frames_bad == 1, "stale dropped")
feed(w, apdu(16, b"R\x00\x09"))
expect_answer(line, 16, 9)

# random garbage never raises and leaves the framing usable
seed = 12345
w, up, line = new()
for _ in range(200):
    chunk = bytearray(37)
    for i in range(37):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        chunk[i] = seed >> 16 & 0xFF
    feed(w, chunk)
w.flush_stale()
line.sent = bytearray()  # answers to whatever in the noise looked like a request
feed(w, apdu(16, b"R\x00\x04"))
expect_answer(line, 16, 4)
print("OK")
