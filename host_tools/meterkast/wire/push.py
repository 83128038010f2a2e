"""DLMS push ports: the data-notification (APDU 0x0F) that HAN meters push every few seconds
(Aidon, Kamstrup, Kaifa, Iskra, Landis+Gyr, Sagemcom), turned into values keyed like P1.

    0F <long-invoke-id 4> <date-time: 00 | 09 0C <12> | 0C <12>> <notification-body: Data>

The body is A-XDR (meterkast.dlms.axdr) in one of three shapes:
* named: (OBIS octet-string, value[, scaler-unit structure]), nested as structures (Aidon,
  Kaifa and Sagemcom in Austria) or flat in one structure (Kamstrup, Sagemcom);
* capture objects: a list of (class, OBIS, attribute, index) followed by the values (Landis+Gyr);
* positional: values in a fixed order without OBIS codes (Kaifa "KFM_001" lists 1-3, Iskra,
  the Austrian Kaernten Netz and Wiener Netze lists); meterkast.wire.push_lists has the tables;
* anything else: the values are kept by position ("unnamed"), never given a P1 key by guess.
meterkast.wire.push_reading turns a body into values; this module opens and frames.

A general-glo-ciphering wrapper (0xDB) is opened with the P1/push key of --keys: security
control 0x30 (encrypted and authenticated: the GCM tag is checked, a wrong key is a tag
mismatch) or 0x20 (encrypted only, as Austrian meters send: there is no tag, so a wrong key
shows as plaintext that is not a data-notification, and the values are marked
"authenticated": false). HDLC-framed, M-Bus framed and raw (Austria) 0xDB are handled here.

HDLC segments (format bit S) and general-block-transfer blocks (0xE0, Landis+Gyr) are joined
per address pair before decoding (PushDecoder), and so are M-Bus segments (Kaifa MA309 in
Austria and Poland): long frames `68 L L 68 <C> <A> <CI> <STSAP> <DTSAP> <data> <sum> 16`, CI =
0x00-0x0F a segment number, plus 0x10 on the last one; the sum (of C to the data, mod 256) is
checked and a frame whose sum fails is no frame at all.
"""
from meterkast.dlms import axdr
from meterkast.dlms.security import TAG_LEN, SecurityError, gcm_open, gcm_seal
from meterkast.wire.frame import Frame
from meterkast.wire.push_reading import PushError, PushReading  # noqa: F401 (interface)

DATA_NOTIFICATION = 0x0F
GLO = 0xDB
GBT = 0xE0
_MAX_JOIN = 65536
MBUS = "mbus"
NEED = "need"


# -- opening --------------------------------------------------------------------------------
def glo_parts(apdu):
    """(system title, security control, invocation counter, ciphertext[+tag]) of a general-glo-
    ciphering APDU in any length form; PushError when it is not one."""
    if len(apdu) < 12 or apdu[0] != GLO or apdu[1] != 8:
        raise PushError("not general-glo-ciphering")
    try:
        n, i = axdr.read_length(apdu, 10)
    except axdr.AxdrError:
        raise PushError("general-glo-ciphering: bad length")
    if i + n != len(apdu) or n < 5:
        raise PushError("general-glo-ciphering: length %d, %d bytes follow" % (n, len(apdu) - i))
    return bytes(apdu[2:10]), apdu[i], int.from_bytes(apdu[i + 1:i + 5], "big"), bytes(apdu[i + 5:])


def open_glo(apdu, ek, ak):
    """(plaintext, authenticated) of a 0xDB push under the P1/push keys; PushError (no or wrong
    key, or a form not handled) with a one-line reason."""
    title, sc, ic, body = glo_parts(apdu)
    if sc & 0x0F > 1:  # suites 0 and 1 are AES-128-GCM; suite 2 is AES-256
        raise PushError("security suite %d not handled" % (sc & 0x0F))
    if ek is None:
        raise PushError("no key: cannot decrypt (give the P1/push key with --keys)")
    iv = title + ic.to_bytes(4, "big")
    if sc & 0xF0 == 0x30:
        if len(body) < TAG_LEN:
            raise PushError("ciphered APDU shorter than its tag")
        try:
            return gcm_open(ek, iv, bytes((sc,)) + ak, body[:-TAG_LEN], body[-TAG_LEN:]), True
        except SecurityError:
            raise PushError("tag mismatch: wrong key or tampered frame")
    if sc & 0xF0 == 0x20:
        # Encryption only: GCM's counter-mode keystream, which encrypting the ciphertext
        # again under the same IV applies, gives the plaintext back. There is no tag.
        return gcm_seal(ek, iv, b"", body)[0], False
    raise PushError("security control 0x%02X not handled" % sc)


