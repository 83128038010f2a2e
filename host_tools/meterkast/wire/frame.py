"""One thing found on a wire (`Frame`), and how a P1 telegram or an HDLC frame is judged and
described: CRC and syntax of a telegram against its variant, the CRC style of a stream, and an
HDLC frame's addresses, control field, checks and APDU (opened with the management keys when
they are given). HDLC, A-XDR and GCM are `meterkast.dlms`'s; this module only describes.
"""
import re

from meterkast.dlms.apdu import apdu_name
from meterkast.dlms.hdlc import control_text, decode_address
from meterkast.dlms.hdlc import crc16 as _crc
from meterkast.dlms.security import Keys as MgmtKeys
from meterkast.dlms.security import SecurityError, open_glo
from meterkast.wire.p1 import Telegram

P1 = "p1"
ENCRYPTED = "p1-encrypted"
HDLC = "hdlc"
LINK = "link"
MBUS = "mbus"  # an M-Bus long frame carrying (a segment of) a DLMS push
UNKNOWN = "unknown"
SKIPPED = "skipped"


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
        self.link = None  # a link frame's values (meterkast.wire.link_frames), "type" first
        self.link_counters = None  # the link decoder's counters just after this frame
        self.mbus = None  # an M-Bus frame's address, CI and segment (meterkast.wire.push)
        self.reason = None
        self.skipped = 0

    def as_json(self, show_bad=False, units=None):
        """units None: values as sent, flat ('1-0:1.8.1': 1234.567); else 'dsmr5', 'si' or
        'native': {"value": ..., "unit": ...} objects (meterkast.wire.p1_values)."""
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
        if getattr(t, "is_push", False):
            d["push"] = t.meta()  # a DLMS push (meterkast.wire.push): values keyed like P1
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
        elif self.kind == MBUS and self.mbus is not None:
            d.update(self.mbus)
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


def parse_hdlc(raw, keys=None):
    """A frame from flag to flag (both included) -> Frame with .hdlc details."""
    body = raw[1:-1]
    fmt = (body[0] << 8) | body[1]
    d = {"segmented": bool(fmt & 0x0800)}
    f = Frame(HDLC, raw)
    f.hdlc = d
    dst, i = decode_address(body, 2)
    src, i = decode_address(body, i) if dst else (None, i)
    if dst is None or src is None or i + 3 > len(body):
        f.ok, f.problem, f.error = False, "syntax", "malformed address field"
        d["fcs_ok"] = _crc(body[:-2]) == int.from_bytes(body[-2:], "little")
        return f
    d["dst"] = dst[0] if dst[1] is None else list(dst)
    d["src"] = src[0] if src[1] is None else list(src)
    control = body[i]
    d["control"] = control_text(control)
    i += 1
    info = b""
    hcs_ok = None
    if len(body) > i + 2:
        hcs_ok = _crc(body[:i]) == int.from_bytes(body[i:i + 2], "little")
        info = body[i + 2:-2]
    fcs_ok = _crc(body[:-2]) == int.from_bytes(body[-2:], "little")
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
            d["apdu"] = apdu_name(apdu)
            if (apdu[0] == 0xDB and keys is not None and keys.mgmt_ek is not None
                    and not d["segmented"]):
                mgmt = MgmtKeys(keys.system_title, keys.mgmt_ek, keys.mgmt_ak or b"", None)
                try:
                    plain = open_glo(apdu, mgmt)
                except SecurityError as exc:
                    d["decrypted"] = None
                    d["decrypt_error"] = str(exc)
                else:
                    d["decrypted"] = plain.hex().upper()
                    d["inner_apdu"] = apdu_name(plain)
    return f


def _link_frame(item):
    f = Frame(LINK, item.raw, item.ok, item.error, item.problem)
    f.link = item.info
    f.link_counters = item.counters
    return f
