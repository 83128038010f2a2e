"""What is on the wire? Cut a byte stream into P1 telegrams, encrypted P1 frames, HDLC frames
and unknown bytes, whatever the read boundaries, and verify each one.

* Plain P1: `/` ... `!` CRC CRLF, checked by meterkast.p1 (CRC and strict syntax).
* Encrypted P1 (Luxembourg "Smarty" layout, DLMS general-glo-ciphering):
  `DB 08 <system title 8> 82 <LEN 2> 30 <frame counter 4> <ciphertext> <tag 12>`, LEN =
  plaintext + 17. AES-128-GCM, IV = system title || frame counter, AAD = 0x30 || AK. The
  plaintext is an ordinary telegram with its own CRC. A frame whose tag does not verify is
  reported as a tag failure and its contents are never shown.
* HDLC (IEC 62056-46 frame format type 3): `7E A0.. <format 2> <dst> <src> <control> [HCS 2
  <info>] FCS 2 7E`. There is no byte stuffing, so frames are cut by the 11-bit length of the
  format field; HCS and FCS are CRC-16/X.25, LSB first.
* Internal link frames (docs/link.md, the metering module to the comms module): `A5 3C <type>
  <version> <len> <seq 2> <HCRC 2> <body> <FCS 2> 5A`, found, checked and decoded by the
  firmware's own receiver (meterkast.link_frames), with `FrameDecoder(link=True)`.
* Anything else is reported as unknown bytes (hex).

A frame cut short (the next frame's start shows up inside it) is reported as truncated, and
decoding resumes at the new start: that is how the decoder resynchronises after dropped bytes.
"""
import json
import re

import crcmod.predefined
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from meterkast.errors import CliError
from meterkast.link_frames import LinkSplitter
from meterkast.p1 import Telegram
from meterkast.p1 import crc16 as _crc16_arc

P1 = "p1"
ENCRYPTED = "p1-encrypted"
HDLC = "hdlc"
LINK = "link"
UNKNOWN = "unknown"
SKIPPED = "skipped"

SMARTY_AK = bytes.fromhex("00112233445566778899AABBCCDDEEFF")  # the published default
_x25 = crcmod.predefined.mkCrcFun("x-25")
_START = re.compile(rb"[/\xdb\x7e]")
_P1_END = re.compile(rb"![0-9A-Za-z]{0,4}\r\n")
_P1_HEAD = re.compile(rb"/[A-Za-z]{3}[\d-]")  # '/', manufacturer id, baud digit (or '-')
_NEED = object()  # the candidate needs more bytes
_NOT = None  # not a frame start after all
_UNKNOWN_FLUSH = 512  # emit unknown bytes in records of at most this many


def gcm_open(ek, iv, aad, ciphertext, tag):
    """AES-GCM decrypt with a truncated (12-byte) tag; raises InvalidTag."""
    dec = Cipher(algorithms.AES(ek), modes.GCM(iv, tag, min_tag_length=len(tag))).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(ciphertext) + dec.finalize()


def gcm_seal(ek, iv, aad, plaintext, tag_len=12):
    enc = Cipher(algorithms.AES(ek), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    ct = enc.update(plaintext) + enc.finalize()
    return ct, enc.tag[:tag_len]


def encrypted_frame(plaintext, system_title, frame_counter, ek, ak=SMARTY_AK):
    """Build an encrypted P1 frame (for tests, benchmarks and replays)."""
    fc = frame_counter.to_bytes(4, "big")
    ct, tag = gcm_seal(ek, system_title + fc, b"\x30" + ak, plaintext)
    return (b"\xdb\x08" + system_title + b"\x82" + (len(plaintext) + 17).to_bytes(2, "big")
            + b"\x30" + fc + ct + tag)


def hdlc_frame(dst, src, control, info=b"", segmented=False):
    """Build an HDLC frame; dst and src are the encoded address bytes (LSB-terminated)."""
    head_len = 2 + len(dst) + len(src) + 1
    length = head_len + (2 + len(info) if info else 0) + 2
    fmt = 0xA000 | (0x0800 if segmented else 0) | length
    head = fmt.to_bytes(2, "big") + dst + src + bytes([control])
    body = head
    if info:
        body += _x25(head).to_bytes(2, "little") + info
    return b"\x7e" + body + _x25(body).to_bytes(2, "little") + b"\x7e"


class Keys:
    """The keys file: {"system_title": "<16 hex>", "p1": {"ek": "<32 hex>", "ak": "<32 hex>"},
    "management": {"ek": ..., "ak": ...}} (management is optional, used for HDLC traffic)."""

    def __init__(self, system_title=None, p1_ek=None, p1_ak=SMARTY_AK, mgmt_ek=None, mgmt_ak=None):
        self.system_title = system_title
        self.p1_ek = p1_ek
        self.p1_ak = p1_ak
        self.mgmt_ek = mgmt_ek
        self.mgmt_ak = mgmt_ak

    @classmethod
    def load(cls, path):
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as exc:
            raise CliError("cannot read keys file %s: %s" % (path, exc.strerror))
        except ValueError as exc:
            raise CliError("keys file %s is not JSON: %s" % (path, exc))
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data, name="keys"):
        def key(section, field, size, default=None):
            sec = data.get(section) or {}
            text = sec.get(field) if isinstance(sec, dict) else None
            if text is None:
                return default
            try:
                raw = bytes.fromhex(text)
            except (TypeError, ValueError):
                raw = b""
            if len(raw) != size:
                raise CliError("%s: %s.%s must be %d hex digits" % (name, section, field, 2 * size))
            return raw

        st = data.get("system_title")
        if st is not None:
            try:
                st = bytes.fromhex(st)
            except (TypeError, ValueError):
                st = b""
            if len(st) != 8:
                raise CliError("%s: system_title must be 16 hex digits" % name)
        return cls(st, key("p1", "ek", 16), key("p1", "ak", 16, SMARTY_AK),
                   key("management", "ek", 16), key("management", "ak", 16))