def parse_notification(apdu):
    """(invoke id, date-time octets or None, body Data) of a data-notification APDU."""
    if len(apdu) < 6 or apdu[0] != DATA_NOTIFICATION:
        raise PushError("not a data-notification")
    invoke = int.from_bytes(apdu[1:5], "big")
    p = 5
    if apdu[p] == 0x00:  # date-time absent
        stamp, p = None, p + 1
    elif apdu[p] == 0x09 and p + 1 < len(apdu):  # tagged octet-string (Kaifa)
        n = apdu[p + 1]
        stamp, p = bytes(apdu[p + 2:p + 2 + n]), p + 2 + n
    elif apdu[p] == 0x0C:  # length only, as the standard's OPTIONAL octet-string is sent
        stamp, p = bytes(apdu[p + 1:p + 13]), p + 13
    else:
        raise PushError("data-notification: date-time field 0x%02X not understood" % apdu[p])
    if stamp is not None and len(stamp) != 12:
        raise PushError("data-notification: date-time of %d octets" % len(stamp))
    try:
        body = axdr.decode_all(apdu[p:])
    except axdr.AxdrError as exc:
        raise PushError("data-notification body: %s" % exc)
    return invoke, stamp, body


def decode_push(apdu, keys=None):
    """A PushReading of a data-notification APDU, plain or 0xDB-wrapped; PushError if not."""
    authenticated = None  # plain: only the frame's own check (HDLC FCS) vouches for it
    if apdu[:1] == bytes((GLO,)):
        ek = keys.p1_ek if keys is not None else None
        ak = (keys.p1_ak if keys is not None else None) or b""
        apdu, authenticated = open_glo(apdu, ek, ak)
        if apdu[:1] != bytes((DATA_NOTIFICATION,)):
            raise PushError("decrypted APDU is not a data-notification%s" % (
                "" if authenticated else ": wrong key? (security control 0x20 has no tag)"))
    try:
        reading = PushReading(*parse_notification(apdu), authenticated=authenticated)
    except PushError as exc:
        if authenticated is False:
            raise PushError("%s: wrong key? (security control 0x20 has no tag)" % exc)
        raise
    return reading


def encrypted_push(frame, raw, keys, plain=None):
    """Fill a raw 0xDB Frame (kind p1-encrypted) that carries a push: the reading, or ok False
    and a one-line error. plain: the plaintext when the caller already checked the tag."""
    try:
        if plain is None:
            reading = decode_push(raw, keys)
        else:
            reading = PushReading(*parse_notification(plain), authenticated=True)
    except PushError as exc:
        text = str(exc)
        frame.error = text
        if text.startswith("no key"):
            frame.ok, frame.problem = None, "no-key"
        else:
            frame.ok, frame.problem = False, "tag" if text.startswith("tag") else "push"
            frame.tag_ok = False if frame.problem == "tag" else None
        return frame
    frame.telegram = reading
    frame.ok = True
    frame.tag_ok = reading.authenticated or None
    return frame


def mbus_frame(buf, s):
    """(end, address, CI, data) of the M-Bus long frame at buf[s]; NEED when more bytes must
    come first; None when it is not one (wrong header, sum or stop byte)."""
    have = len(buf) - s
    if have < 4:
        return NEED if have < 3 or buf[s + 1] == buf[s + 2] else None
    n = buf[s + 1]
    if buf[s + 2] != n or buf[s + 3] != 0x68 or n < 6:
        return None
    end = s + n + 6
    if len(buf) < end:
        return NEED
    if buf[end - 1] != 0x16 or sum(buf[s + 4:end - 2]) & 0xFF != buf[end - 2]:
        return None
    return end, buf[s + 5], buf[s + 6], bytes(buf[s + 9:end - 2])


def _gbt_parts(apdu):
    """(last block?, block number, data) of a general-block-transfer APDU."""
    if len(apdu) < 7:
        raise PushError("general-block-transfer too short")
    n, p = axdr.read_length(apdu, 6)
    return bool(apdu[1] & 0x80), int.from_bytes(apdu[2:4], "big"), bytes(apdu[p:p + n])


