"""HDLC client side (IEC 62056-46, frame format type 3) over any pyserial port.

Frames are found by their length field (0x7E is not escaped in DLMS HDLC and turns up inside
ciphered frames). Window 1 both ways: every segment the client sends waits for the server's
RR, every segment the server sends is acknowledged with an RR. A lost answer is asked for
again by repeating the last frame, which the server answers by repeating its own.
"""

import time

import crcmod.predefined

crc16 = crcmod.predefined.mkCrcFun("x-25")  # CRC-16/X.25 of HCS and FCS, as an int

FLAG = 0x7E
SNRM = 0x93
DISC = 0x53
UA = 0x73
DM = 0x1F
FRMR = 0x97
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_RESPONSE = b"\xe6\xe7\x00"


class HdlcError(Exception):
    """The link failed: no answer, a refusal (DM/FRMR), or a frame out of sequence."""


def fcs(data):
    c = crc16(bytes(data))
    return bytes((c & 0xFF, c >> 8))


def server_address(logical, physical=None):
    """1-byte form without a physical address, else the 4-byte form (14 + 14 bits)."""
    if physical is None:
        return bytes(((logical << 1) | 1,))
    return bytes(
        (
            ((logical >> 7) & 0x7F) << 1,
            (logical & 0x7F) << 1,
            ((physical >> 7) & 0x7F) << 1,
            ((physical & 0x7F) << 1) | 1,
        )
    )


def build_frame(dest, src, ctrl, info=b"", segmented=False):
    """One frame with flags, HCS (when there is information) and FCS."""
    length = 2 + len(dest) + len(src) + 1 + (len(info) + 2 if info else 0) + 2
    head = bytes((0xA0 | (0x08 if segmented else 0) | (length >> 8), length & 0xFF)) + dest + src
    head += bytes((ctrl,))
    body = head + fcs(head) + bytes(info) if info else head
    return bytes((FLAG,)) + body + fcs(body) + bytes((FLAG,))


def _param(pid, value):
    if value < 256:
        return bytes((pid, 1, value))
    return bytes((pid, 2, value >> 8, value & 0xFF))


def snrm_info(max_info):
    params = _param(0x05, max_info) + _param(0x06, max_info)
    params += b"\x07\x04\x00\x00\x00\x01\x08\x04\x00\x00\x00\x01"
    return b"\x81\x80" + bytes((len(params),)) + params


def parse_ua_info(info):
    """{param id: value} of a UA's parameter field."""
    out = {}
    if len(info) >= 3 and info[0] == 0x81 and info[1] == 0x80:
        p = 3
        end = min(len(info), 3 + info[2])
        while p + 2 <= end:
            pid, n = info[p], info[p + 1]
            out[pid] = int.from_bytes(info[p + 2 : p + 2 + n], "big")
            p += 2 + n
    return out


def decode_address(body, i):
    """The LSB-terminated address of 1, 2 or 4 bytes at body[i]: ((upper, lower), next index),
    lower None for the 1-byte form; (None, i) when no valid address starts there."""
    for n in (1, 2, 4):
        if i + n > len(body):
            return None, i
        if body[i + n - 1] & 1:
            if any(body[i + k] & 1 for k in range(n - 1)):
                return None, i
            b = [x >> 1 for x in body[i:i + n]]
            if n == 1:
                return (b[0], None), i + 1
            if n == 2:
                return (b[0], b[1]), i + 2
            return ((b[0] << 7) | b[1], (b[2] << 7) | b[3]), i + 4
    return None, i


def header_state(buf, s, total):
    """Whether buf[s:] (a flag, then a format field saying `total` bytes) starts an HDLC frame,
    judged on the header alone: False when an address is malformed, there is no room for the
    control field and FCS, or the header check (HCS) is wrong; True when the HCS holds; None
    while the header is incomplete, or when the frame has no information field (no HCS)."""
    body = buf[s + 1:s + 14]  # format 2, addresses up to 4 + 4, control 1, HCS 2
    i = 2
    for _ in range(2):
        addr, j = decode_address(body, i)
        if addr is None:
            return None if len(body) < i + 4 else False
        i = j
    n = total - 2  # format field to FCS
    if n < i + 3:
        return False
    if n == i + 3 or len(body) < i + 3:
        return None
    return crc16(body[:i + 1]) == int.from_bytes(body[i + 1:i + 3], "little")


_U_FRAMES = {0x83: "SNRM", 0x43: "DISC", 0x63: "UA", 0x0F: "DM", 0x87: "FRMR", 0x03: "UI"}
_S_FRAMES = {0: "RR", 1: "RNR", 2: "REJ", 3: "SREJ"}


def control_text(c):
    """A control byte as a person reads it: 'I ns=1 nr=0 P/F', 'RR nr=2', 'SNRM P/F'."""
    pf = " P/F" if c & 0x10 else ""
    if not c & 1:
        return "I ns=%d nr=%d%s" % ((c >> 1) & 7, (c >> 5) & 7, pf)
    if c & 3 == 1:
        return "%s nr=%d%s" % (_S_FRAMES[(c >> 2) & 3], (c >> 5) & 7, pf)
    return _U_FRAMES.get(c & 0xEF, "U 0x%02X" % c) + pf


class Frame:
    __slots__ = ("ctrl", "info", "segmented", "dest", "src")

    def __init__(self, ctrl, info, segmented, dest, src):
        self.ctrl = ctrl
        self.info = info
        self.segmented = segmented
        self.dest = dest
        self.src = src

    @property
    def is_i(self):
        return not self.ctrl & 1

    @property
    def is_rr(self):
        return self.ctrl & 0x0F == 0x01