class Frame:
    """One thing found on the wire. `ok`: True verified, False failed, None cannot tell."""

    def __init__(self, kind, raw, ok=None, error=None, problem=None):
        self.kind = kind
        self.raw = bytes(raw)
        self.ok = ok
        self.error = error  # human text
        self.problem = problem  # short class for counters: crc, syntax, tag, fcs, truncated...
        self.telegram = None
        self.system_title = None
        self.frame_counter = None
        self.tag_ok = None
        self.hdlc = None
        self.link = None  # a link frame's values (meterkast.link_frames), "type" first
        self.link_counters = None  # the link decoder's counters just after this frame
        self.reason = None
        self.skipped = 0

    def as_json(self, show_bad=False, units=None):
        """units None: values as sent, flat ('1-0:1.8.1': 1234.567); else 'dsmr5', 'si' or
        'native': {"value": ..., "unit": ...} objects (meterkast.p1_values)."""
        if self.kind == LINK:
            d = dict(self.link or {})
            d["kind"] = LINK
            d["ok"] = self.ok
            if self.error:
                d["error"] = self.error
            d["length"] = len(self.raw)
            return d
        d = {}
        t = self.telegram
        if t is not None and (self.ok or show_bad):
            fields = dict(t.fields) if units is None else t.values(units)
            if self.ok:
                d.update(fields)
            else:
                d["unverified"] = fields
        if t is not None or self.kind == P1:
            d["crc_ok"] = t.crc_ok if t is not None else False
        if t is not None and units is not None:
            d["spec"] = t.variant
            if t.out_of_shape:
                d["out_of_shape"] = [{"line": n, "obis": o, "text": x} for n, o, x in t.out_of_shape]
        d["kind"] = self.kind
        d["ok"] = self.ok
        if self.error:
            d["error"] = self.error
        d["length"] = len(self.raw)
        if self.kind == ENCRYPTED:
            d["system_title"] = self.system_title.hex().upper() if self.system_title else None
            d["frame_counter"] = self.frame_counter
            d["tag_ok"] = self.tag_ok
        elif self.kind == HDLC and self.hdlc is not None:
            d.update(self.hdlc)
        elif self.kind == UNKNOWN:
            d["hex"] = self.raw.hex().upper()
        elif self.kind == SKIPPED:
            d["bytes"] = self.skipped
            d["reason"] = self.reason
        return d


def _p1_frame(raw, saw_crc, spec=None, lenient=False, crc_style=None):
    t = Telegram(raw, spec, lenient)
    f = Frame(P1, raw, t.ok)
    f.telegram = t
    _judge_telegram(f, t, saw_crc)
    if f.ok and t.crc_ok and crc_style is not None:
        _judge_crc_style(f, t, crc_style)
    return f


def _judge_crc_style(f, t, style):
    """Meters write their CRC in one way: four digits or unpadded, upper or lower case. Once a
    stream showed its way, a CRC written otherwise (a dropped '0', a flipped case bit) is not
    taken; `style` is the stream's {'padded': ..., 'case': ...}, filled in as it shows."""
    text = t.crc_text
    # a CRC below 0x1000 shows the way: '0B9F' (padded) or 'B9F' (unpadded)
    padded = None if t.crc_sent >= 0x1000 else len(text) == 4
    case = "upper" if re.search(rb"[A-F]", text) else "lower" if re.search(rb"[a-f]", text) else None
    if case == "upper" and re.search(rb"[a-f]", text):
        case = "mixed"
    if case == "mixed" or (style.get("case") and case and case != style["case"]):
        f.ok, f.problem = False, "crc"
        f.error = "CRC %s in a stream of %s-case CRCs" % (text.decode(), style.get("case"))
    elif padded is not None and style.get("padded") not in (None, padded):
        f.ok, f.problem = False, "crc"
        f.error = "CRC %s: the stream's CRCs are %s" % (
            text.decode(), "padded to four digits" if style["padded"] else "unpadded")
    else:
        if style.get("padded") is None:
            style["padded"] = padded
        style["case"] = style.get("case") or case


