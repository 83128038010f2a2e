"""Every GCM IV a meter put on the wire, read back from what it sent.

An IV is (system title, invocation counter) under one key. The meter uses one on
- every encrypted P1 frame (`DB 08 <title> 82 <len> 30 <frame counter> ...`, P1 key);
- every ciphered P3 APDU it sends, under the management key: the AARE's glo-initiateResponse
  (`28 <len> 30 <IC> ...`), each glo-xxx-response (`C8..CF <len> 30 <IC> ...`) and
  general-glo-ciphering (`DB 08 <title> <len> 30 <IC> ...`), and the HLS f(CtoS) GMAC
  (`10 <IC> <tag>`) inside the deciphered action response of pass 4 (keys needed for that one).

`iv_uses(stream_p1, stream_p3, keys)` lists them; `repeats(uses)` gives the (key, IV) pairs
seen more than once, which must always be empty. The streams are what the meter sent (a capture's
`>` direction of each line).
"""
from collections import Counter

from meterkast.dlms import axdr
from meterkast.dlms import security as dsec
from meterkast.dlms.apdu import ber_fields
from meterkast.dlms.hdlc import LLC_RESPONSE, parse_frames

_GLO_RESPONSES = range(0xC8, 0xD0)


def p1_headers(data):
    """(system title, frame counter, frame bytes) of every encrypted P1 frame in a stream,
    `DB 08 <title> 82 <len> 30 <counter> ...`. A frame cut short still counts (its header left
    the meter, so its IV was used); its bytes are then the part that was sent."""
    out = []
    i = 0
    n = len(data)
    while True:
        i = data.find(b"\xdb\x08", i)
        if i < 0 or i + 18 > n:
            return out
        if data[i + 10] != 0x82 or data[i + 13] != 0x30:
            i += 1
            continue
        end = i + 13 + int.from_bytes(data[i + 11:i + 13], "big")
        out.append((bytes(data[i + 2:i + 10]), int.from_bytes(data[i + 14:i + 18], "big"),
                    bytes(data[i:min(end, n)])))
        i = end


def hdlc_apdus(data):
    """APDUs in an HDLC byte stream (valid frames only, segments joined), LLC header included."""
    buf = bytearray(data)
    pending = {}
    out = []
    for f in parse_frames(buf):
        if not f.is_i:
            continue
        acc = pending.setdefault(f.dest, bytearray())
        acc += f.info
        if not f.segmented:
            out.append(bytes(acc))
            del pending[f.dest]
    return out


def _gmac_use(plain, title):
    """The HLS pass-4 GMAC inside a deciphered action-response: (title, IC, bytes) or None."""
    if plain[:4] != b"\xc7\x01\xc1\x00" or plain[4:6] != b"\x01\x00":
        return None
    try:
        f = axdr.decode_all(plain[6:])
    except ValueError:
        return None
    if isinstance(f, bytes) and len(f) >= 5 and f[0] == 0x10:
        return title, int.from_bytes(f[1:5], "big"), b"gmac" + bytes(f)
    return None


def _ciphered(apdu, server_title):
    """(title, IC, start of ciphertext) of a ciphered APDU from the meter, or None."""
    try:
        if apdu[0] in _GLO_RESPONSES:
            _, i = axdr.read_length(apdu, 1)
            if apdu[i] == dsec.SC_AUTH_ENC:
                return bytes(server_title), int.from_bytes(apdu[i + 1:i + 5], "big"), i + 5
        elif apdu[0] == 0xDB and apdu[1] == 8:
            _, i = axdr.read_length(apdu, 10)
            if apdu[i] == dsec.SC_AUTH_ENC:
                return bytes(apdu[2:10]), int.from_bytes(apdu[i + 1:i + 5], "big"), i + 5
        elif apdu[0] == 0x61:  # AARE: user-information BE <len> 04 <len> 28 <len> 30 <IC>
            fields = ber_fields(apdu, 0x61)
            ui = fields.get(0xBE, b"")
            title = fields.get(0xA4, b"")[2:] or server_title
            if ui[:1] == b"\x04" and len(ui) > 8 and ui[2] == 0x28:
                _, p = axdr.read_length(ui, 3)
                if ui[p] == dsec.SC_AUTH_ENC:
                    return bytes(title), int.from_bytes(ui[p + 1:p + 5], "big"), None
    except (IndexError, ValueError):
        return None
    return None


def server_ivs(apdus, keys=None, server_title=b""):
    """(system title, invocation counter, bytes) of every protection the meter applied in its
    P3 answers (`apdus` from hdlc_apdus): glo-xxx-responses, general-glo-ciphering, the
    ciphered InitiateResponse of an AARE and, with `keys` (dlms.security.Keys), the HLS pass-4
    GMAC inside a ciphered action response (a GMAC uses the same IV space).

    Returns (uses, bad): bad counts ciphered answers whose tag does not verify under `keys`."""
    uses = []
    bad = 0
    title0 = keys.system_title if keys is not None else server_title
    for raw in apdus:
        if raw[:3] != LLC_RESPONSE:
            continue
        apdu = raw[3:]
        found = _ciphered(apdu, title0)
        if found is None:
            continue
        title, ic, at = found
        uses.append((title, ic, apdu))
        if keys is None or at is None:
            continue
        try:
            plain = dsec.decrypt(keys, title, ic, apdu[at:])
        except dsec.SecurityError:
            bad += 1
            continue
        gmac = _gmac_use(plain, title)
        if gmac is not None:
            uses.append(gmac)
    return uses, bad


def iv_uses(p1_stream=b"", p3_stream=b"", keys=None):
    """[(key name, system title, counter)] in the order sent. `keys`: a meterkast.keys.file dict
    (bytes values), needed to open action responses for the HLS GMAC's counter."""
    uses = [("p1", t, c) for t, c, _ in p1_headers(p1_stream)] if p1_stream else []
    if not p3_stream:
        return uses
    title = keys["system_title"] if keys else b""
    mgmt = None
    if keys and keys.get("management"):
        m = keys["management"]
        mgmt = dsec.Keys(title, m["ek"], m["ak"], m["client_system_title"])
    found, _ = server_ivs(hdlc_apdus(p3_stream), mgmt, title)
    return uses + [("management", t, c) for t, c, _ in found]


def repeats(uses):
    """The (key name, title, counter) triples used more than once."""
    return sorted(u for u, n in Counter(uses).items() if n > 1)