def parse_frames(buf):
    """Pull every complete, valid frame off the front of `buf` (a bytearray, consumed in place).

    Bytes that cannot start a valid frame are dropped one at a time; an incomplete frame stays.
    """
    frames = []
    i = 0
    n = len(buf)
    while True:
        while i < n and buf[i] != FLAG:
            i += 1
        if n - i < 3:
            break
        f0 = buf[i + 1]
        length = ((f0 & 7) << 8) | buf[i + 2]
        if f0 & 0xF0 != 0xA0 or length < 7:
            i += 1
            continue
        if n - i < length + 2:
            break
        body = bytes(buf[i + 1 : i + 1 + length])
        if buf[i + length + 1] != FLAG or fcs(body[:-2]) != body[-2:]:
            i += 1
            continue
        frame = _decode(body)
        if frame is None:
            i += 1
            continue
        frames.append(frame)
        i += length + 1
    del buf[:i]
    return frames


def _address(body, p, end):
    a = p
    while p < end and not body[p] & 1:
        p += 1
    return body[a : p + 1], p + 1


def _decode(body):
    end = len(body) - 2
    dest, p = _address(body, 2, end)
    src, p = _address(body, p, end)
    if p >= end:
        return None
    ctrl = body[p]
    p += 1
    info = b""
    if end - p >= 2:
        if fcs(body[:p]) != body[p : p + 2]:
            return None
        info = body[p + 2 : end]
    elif end - p == 1:
        return None
    return Frame(ctrl, info, bool(body[0] & 0x08), dest, src)


class HdlcClient:
    """One HDLC link from a client SAP to a server's logical device."""

    def __init__(
        self,
        port,
        client_sap,
        server_logical=1,
        server_physical=None,
        max_info=512,
        timeout=5.0,
        retries=2,
    ):
        self.port = port
        self.client = bytes(((client_sap << 1) | 1,))
        self.server = server_address(server_logical, server_physical)
        self.max_info = max_info
        self.timeout = timeout
        self.retries = retries
        self.rx = bytearray()
        self.ns = 0
        self.nr = 0
        self.max_tx = 128
        self.max_rx = 128
        self.connected = False
        self.bytes_sent = 0
        self.bytes_received = 0
        self._last = b""
        self._pending = []

    # -- I/O ---------------------------------------------------------------------------------
    def _write(self, frame):
        self._last = frame
        self.port.write(frame)
        self.bytes_sent += len(frame)

    def _next_frame(self, timeout=None):
        deadline = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while True:
            for frame in parse_frames(self.rx):
                if frame.dest == self.client:
                    self._pending.append(frame)
            if self._pending:
                return self._pending.pop(0)
            if time.monotonic() >= deadline:
                return None
            data = self.port.read(max(1, self.port.in_waiting))
            if data:
                self.bytes_received += len(data)
                self.rx += data

    def _exchange(self, frame, accept):
        """Send a frame and wait for one the predicate accepts; repeat the frame on silence."""
        self._write(frame)
        for attempt in range(self.retries + 1):
            while True:
                reply = self._next_frame()
                if reply is None:
                    break
                if reply.ctrl == DM:
                    raise HdlcError("the meter answered DM (no link: SNRM first?)")
                if reply.ctrl == FRMR:
                    raise HdlcError("the meter rejected a frame (FRMR %s)" % reply.info.hex())
                if accept(reply):
                    return reply
            if attempt < self.retries:
                self._write(self._last)
        raise HdlcError("no answer from the meter within %.1f s" % self.timeout)

    # -- link --------------------------------------------------------------------------------
    def connect(self):
        self.rx.clear()
        self._pending = []
        frame = build_frame(self.server, self.client, SNRM, snrm_info(self.max_info))
        ua = self._exchange(frame, lambda f: f.ctrl == UA)
        params = parse_ua_info(ua.info)
        self.max_tx = params.get(0x06, 128)  # what the server receives
        self.max_rx = params.get(0x05, 128)  # what the server sends
        self.ns = 0
        self.nr = 0
        self.connected = True

    def disconnect(self):
        if not self.connected:
            return
        self.connected = False
        try:
            self._exchange(
                build_frame(self.server, self.client, DISC), lambda f: f.ctrl in (UA, DM)
            )
        except HdlcError:
            pass

    def _rr(self):
        return build_frame(self.server, self.client, 0x11 | (self.nr << 5))

    def request(self, apdu):
        """Send one APDU (LLC added), return the response APDU (LLC removed)."""
        data = LLC_REQUEST + bytes(apdu)
        chunks = [data[i : i + self.max_tx] for i in range(0, len(data), self.max_tx)] or [b""]
        reply = None
        for k, chunk in enumerate(chunks):
            more = k < len(chunks) - 1
            ctrl = (self.nr << 5) | 0x10 | (self.ns << 1)
            frame = build_frame(self.server, self.client, ctrl, chunk, more)
            self.ns = (self.ns + 1) & 7
            if more:
                self._exchange(frame, lambda f: f.is_rr and (f.ctrl >> 5) & 7 == self.ns)
            else:
                reply = self._exchange(frame, lambda f: f.is_i and (f.ctrl >> 1) & 7 == self.nr)
        out = bytearray()
        while True:
            self.nr = (self.nr + 1) & 7
            out += reply.info
            if not reply.segmented:
                break
            reply = self._exchange(self._rr(), lambda f: f.is_i and (f.ctrl >> 1) & 7 == self.nr)
        if not out.startswith(LLC_RESPONSE):
            raise HdlcError("response without the LLC header")
        return bytes(out[3:])