def _judge_telegram(f, t, saw_crc):
    if t.crc_ok is None and saw_crc:
        f.ok, f.problem, f.error = False, "crc", "no CRC in a stream that carries CRCs"
    elif t.crc_ok is False:
        f.ok, f.problem = False, "crc"
        f.error = "CRC mismatch (sent %s, computed %04X)" % (
            "%04X" % t.crc_sent if t.crc_sent is not None else "none", t.crc_computed)
    elif t.error:
        f.ok, f.problem, f.error = False, "syntax", t.error


def _hdlc_address(body, i):
    """Decode an LSB-terminated address of 1, 2 or 4 bytes at body[i]: ((upper, lower), next)."""
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


_U_FRAMES = {0x83: "SNRM", 0x43: "DISC", 0x63: "UA", 0x0F: "DM", 0x87: "FRMR", 0x03: "UI"}
_S_FRAMES = {0: "RR", 1: "RNR", 2: "REJ", 3: "SREJ"}
APDU_NAMES = {
    0x60: "AARQ", 0x61: "AARE", 0x62: "RLRQ", 0x63: "RLRE", 0xC0: "get-request",
    0xC4: "get-response", 0xC1: "set-request", 0xC5: "set-response", 0xC3: "action-request",
    0xC7: "action-response", 0x0F: "data-notification", 0xDB: "general-glo-ciphering",
    0xC8: "glo-get-request", 0xCC: "glo-get-response", 0xCB: "glo-action-request",
    0xCF: "glo-action-response", 0xD8: "exception-response", 0x0E: "confirmed-service-error",
}


def control_text(c):
    pf = " P/F" if c & 0x10 else ""
    if not c & 1:
        return "I ns=%d nr=%d%s" % ((c >> 1) & 7, (c >> 5) & 7, pf)
    if c & 3 == 1:
        return "%s nr=%d%s" % (_S_FRAMES[(c >> 2) & 3], (c >> 5) & 7, pf)
    return _U_FRAMES.get(c & 0xEF, "U 0x%02X" % c) + pf


def _ber_length(data, i):
    """A BER length at data[i]: (length, next index) or (None, i)."""
    if i >= len(data):
        return None, i
    b = data[i]
    if b < 0x80:
        return b, i + 1
    n = b & 0x7F
    if n == 0 or n > 2 or i + 1 + n > len(data):
        return None, i
    return int.from_bytes(data[i + 1:i + 1 + n], "big"), i + 1 + n


def decrypt_glo(apdu, ek, ak):
    """Open a general-glo-ciphering APDU (DB 08 st len SC IC ct tag), suite 0, SC 0x30.

    Returns (plaintext or None, note). None when the tag fails or the APDU is not of this form.
    """
    if len(apdu) < 10 or apdu[0] != 0xDB or apdu[1] != 8:
        return None, "not general-glo-ciphering"
    st = apdu[2:10]
    n, i = _ber_length(apdu, 10)
    if n is None or i + n != len(apdu) or n < 17:
        return None, "bad length"
    sc = apdu[i]
    if sc != 0x30:
        return None, "security control 0x%02X not handled" % sc
    ic = apdu[i + 1:i + 5]
    try:
        return gcm_open(ek, st + ic, bytes([sc]) + ak, apdu[i + 5:-12], apdu[-12:]), "ok"
    except InvalidTag:
        return None, "tag mismatch: wrong key or tampered"


