# meterkast: the IEC 62056-47 wrapper (DLMS/COSEM over TCP, DSMR P3) for the P3 port
# MIT license
#
# Each APDU travels behind an 8-byte header, all fields big-endian u16:
#   version (1), source wPort, destination wPort, length of the APDU that follows.
# The client's wPort is its SAP (16 public, 1 management), ours the logical device (1); a reply
# carries the two swapped. There is no link layer: the byte stream is the connection.
#
# Receive: headers are checked where the stream says one starts. A wrong version is garbage:
# one byte is dropped and the scan goes on. A length of 0 or above our APDU size is dropped and
# counted; its body is skipped as it arrives and the client gets exception-response "PDU too
# long" (the stream is still in step). An APDU for another destination wPort is skipped and
# counted, unanswered. Nothing here raises on what a client sends.
#
# The APDU layer above is the one HDLC feeds (comms.dlms.server.DlmsServer): link_up(client),
# link_down(), request(client, buf, start, n) -> response length, out/outmv/out_start. A client
# wPort other than the last one starts a new association context (as SNRM does on HDLC).
from micropython import const

from comms.dlms.get import HEAD, MAX_PDU

_HDR = const(8)
_VERSION = const(1)
# an incomplete APDU is garbage after this much silence (a TCP segment may lag behind its
# header on a mobile network, so longer than HDLC's 100 ms inter-frame gap)
STALE_MS = const(2000)


class WrapperServer:
    """The wrapper's server end on one byte stream (one client connection at a time)."""

    def __init__(self, upper, write, logical_address=1, apdu_size=MAX_PDU):
        self.upper = upper
        self._write = write  # write(buf, n)
        self.logical = logical_address
        self.apdu_size = apdu_size
        self._rx = bytearray(_HDR + apdu_size)
        self._rxmv = memoryview(self._rx)
        self._rxn = 0
        # a ciphered response is at most HEAD + MAX_PDU + 8 bytes long (comms.dlms.server._ct)
        self._tx = bytearray(_HDR + HEAD + MAX_PDU + 8)
        self._txmv = memoryview(self._tx)
        self._skip = 0  # body bytes of a refused APDU still to be dropped
        self._skip_src = 0
        self.connected = False  # a client wPort is known (an association context may exist)
        self.client = 0
        self.frames_ok = 0  # APDUs taken (the P3 port watches it for activity)
        self.frames_bad = 0  # bad versions (per byte dropped), bad lengths, foreign wPorts
        self.too_long = 0  # of those: APDUs longer than we take

    def pending(self):
        """Bytes of an incomplete header or APDU are waiting."""
        return self._rxn > 0 or self._skip > 0

    def feed(self, data, n):
        """Take n received bytes from data (a buffer or memoryview) and act on whole APDUs."""
        pos = 0
        cap = len(self._rx)
        while pos < n:
            if self._skip:
                k = n - pos if n - pos < self._skip else self._skip
                self._skip -= k
                pos += k
                if not self._skip and self._skip_src >= 0:
                    self._answer(self._skip_src, self.upper.request(self._skip_src, None, 0, -1))
                continue
            room = cap - self._rxn
            k = n - pos if n - pos < room else room
            self._rxmv[self._rxn : self._rxn + k] = data[pos : pos + k]
            self._rxn += k
            pos += k
            self._parse()

    def reset_rx(self):
        """Forget received bytes (and the rest of a refused APDU)."""
        self._rxn = 0
        self._skip = 0

    def flush_stale(self):
        """The stream went quiet inside a header or an APDU: drop what is waiting."""
        if self._rxn or self._skip:
            self.frames_bad += 1
        self.reset_rx()

    def disconnect(self):
        """The connection is gone (or idle too long): end the association context."""
        if self.connected:
            self.connected = False
            self.upper.link_down()

    def _parse(self):
        rx = self._rx
        i = 0
        n = self._rxn
        while n - i >= _HDR:
            if rx[i] != 0 or rx[i + 1] != _VERSION:
                self.frames_bad += 1
                i += 1
                continue
            src = (rx[i + 2] << 8) | rx[i + 3]
            dst = (rx[i + 4] << 8) | rx[i + 5]
            length = (rx[i + 6] << 8) | rx[i + 7]
            if length == 0:
                self.frames_bad += 1
                i += _HDR
                continue
            if length > self.apdu_size:  # never fits: drop its body as it comes, then answer
                self.frames_bad += 1
                self.too_long += 1
                self._skip = length - (n - i - _HDR)
                self._skip_src = src if dst == self.logical else -1
                if dst == self.logical:
                    self._client(src)
                i = n
                break
            if n - i - _HDR < length:
                break  # wait for the rest
            start = i + _HDR
            i = start + length
            if dst != self.logical:
                self.frames_bad += 1  # for another logical device: not ours to answer
                continue
            self.frames_ok += 1
            self._client(src)
            self._answer(src, self.upper.request(src, self._rxmv, start, length))
        if i >= n:
            self._rxn = 0
        elif i:
            k = n - i
            self._rxmv[0:k] = self._rxmv[i:n]
            self._rxn = k

    def _client(self, src):
        if not self.connected or src != self.client:
            if self.connected:
                self.upper.link_down()
            self.connected = True
            self.client = src
            self.upper.link_up(src)

    def _answer(self, dst, out):
        if out <= 0:
            return
        up = self.upper
        t = self._tx
        t[0] = 0
        t[1] = _VERSION
        t[2] = self.logical >> 8
        t[3] = self.logical & 0xFF
        t[4] = dst >> 8
        t[5] = dst & 0xFF
        t[6] = out >> 8
        t[7] = out & 0xFF
        s = up.out_start
        self._txmv[_HDR : _HDR + out] = up.outmv[s : s + out]
        self._write(t, _HDR + out)
