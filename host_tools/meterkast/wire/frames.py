"""What is on the wire? Cut a byte stream into P1 telegrams, encrypted P1 frames, HDLC frames
and unknown bytes, whatever the read boundaries, and verify each one.

* Plain P1: `/` ... `!` CRC CRLF, checked by meterkast.wire.p1 (CRC and strict syntax).
* Encrypted P1 (Luxembourg "Smarty" layout, DLMS general-glo-ciphering):
  `DB 08 <system title 8> 82 <LEN 2> 30 <frame counter 4> <ciphertext> <tag 12>`, LEN =
  plaintext + 17. AES-128-GCM, IV = system title || frame counter, AAD = 0x30 || AK. The
  plaintext is an ordinary telegram with its own CRC. A frame whose tag does not verify is
  reported as a tag failure and its contents are never shown.
  The same wrapper with a DLMS data-notification inside (security control 0x30, or 0x20/0x21:
  encrypted only, Austria) is a DLMS push, decoded by meterkast.wire.push.
* HDLC (IEC 62056-46 frame format type 3): `7E A0.. <format 2> <dst> <src> <control> [HCS 2
  <info>] FCS 2 7E`. There is no byte stuffing, so frames are cut by the 11-bit length of the
  format field; HCS and FCS are CRC-16/X.25, LSB first; a header that fails its HCS is no
  frame. Pushes in HDLC frames (HAN ports) are decoded by meterkast.wire.push.PushDecoder.
* M-Bus long frames (`68 L L 68 ... sum 16`) carrying DLMS push segments (Austria, Poland).
* Internal link frames (docs/link.md): `A5 3C <type> <version> <len> <seq 2> <HCRC 2> <body>
  <FCS 2> 5A`, checked by the firmware's own receiver (meterkast.wire.link_frames) with
  `FrameDecoder(link=True)`.
* Anything else is reported as unknown bytes (hex).

A frame cut short by the next frame's start is reported as truncated; decoding resumes there.
"""
import re

from meterkast.dlms.hdlc import control_text, decode_address, header_state
from meterkast.dlms.hdlc import crc16 as _x25
from meterkast.dlms.security import SecurityError, gcm_open, gcm_seal
from meterkast.keys.file import SMARTY_AK
from meterkast.wire.frame import (  # noqa: F401  (the kinds are part of this module's interface)
    ENCRYPTED,
    HDLC,
    LINK,
    MBUS,
    P1,
    SKIPPED,
    UNKNOWN,
    Frame,
    _judge_telegram,
    _link_frame,
    _p1_frame,
    parse_hdlc,
)
from meterkast.wire.link_frames import LinkSplitter
from meterkast.wire.p1 import Telegram
from meterkast.wire.p1 import crc16 as _crc16_arc
from meterkast.wire.push import NEED, PushDecoder, encrypted_push, mbus_frame

_START = re.compile(rb"[/\xdb\x7e\x68]")
_P1_END = re.compile(rb"![0-9A-Za-z]{0,4}\r\n")
_P1_HEAD = re.compile(rb"/[A-Za-z]{3}[\d-]")  # '/', manufacturer id, baud digit (or '-')
_NEED = object()  # the candidate needs more bytes
_NOT = None  # not a frame start after all
_UNKNOWN_FLUSH = 512  # emit unknown bytes in records of at most this many
_SC = (0x30, 0x20, 0x21)  # security control: P1 (0x30); pushes encrypted only (Austria)


def _telegram_inside(buf, a):
    """True when buf[a:] holds a whole P1 telegram with a valid CRC. A binary frame still
    waiting for bytes (perhaps for a length that noise made up) then gives way to it."""
    for m in _P1_HEAD.finditer(buf, a):
        end = _P1_END.search(buf, m.end())
        if end is None:
            return False
        text = bytes(buf[m.start():end.start() + 1])
        sent = bytes(buf[end.start() + 1:end.end() - 2])
        if len(sent) == 4 and sent == b"%04X" % _crc16_arc(text):
            return True
    return False


def encrypted_frame(plaintext, system_title, frame_counter, ek, ak=bytes.fromhex(SMARTY_AK)):
    """Build an encrypted P1 frame (for tests, benchmarks and replays)."""
    fc = frame_counter.to_bytes(4, "big")
    ct, tag = gcm_seal(ek, system_title + fc, b"\x30" + ak, plaintext)
    return (b"\xdb\x08" + system_title + b"\x82" + (len(plaintext) + 17).to_bytes(2, "big")
            + b"\x30" + fc + ct + tag)


