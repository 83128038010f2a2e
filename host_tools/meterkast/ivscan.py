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

from meterkast.dlms import security as dsec
from meterkast.dlms.axdr import AxdrError, read_length
from meterkast.frames import ENCRYPTED, HDLC, FrameDecoder

_GLO_RESPONSES = range(0xC8, 0xD0)


def _p1_uses(stream):
    out = []
    for f in FrameDecoder().feed(stream):
        if f.kind == ENCRYPTED and f.system_title is not None:
            out.append(("p1", bytes(f.system_title), f.frame_counter))
        elif f.kind == ENCRYPTED and len(f.raw) >= 18:  # no key given: read the header
            out.append(("p1", bytes(f.raw[2:10]), int.from_bytes(f.raw[14:18], "big")))
    return out


def _apdus(stream):
    """Complete APDUs from the meter's HDLC I-frames (segments joined, LLC header cut)."""
    apdus = []
    pending = bytearray()
    for f in FrameDecoder().feed(stream):
        if f.kind != HDLC or not f.ok or not f.hdlc or "info" not in f.hdlc:
            continue
        info = bytes.fromhex(f.hdlc["info"])
        if not pending and info[:2] in (b"\xe6\xe7", b"\xe6\xe6"):
            info = info[3:]
        pending += info
        if not f.hdlc.get("segmented"):
            apdus.append(bytes(pending))
            pending.clear()
    return apdus


def _title_ic(apdu, server_title):
    """(title, IC) of a ciphered APDU from the meter, or None."""
    tag = apdu[0]
    try:
        if tag in _GLO_RESPONSES:
            n, i = read_length(apdu, 1)
            if apdu[i] == 0x30:
                return server_title, int.from_bytes(apdu[i + 1:i + 5], "big"), i
        elif tag == 0xDB and apdu[1] == 8:
            title = bytes(apdu[2:10])
            n, i = read_length(apdu, 10)
            if apdu[i] == 0x30:
                return title, int.from_bytes(apdu[i + 1:i + 5], "big"), i
        elif tag == 0x61:  # AARE: user-information BE <len> 04 <len> 28 <len> 30 <IC>
            at = apdu.find(b"\xbe")
            while at >= 0:
                j = apdu.find(b"\x28", at)
                if j > 0 and j + 7 <= len(apdu) and apdu[j + 2] == 0x30:
                    return server_title, int.from_bytes(apdu[j + 3:j + 7], "big"), None
                at = apdu.find(b"\xbe", at + 1)
    except (IndexError, ValueError, AxdrError):
        return None
    return None


def iv_uses(p1_stream=b"", p3_stream=b"", keys=None):
    """[(key name, system title, counter)] in the order sent. `keys`: a meterkast.keys dict
    (bytes values), needed to open action responses for the HLS GMAC's counter."""
    uses = _p1_uses(p1_stream) if p1_stream else []
    if not p3_stream:
        return uses
    title = keys["system_title"] if keys else b""
    mgmt = None
    if keys and keys.get("management"):
        m = keys["management"]
        mgmt = dsec.Keys(title, m["ek"], m["ak"], m["client_system_title"])
    for apdu in _apdus(p3_stream):
        found = _title_ic(apdu, title)
        if found is None:
            continue
        st, ic, at = found
        uses.append(("management", st, ic))
        if mgmt is not None and at is not None and apdu[0] in (0xCF, 0xDB):
            try:
                plain = dsec.decrypt(mgmt, st, ic, apdu[at + 5:])
            except dsec.SecurityError:
                continue
            k = plain.find(b"\x09\x11\x10")  # octet-string(17): 10 <IC> <GMAC 12>
            if plain[:1] == b"\xc7" and k >= 0:  # an action-response: HLS pass 4
                uses.append(("management", st, int.from_bytes(plain[k + 3:k + 7], "big")))
    return uses


def repeats(uses):
    """The (key name, title, counter) triples used more than once."""
    return sorted(u for u, n in Counter(uses).items() if n > 1)
