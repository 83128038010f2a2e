# meterkast: HDLC server side (IEC 62056-46, frame format type 3) for the P3 port
# MIT license
#
# Frames are found by their length field, never by scanning for 0x7E: ciphered traffic holds
# 0x7E inside frames and even inside the FCS. A candidate that fails the format, length,
# closing-flag or FCS check costs one byte and the scan restarts at the next flag, so garbage
# on the line can delay but never derail framing.
#
# Link behaviour (window 1 both ways, as every DLMS client here uses):
#   SNRM -> UA with negotiated max information lengths; DISC -> UA (connected) or DM;
#   I-frames with mod-8 N(S)/N(R); client segments reassembled and acknowledged with RR;
#   long responses cut into segments, the next one sent when the client's RR acknowledges
#   the previous; a repeated N(S), or an RR that did not acknowledge our last I-frame, gets
#   the last frame again; frames before SNRM get DM; unknown commands get FRMR.
# The APDU layer above is any object with link_up(client_sap), link_down() and
# request(client_sap, buf, start, n) -> response length (0 for none), the response being
# `out[out_start : out_start + n]` with 3 writable bytes before it for the LLC header.
from micropython import const

from util.x25 import GOOD_RESIDUE, crc16, residue

_FLAG = const(0x7E)
_SNRM = const(0x83)
_DISC = const(0x43)
_UA = const(0x63)
_DM = const(0x0F)
_FRMR = const(0x87)
_UI = const(0x03)
_PF = const(0x10)
_RR = const(0x01)
_RNR = const(0x05)

_DEFAULT_INFO = const(128)  # IEC 62056-46 default when SNRM carries no parameter
_MIN_INFO = const(16)
_OVERHEAD = const(16)  # format 2, addresses up to 1+4, control, HCS, FCS, two flags
_PARAM_MAX_TX = const(0x05)
_PARAM_MAX_RX = const(0x06)
_PARAM_WIN_TX = const(0x07)
_PARAM_WIN_RX = const(0x08)