class PushDecoder:
    """Decodes pushes from HDLC frames in order, joining HDLC segments and GBT blocks per
    address pair. Only frames whose FCS holds are joined; a bad frame drops the partial push.

    A plain data-notification is a push wherever it is. A general-glo-ciphering APDU is one
    when the P1/push key opens it to a data-notification; it is judged (and rejected when it
    fails) only in a UI frame, the frame type pushes use: in I-frames it is management traffic
    (a head-end session), which meterkast.wire.frame opens with the management keys."""

    def __init__(self, keys=None):
        self.keys = keys
        self.pending = {}  # (src, dst) -> bytearray of info (HDLC segments)
        self.blocks = {}  # (src, dst) -> (next block number, bytearray) of GBT blocks
        self.mbus_segments = {}  # M-Bus address -> (next segment number, bytearray)

    def hdlc(self, frame):
        """Adds 'push' or 'push_error' to frame.hdlc and sets frame.telegram to the reading."""
        d = frame.hdlc
        pair = (str(d.get("src")), str(d.get("dst")))
        if not frame.ok:
            self.pending.pop(pair, None)
            self.blocks.pop(pair, None)
            return
        info = bytes.fromhex(d.get("info", ""))
        if d.get("segmented"):
            buf = self.pending.setdefault(pair, bytearray())
            if len(buf) + len(info) > _MAX_JOIN:
                del self.pending[pair]
                d["push_error"] = "segmented push longer than %d bytes" % _MAX_JOIN
                return
            buf += info
            d["push_segment"] = True
            return
        if pair in self.pending:
            info = bytes(self.pending.pop(pair)) + info
        apdu = info[3:] if info[:2] in (b"\xe6\xe6", b"\xe6\xe7") else info
        if apdu[:1] == bytes((GBT,)):
            apdu = self._block(pair, apdu, d)
            if apdu is None:
                return
        if apdu[:1] == bytes((GLO,)) and "decrypted" in d and d["decrypted"] is not None:
            return  # a management-channel APDU, opened with the management keys
        if apdu[:1] not in (bytes((DATA_NOTIFICATION,)), bytes((GLO,))):
            return
        try:
            reading = decode_push(apdu, self.keys)
        except PushError as exc:
            if apdu[:1] == bytes((GLO,)) and not d.get("control", "").startswith("UI"):
                return  # ciphered management traffic (I-frames), not a push: not ours to judge
            if apdu[:1] == bytes((GLO,)) and "decrypt_error" in d and (
                    self.keys is None or self.keys.p1_ek is None):
                return  # neither key set opens it: the management error says enough
            d["push_error"] = frame.error = str(exc)
            if d["push_error"].startswith("no key"):
                frame.problem = "no-key"  # the frame itself is sound: FCS holds
            else:  # a push that fails its tag or does not decode is rejected, values unseen
                frame.ok, frame.problem = False, "tag" if "tag" in d["push_error"] else "push"
            return
        frame.telegram = reading

    def mbus(self, raw, address, ci, data):
        """A Frame (kind "mbus") of one M-Bus segment: the push once the last one is in."""
        f = Frame(MBUS, raw, True)
        f.mbus = d = {"address": address, "ci": "%02X" % ci, "segment": ci & 0x0F,
                      "last": bool(ci & 0x10)}
        if ci > 0x1F:
            d["push_error"] = f.error = "CI 0x%02X is not a DLMS transport segment" % ci
            return f
        expect, buf = self.mbus_segments.pop(address, (0, bytearray()))
        if ci & 0x0F == 0:
            buf = bytearray()
        elif ci & 0x0F != expect:
            d["push_error"] = f.error = "segment %d, expected %d: the push is lost" % (
                ci & 0x0F, expect)
            return f
        buf += data
        if not ci & 0x10:
            if len(buf) <= _MAX_JOIN:
                self.mbus_segments[address] = ((ci & 0x0F) + 1) & 0x0F, buf
            d["push_segment"] = True
            return f
        try:
            f.telegram = decode_push(bytes(buf), self.keys)
        except PushError as exc:
            d["push_error"] = f.error = str(exc)
            if str(exc).startswith("no key"):
                f.problem = "no-key"
            else:
                f.ok, f.problem = False, "tag" if "tag" in str(exc) else "push"
        return f

    def _block(self, pair, apdu, d):
        try:
            last, number, data = _gbt_parts(apdu)
        except (PushError, axdr.AxdrError) as exc:
            d["push_error"] = "general-block-transfer: %s" % exc
            return None
        expect, buf = self.blocks.pop(pair, (1, bytearray()))
        if number == 1:
            buf = bytearray()  # a new push: whatever was pending is lost
        elif number != expect or len(buf) + len(data) > _MAX_JOIN:
            d["push_error"] = "general-block-transfer: block %d, expected %d" % (number, expect)
            return None
        buf += data
        if not last:
            self.blocks[pair] = (number + 1, buf)
            d["push_segment"] = True
            return None
        return bytes(buf)