class FrameDecoder:
    """Feed bytes as they come; get Frames back. Keeps only what an unfinished frame needs.

    link=True: internal link frames too. The link receiver sees the stream first and takes out
    the frames it finds; the rest goes on to the P1/HDLC framing as before.
    """

    def __init__(self, keys=None, max_len=8192, link=False, spec=None, lenient=False):
        self.keys = keys
        self.spec = spec  # a meterkast.wire.p1_spec variant name, or None to detect it
        self.lenient = lenient
        self.crc_style = {}
        self.max_len = max_len
        self.buf = bytearray()
        self.unknown = bytearray()
        self.saw_crc = False  # after one CRC-carrying telegram, a CRC-less one is an error
        self._after_hdlc = False
        self.link = LinkSplitter() if link else None
        self.push = PushDecoder(keys)  # data-notifications in HDLC frames (meterkast.wire.push)

    def link_counters(self):
        """The link decoder's counters, once a link frame went by (else None)."""
        if self.link is None or not self.link.seen:
            return None
        return self.link.counters()

    def resync(self, skipped, reason):
        """The reader dropped bytes (it fell behind): forget the partial frame, say how much."""
        lost = len(self.buf) + len(self.unknown) + (self.link.drop() if self.link else 0)
        self.buf.clear()
        self.unknown.clear()
        self._after_hdlc = False
        f = Frame(SKIPPED, b"", None)
        f.reason = reason
        f.skipped = skipped + lost
        return f

    def flush(self, final=False):
        """Report unknown bytes held back (call when the line goes quiet). final: the stream has
        ended, so a frame still waiting for bytes never gets them: report those bytes too."""
        out = []
        if self.link is not None:
            for data in self.link.release(force=final):
                out += self._feed(data)
        return out + self._flush(final)

    def _flush(self, final=False):
        if final and self.buf:
            if self._after_hdlc and self.buf[0] == 0x7E:
                del self.buf[:1]  # the last frame's closing flag
            self.unknown += self.buf
            self.buf.clear()
        if not self.unknown:
            return []
        return [self._take_unknown()]

    def _take_unknown(self):
        f = Frame(UNKNOWN, self.unknown, None, "not a known frame", "unknown")
        self.unknown = bytearray()
        self._after_hdlc = False
        return f

    def feed(self, data):
        if self.link is None:
            return self._feed(data)
        out = []
        for item in self.link.feed(data):
            if isinstance(item, bytes):
                out += self._feed(item)
            else:
                out += self._flush()  # unknown bytes that came before it go first
                out.append(_link_frame(item))
        return out

    def _feed(self, data):
        buf = self.buf
        buf += data
        out = []
        pos = 0
        while True:
            m = _START.search(buf, pos)
            if m is None:
                self._add_unknown(buf, pos, len(buf), out)
                pos = len(buf)
                break
            s = m.start()
            if s > pos:
                self._add_unknown(buf, pos, s, out)
                pos = s
            first = buf[s]
            if first == 0x2F:
                res = self._try_p1(buf, s)
            elif first == 0xDB:
                res = self._try_encrypted(buf, s)
            elif first == 0x68:
                res = self._try_mbus(buf, s)
            else:
                res = self._try_hdlc(buf, s)
            if res is _NEED:
                break
            if res is _NOT:
                if first == 0x7E and self._after_hdlc:
                    pos = s + 1  # a closing flag, or a flag between frames: not data
                    continue
                self._add_unknown(buf, s, s + 1, out)
                pos = s + 1
                continue
            frame, end = res
            if self.unknown:
                out.append(self._take_unknown())
            out.append(frame)
            self._after_hdlc = frame.kind == HDLC
            pos = end
        del buf[:pos]
        return out

    def _add_unknown(self, buf, a, b, out):
        if a >= b:
            return
        self.unknown += buf[a:b]
        self._after_hdlc = False
        if len(self.unknown) >= _UNKNOWN_FLUSH:
            out.append(self._take_unknown())

    # -- candidates: return (Frame, end), _NEED or _NOT ---------------------------------------
    def _try_p1(self, buf, s):
        if len(buf) - s < 5:
            return _NEED
        if not _P1_HEAD.match(buf, s):
            return _NOT
        m = _P1_END.search(buf, s + 1, s + self.max_len)
        limit = m.end() if m else len(buf)
        cut = self._next_start(buf, s + 1, limit)
        if cut >= 0:
            f = Frame(P1, buf[s:cut], False, "truncated: the next frame began inside it",
                      "truncated")
            return f, cut
        if m is None:
            if len(buf) - s > self.max_len:
                return _NOT
            return _NEED
        f = _p1_frame(buf[s:m.end()], self.saw_crc, self.spec, self.lenient, self.crc_style)
        if f.ok and f.telegram.crc_ok:
            self.saw_crc = True
        return f, m.end()

    def _next_start(self, buf, a, b):
        """First start of another frame inside buf[a:b]: '/', or a valid encrypted or HDLC
        header. A telegram is plain ASCII, so the binary ones appear only by mixing streams or
        corruption, and only a structurally valid header counts."""
        m = _P1_HEAD.search(buf, a, b)
        best = m.start() if m else -1
        end = b if best < 0 else best
        i = buf.find(b"\xdb\x08", a, end)
        while 0 <= i:
            if self._encrypted_header(buf, i) is not None:
                end = i
                best = i
                break
            i = buf.find(b"\xdb\x08", i + 1, end)
        i = buf.find(b"\x7e", a, end)
        while 0 <= i:
            if self._hdlc_complete(buf, i):
                return i
            i = buf.find(b"\x7e", i + 1, end)
        return best

    def _encrypted_header(self, buf, s):
        """Total frame length if buf[s:] starts a plausible encrypted frame header, else None."""
        if len(buf) - s < 18 or buf[s + 1] != 8 or buf[s + 10] != 0x82 or buf[s + 13] not in _SC:
            return None
        n = (buf[s + 11] << 8) | buf[s + 12]
        if n < 17 or n > self.max_len:
            return None
        return 13 + n

    def _try_mbus(self, buf, s):
        m = mbus_frame(buf, s)  # M-Bus long frames with DLMS pushes: meterkast.wire.push
        if m is None or m == NEED:
            return _NOT if m is None else _NEED
        return self.push.mbus(bytes(buf[s:m[0]]), *m[1:]), m[0]

    def _hdlc_complete(self, buf, s):
        if len(buf) - s < 9 or buf[s + 1] & 0xF0 != 0xA0:
            return False
        total = (((buf[s + 1] & 7) << 8) | buf[s + 2]) + 2
        if total < 9 or len(buf) - s < total or buf[s + total - 1] != 0x7E:
            return False
        body = buf[s + 1:s + total - 1]
        return _x25(body[:-2]) == int.from_bytes(body[-2:], "little")

    def _try_encrypted(self, buf, s):
        have = len(buf) - s
        if have < 2:
            return _NEED
        if buf[s + 1] != 8:
            return _NOT
        if have < 18:
            if (have > 10 and buf[s + 10] != 0x82) or (have > 13 and buf[s + 13] not in _SC):
                return _NOT
            return _NEED
        total = self._encrypted_header(buf, s)
        if total is None:
            return _NOT
        title = bytes(buf[s + 2:s + 10])
        inner = self._inner_header(buf, s, total, title)
        if inner >= 0:
            f = Frame(ENCRYPTED, buf[s:inner], False, "truncated: the next frame began inside it",
                      "truncated")
            f.system_title = title
            f.frame_counter = int.from_bytes(buf[s + 14:s + 18], "big")
            return f, inner
        if have < total:
            return _NOT if _telegram_inside(buf, s + 18) else _NEED
        f = self._encrypted(bytes(buf[s:s + total]))
        end = s + total
        if f.tag_ok is False:
            # A frame that lost bytes runs into the next one by as many: give back a tail that
            # could be the start of the next frame's header, so that frame is not lost too.
            heads = [b"\xdb\x08" + t for t in self._titles(title)]
            for j in range(max(s + 1, end - len(heads[0]) + 1), end):
                if buf[j] == 0xDB and any(h.startswith(bytes(buf[j:end])) for h in heads):
                    f.raw = f.raw[:j - s]
                    end = j
                    break
        return f, end

    def _titles(self, title):
        """This frame's system title, then the keys' one if it differs: a bit error in the
        title of a header must not hide the header of the next frame."""
        titles = [title]
        if self.keys is not None and self.keys.system_title and self.keys.system_title != title:
            titles.append(bytes(self.keys.system_title))
        return titles

    def _inner_header(self, buf, s, total, title):
        """Where the next frame's header starts inside this one's span (-1: nowhere), for
        either title. (One that runs on past the span is given back after a tag failure.)"""
        best = -1
        for t in self._titles(title):
            head = b"\xdb\x08" + t
            i = buf.find(head, s + 1, s + total)
            while i >= 0 and self._encrypted_header(buf, i) is None and len(buf) - i >= 18:
                i = buf.find(head, i + 1, s + total)
            if i >= 0 and (best < 0 or i < best):
                best = i
        return best

    def _encrypted(self, raw):
        f = Frame(ENCRYPTED, raw)
        f.system_title = raw[2:10]
        f.frame_counter = int.from_bytes(raw[14:18], "big")
        keys = self.keys
        if raw[13] != 0x30:
            return encrypted_push(f, raw, keys)
        if keys is None or keys.p1_ek is None:
            f.error, f.problem = "no key: cannot verify or decrypt", "no-key"
            return f
        try:
            plain = gcm_open(keys.p1_ek, raw[2:10] + raw[14:18], b"\x30" + keys.p1_ak,
                             raw[18:-12], raw[-12:])
        except SecurityError:
            f.ok, f.tag_ok, f.problem = False, False, "tag"
            f.error = "tag mismatch: wrong key or tampered frame"
            if keys.system_title and keys.system_title != f.system_title:
                f.error += " (system title %s, the keys are for %s)" % (
                    f.system_title.hex().upper(), keys.system_title.hex().upper())
            return f
        f.tag_ok = True
        if plain[:1] == b"\x0f":  # a data-notification (a DLMS push), not a telegram
            return encrypted_push(f, raw, keys, plain)
        t = Telegram(plain, self.spec, self.lenient)
        f.telegram = t
        f.ok = t.ok
        _judge_telegram(f, t, saw_crc=True)
        return f

    def _try_hdlc(self, buf, s):
        have = len(buf) - s
        if have < 3:
            return _NEED if have < 2 or buf[s + 1] & 0xF0 == 0xA0 else _NOT
        if buf[s + 1] & 0xF0 != 0xA0:
            return _NOT
        total = (((buf[s + 1] & 7) << 8) | buf[s + 2]) + 2
        if total < 9:
            return _NOT
        if have < total:
            # noise that looks like a flag and a format field holds back no telegram after it
            if header_state(buf, s, total) is False or _telegram_inside(buf, s + 2):
                return _NOT
            return _NEED
        if buf[s + total - 1] != 0x7E:
            return self._hdlc_misframed(buf, s)
        f = parse_hdlc(bytes(buf[s:s + total]), self.keys)
        if not f.hdlc["fcs_ok"] and not f.hdlc.get("hcs_ok"):
            # Neither check holds: most likely a 7E A? pattern in noise, not a frame at all.
            # (A real frame hit by noise usually keeps its short header intact.)
            return _NOT
        self.push.hdlc(f)
        # Leave the closing flag: it may also open the next frame.
        return f, s + total - 1

    def _hdlc_misframed(self, buf, s):
        """No closing flag where the length says. With a valid header check it was a real frame
        that lost or gained bytes: report it and resume at the next flag; else it was no frame."""
        body = buf[s + 1:]
        dst, i = decode_address(body, 2)
        src, i = decode_address(body, i) if dst else (None, i)
        if src is None or len(body) < i + 3:
            return _NOT
        if _x25(body[:i + 1]) != int.from_bytes(body[i + 1:i + 3], "little"):
            return _NOT
        nxt = buf.find(b"\x7e", s + i + 4)
        if nxt < 0:
            return _NEED if len(buf) - s < 4096 else _NOT
        f = Frame(HDLC, buf[s:nxt], False, "truncated: no closing flag where the length says",
                  "truncated")
        f.hdlc = {"dst": dst[0] if dst[1] is None else list(dst),
                  "src": src[0] if src[1] is None else list(src),
                  "control": control_text(body[i]), "hcs_ok": True, "fcs_ok": False}
        return f, nxt