class HdlcServer:
    """One HDLC secondary station on a point-to-point line (one client at a time)."""

    def __init__(self, upper, write, logical_address=1, max_info=512, apdu_size=1100):
        self.upper = upper
        self._write = write  # write(buf, n): queue bytes on the line
        self.logical = logical_address
        self.max_info = max_info
        self._max_frame = max_info + _OVERHEAD - 2
        self._rx = bytearray(2 * (max_info + _OVERHEAD))
        self._rxmv = memoryview(self._rx)
        self._rxn = 0
        self._apdu = bytearray(apdu_size)
        self._apdumv = memoryview(self._apdu)
        self._apdun = 0
        self._apdu_overflow = False
        self._frame = bytearray(max_info + _OVERHEAD)  # the last I-frame: what a resend repeats
        self._framemv = memoryview(self._frame)
        self._framen = 0  # its length; 0 when this link has sent none
        self._sframe = bytearray(64)  # S and U frames (UA with parameters, DM, FRMR, RR)
        self._sframemv = memoryview(self._sframe)
        self._ctl = bytearray(32)  # UA parameters, FRMR octets
        self._last_was_i = False
        self._srv = bytearray(4)  # our address, echoed in the form the client used
        self._srvn = 1
        self.connected = False
        self.client = 0  # client SAP of the connected client
        self.vs = 0
        self.vr = 0
        self.tx_info = _DEFAULT_INFO
        self.rx_info = _DEFAULT_INFO
        self._seg = None  # response being sent in segments (a memoryview) or None
        self._seg_pos = 0
        self._seg_end = 0
        self.frames_ok = 0  # valid frames addressed to us (the P3 port watches it for activity)
        self.frames_bad = 0  # candidates dropped by format, length or FCS

    # ---- receive ----------------------------------------------------------------------------

    def pending(self):
        """Bytes of an incomplete frame are waiting."""
        return self._rxn > 0

    def feed(self, data, n):
        """Take n received bytes from data (a buffer or memoryview) and act on whole frames."""
        rx = self._rx
        cap = len(rx)
        pos = 0
        while pos < n:
            room = cap - self._rxn
            if room == 0:
                # only a bogus length can fill the buffer: drop one byte and rescan
                self._parse(True)
                continue
            k = n - pos if n - pos < room else room
            self._rxmv[self._rxn : self._rxn + k] = data[pos : pos + k]
            self._rxn += k
            pos += k
            self._parse(False)

    def reset_rx(self):
        """Forget received bytes and any partly reassembled request."""
        self._rxn = 0
        self._apdun = 0
        self._apdu_overflow = False

    def flush_stale(self):
        """The line went quiet with an incomplete frame: it can only be garbage (or a frame
        hidden behind a bogus length field), so rescan past every candidate start."""
        while self._rxn:
            self._parse(True)

    def _parse(self, force):
        rx = self._rx
        n = self._rxn
        i = 0
        maxf = self._max_frame
        while True:
            while i < n and rx[i] != _FLAG:
                i += 1
            if n - i < 3:
                if force:
                    i = n
                break
            f0 = rx[i + 1]
            if f0 & 0xF0 != 0xA0:
                i += 1
                continue
            length = ((f0 & 7) << 8) | rx[i + 2]
            if length < 7 or length > maxf:
                self.frames_bad += 1
                i += 1
                continue
            if n - i < length + 2:
                if force:
                    force = False  # skip this candidate once, then wait for more bytes
                    i += 1
                    continue
                break
            if rx[i + length + 1] != _FLAG or residue(rx, i + 1, i + 1 + length) != GOOD_RESIDUE:
                self.frames_bad += 1
                i += 1
                continue
            self._frame_in(i + 1, length)
            i += length + 1  # the closing flag may open the next frame
        if i >= n:
            self._rxn = 0
        elif i:
            k = n - i
            self._rxmv[0:k] = self._rxmv[i:n]
            self._rxn = k

    def _frame_in(self, p, length):
        rx = self._rx
        end = p + length - 2  # FCS position
        seg = rx[p] & 0x08
        q = p + 2
        a = q
        while q < end and not rx[q] & 1:
            q += 1
        q += 1
        alen = q - a
        if alen == 1:
            logical = rx[a] >> 1
        elif alen == 2:
            logical = rx[a] >> 1
        elif alen == 4:
            logical = ((rx[a] >> 1) << 7) | (rx[a + 1] >> 1)
        else:
            self.frames_bad += 1
            return
        if logical != self.logical or q + 2 > end:
            return  # for another logical device: not ours to answer
        src = rx[q]
        if not src & 1:
            self.frames_bad += 1
            return
        ctrl = rx[q + 1]
        q += 2
        rest = end - q
        if rest == 1:
            self.frames_bad += 1
            return
        if rest >= 2:
            if residue(rx, p, q + 2) != GOOD_RESIDUE:
                self.frames_bad += 1
                return
            info = q + 2
            ninfo = rest - 2
        else:
            info = q
            ninfo = 0
        self.frames_ok += 1
        client = src >> 1
        cmd = ctrl & ~_PF & 0xFF
        if cmd == _SNRM or not self.connected:
            self._srv[0:alen] = rx[a : a + alen]  # answer in the address form we were called
            self._srvn = alen
        if cmd == _SNRM:
            self._snrm(client, info, ninfo)
            return
        if not self.connected or client != self.client:
            if cmd != _UI:
                self._send_u(client, _DM)
            return
        if not ctrl & 1:
            self._i_frame(ctrl, seg, info, ninfo)
        elif ctrl & 0x0F == _RR or ctrl & 0x0F == _RNR:
            self._rr((ctrl >> 5) & 7, ctrl & 0x0F == _RR)
        elif cmd == _DISC:
            self._send_ua(client)
            self._drop()
        elif cmd == _UI:
            pass
        else:
            self._frmr(ctrl)

    # ---- link control -----------------------------------------------------------------------

    def _snrm(self, client, info, ninfo):
        tx = _DEFAULT_INFO
        rx = _DEFAULT_INFO
        b = self._rx
        if ninfo >= 3 and b[info] == 0x81 and b[info + 1] == 0x80:
            q = info + 3
            end = info + 3 + b[info + 2]
            if end > info + ninfo:
                end = info + ninfo
            while q + 2 <= end:
                pid = b[q]
                plen = b[q + 1]
                q += 2
                if plen == 0 or plen > 4 or q + plen > end:
                    break
                v = 0
                for k in range(plen):
                    v = (v << 8) | b[q + k]
                q += plen
                if pid == _PARAM_MAX_TX:  # what the client sends = what we receive
                    rx = v
                elif pid == _PARAM_MAX_RX:  # what the client accepts = what we send
                    tx = v
        self.tx_info = max(_MIN_INFO, min(tx, self.max_info))
        self.rx_info = max(_MIN_INFO, min(rx, self.max_info))
        if self.connected:
            self.upper.link_down()
        self.connected = True
        self.client = client
        self.vs = 0
        self.vr = 0
        self._framen = 0  # nothing of an earlier link is ever resent on this one
        self._seg = None
        self._apdun = 0
        self._apdu_overflow = False
        self.upper.link_up(client)
        self._send_ua(client)

    def _drop(self):
        if self.connected:
            self.connected = False
            self._seg = None
            self._apdun = 0
            self.upper.link_down()

    def disconnect(self):
        """Inactivity timeout: forget the link without a word (the client will SNRM again)."""
        self._drop()

    def _i_frame(self, ctrl, seg, info, ninfo):
        ns = (ctrl >> 1) & 7
        if ns != self.vr:
            if ns == (self.vr - 1) & 7 and self._framen:
                self._resend()  # our answer was lost: the client repeated its frame
            else:
                self._send_s(_RR)  # out of sequence: tell the client what we expect
            return
        self.vr = (self.vr + 1) & 7
        self._seg = None  # a new request ends any response still being segmented
        if ninfo:
            k = self._apdun
            if k + ninfo > len(self._apdu):
                self._apdu_overflow = True
            else:
                self._apdumv[k : k + ninfo] = self._rxmv[info : info + ninfo]
                self._apdun = k + ninfo
        if seg:
            self._send_s(_RR)
            return
        n = self._apdun
        overflow = self._apdu_overflow
        self._apdun = 0
        self._apdu_overflow = False
        a = self._apdu
        if overflow:
            out = self.upper.request(self.client, None, 0, -1)
        elif n >= 3 and a[0] == 0xE6 and a[1] == 0xE6 and a[2] == 0x00:
            out = self.upper.request(self.client, self._apdumv, 3, n - 3)
        else:
            out = 0  # no LLC header: not a DLMS APDU
        if out <= 0:
            self._send_s(_RR)
            return
        up = self.upper
        start = up.out_start - 3
        buf = up.out
        buf[start] = 0xE6
        buf[start + 1] = 0xE7
        buf[start + 2] = 0x00
        self._seg = up.outmv
        self._seg_pos = start
        self._seg_end = up.out_start + out
        self._send_next_segment()

    def _rr(self, nr, ready):
        if self._seg is not None and nr == self.vs:
            if ready:
                self._send_next_segment()
            else:
                self._send_s(_RR)
        elif nr != self.vs and self._last_was_i:
            self._resend()  # the client has not seen our last I-frame
        else:
            self._send_s(_RR)

    def _send_next_segment(self):
        pos = self._seg_pos
        left = self._seg_end - pos
        k = left if left <= self.tx_info else self.tx_info
        more = left > k
        ctrl = (self.vr << 5) | _PF | (self.vs << 1)
        self.vs = (self.vs + 1) & 7
        self._send(self.client, ctrl, self._seg, pos, k, more)
        self._last_was_i = True
        if more:
            self._seg_pos = pos + k
        else:
            self._seg = None

    # ---- transmit ---------------------------------------------------------------------------

    def _send_s(self, kind):
        self._send(self.client, (self.vr << 5) | _PF | kind, None, 0, 0, False)

    def _send_u(self, client, cmd):
        self._send(client, cmd | _PF, None, 0, 0, False)

    def _frmr(self, ctrl):
        info = self._ctl
        info[0] = ctrl
        info[1] = (self.vr << 5) | (self.vs << 1)
        info[2] = 0x01  # W: command field undefined or not implemented
        self._send(self.client, _FRMR | _PF, info, 0, 3, False)

    def _send_ua(self, client):
        # the UA to DISC repeats the parameters too (dlms-cosem <= 21.3 expects an HCS)
        p = self._ctl
        p[0] = 0x81
        p[1] = 0x80
        k = 3
        for pid, v in ((_PARAM_MAX_TX, self.tx_info), (_PARAM_MAX_RX, self.rx_info)):
            p[k] = pid
            if v < 256:
                p[k + 1] = 1
                p[k + 2] = v
                k += 3
            else:
                p[k + 1] = 2
                p[k + 2] = v >> 8
                p[k + 3] = v & 0xFF
                k += 4
        for pid in (_PARAM_WIN_TX, _PARAM_WIN_RX):
            p[k] = pid
            p[k + 1] = 4
            p[k + 2] = 0
            p[k + 3] = 0
            p[k + 4] = 0
            p[k + 5] = 1
            k += 6
        p[2] = k - 3
        self._send(client, _UA | _PF, p, 0, k, False)

    def _send(self, client, ctrl, src, start, n, more):
        """Build and write one frame. I-frames go to `_frame` (kept for a resend), S and U
        frames to a buffer of their own, so a DM to another client never replaces it."""
        i_frame = not ctrl & 1
        f = self._frame if i_frame else self._sframe
        fmv = self._framemv if i_frame else self._sframemv
        an = self._srvn
        hdr = 3 + 1 + an + 1  # flag, format, destination (client), source (us), control
        length = hdr - 1 + (n + 2 if n else 0) + 2
        f[0] = _FLAG
        f[1] = 0xA0 | (0x08 if more else 0) | (length >> 8)
        f[2] = length & 0xFF
        f[3] = (client << 1) | 1
        f[4 : 4 + an] = self._srv[0:an]
        f[4 + an] = ctrl
        q = hdr
        if n:
            c = crc16(f, 1, q)
            f[q] = c & 0xFF
            f[q + 1] = c >> 8
            q += 2
            fmv[q : q + n] = src[start : start + n]
            q += n
        c = crc16(f, 1, q)
        f[q] = c & 0xFF
        f[q + 1] = c >> 8
        f[q + 2] = _FLAG
        if i_frame:
            self._framen = q + 3
        self._last_was_i = False  # the caller sets it after an I-frame
        self._write(f, q + 3)

    def _resend(self):
        if self._framen:
            self._write(self._frame, self._framen)