def parse_hdlc(raw, keys=None):
    """A frame from flag to flag (both included) -> Frame with .hdlc details."""
    body = raw[1:-1]
    fmt = (body[0] << 8) | body[1]
    d = {"segmented": bool(fmt & 0x0800)}
    f = Frame(HDLC, raw)
    f.hdlc = d
    dst, i = _hdlc_address(body, 2)
    src, i = _hdlc_address(body, i) if dst else (None, i)
    if dst is None or src is None or i + 3 > len(body):
        f.ok, f.problem, f.error = False, "syntax", "malformed address field"
        d["fcs_ok"] = _x25(body[:-2]) == int.from_bytes(body[-2:], "little")
        return f
    d["dst"] = dst[0] if dst[1] is None else list(dst)
    d["src"] = src[0] if src[1] is None else list(src)
    control = body[i]
    d["control"] = control_text(control)
    i += 1
    info = b""
    hcs_ok = None
    if len(body) > i + 2:
        hcs_ok = _x25(body[:i]) == int.from_bytes(body[i:i + 2], "little")
        info = body[i + 2:-2]
    fcs_ok = _x25(body[:-2]) == int.from_bytes(body[-2:], "little")
    d["hcs_ok"] = hcs_ok
    d["fcs_ok"] = fcs_ok
    f.ok = fcs_ok and hcs_ok is not False
    if not fcs_ok:
        f.problem, f.error = "fcs", "FCS mismatch"
    elif hcs_ok is False:
        f.problem, f.error = "hcs", "HCS mismatch"
    if info:
        apdu = info
        if info[:2] == b"\xe6\xe6" or info[:2] == b"\xe6\xe7":
            d["llc"] = info[:3].hex().upper()
            apdu = info[3:]
        d["info"] = info.hex().upper()
        if apdu and f.ok and "llc" in d:
            d["apdu"] = APDU_NAMES.get(apdu[0], "0x%02X" % apdu[0])
            if (apdu[0] == 0xDB and keys is not None and keys.mgmt_ek is not None
                    and not d["segmented"]):
                plain, note = decrypt_glo(apdu, keys.mgmt_ek, keys.mgmt_ak or b"")
                d["decrypted"] = plain.hex().upper() if plain is not None else None
                if plain is not None:
                    d["inner_apdu"] = APDU_NAMES.get(plain[0], "0x%02X" % plain[0])
                else:
                    d["decrypt_error"] = note
    return f


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


def _link_frame(item):
    f = Frame(LINK, item.raw, item.ok, item.error, item.problem)
    f.link = item.info
    f.link_counters = item.counters
    return f


class FrameDecoder:
    """Feed bytes as they come; get Frames back. Keeps only what an unfinished frame needs.

    link=True: internal link frames too. The link receiver sees the stream first and takes out
    the frames it finds; the rest goes on to the P1/HDLC framing as before.
    """

    def __init__(self, keys=None, max_len=8192, link=False, spec=None, lenient=False):
        self.keys = keys
        self.spec = spec  # a meterkast.p1_spec variant name, or None to detect it
        self.lenient = lenient
        self.crc_style = {}
        self.max_len = max_len
        self.buf = bytearray()
        self.unknown = bytearray()
        self.saw_crc = False  # after one CRC-carrying telegram, a CRC-less one is an error
        self._after_hdlc = False
        self.link = LinkSplitter() if link else None

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
        if len(buf) - s < 18 or buf[s + 1] != 8 or buf[s + 10] != 0x82 or buf[s + 13] != 0x30:
            return None
        n = (buf[s + 11] << 8) | buf[s + 12]
        if n < 17 or n > self.max_len:
            return None
        return 13 + n

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
            if (have > 10 and buf[s + 10] != 0x82) or (have > 13 and buf[s + 13] != 0x30):
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
        if keys is None or keys.p1_ek is None:
            f.error, f.problem = "no key: cannot verify or decrypt", "no-key"
            return f
        try:
            plain = gcm_open(keys.p1_ek, raw[2:10] + raw[14:18], b"\x30" + keys.p1_ak,
                             raw[18:-12], raw[-12:])
        except InvalidTag:
            f.ok, f.tag_ok, f.problem = False, False, "tag"
            f.error = "tag mismatch: wrong key or tampered frame"
            if keys.system_title and keys.system_title != f.system_title:
                f.error += " (system title %s, the keys are for %s)" % (
                    f.system_title.hex().upper(), keys.system_title.hex().upper())
            return f
        f.tag_ok = True
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
            return _NOT if _telegram_inside(buf, s + 3) else _NEED
        if buf[s + total - 1] != 0x7E:
            return self._hdlc_misframed(buf, s)
        f = parse_hdlc(bytes(buf[s:s + total]), self.keys)
        if not f.hdlc["fcs_ok"] and not f.hdlc.get("hcs_ok"):
            # Neither check holds: most likely a 7E A? pattern in noise, not a frame at all.
            # (A real frame hit by noise usually keeps its short header intact.)
            return _NOT
        # Leave the closing flag: it may also open the next frame.
        return f, s + total - 1

    def _hdlc_misframed(self, buf, s):
        """No closing flag where the length says. With a valid header check it was a real frame
        that lost or gained bytes: report it and resume at the next flag; else it was no frame."""
        body = buf[s + 1:]
        dst, i = _hdlc_address(body, 2)
        src, i = _hdlc_address(body, i) if dst else (None, i)
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
