"""The P3 fuzzer's frames: templates of real requests, mutated APDUs, garbage, HDLC frames
with recomputed checks, and the probes the meter must answer after each batch."""
import re
from collections import Counter

from meterkast.dlms import axdr
from meterkast.dlms.client import CLOCK
from meterkast.dlms.hdlc import (
    LLC_REQUEST,
    build_frame,
    fcs,
    parse_frames,
)
from meterkast.soak.common import (
    PROFILE,
)

# -- campaign 3: fuzzed frames into P3 -------------------------------------------------------

SERVER = b"\x03"  # logical device 1, one-byte address
PUBLIC = b"\x21"  # client SAP 16
MANAGEMENT = b"\x03"  # client SAP 1
# The probe: a DISC from a client address only probes use, which the meter answers with DM
# without touching the link of the client it serves. The meter repeats its last frame when a
# client repeats an I-frame, and that may be the previous probe's DM: successive probes take
# turns among four addresses, so an answer always names the probe it answers.
PROBE_SAPS = (0x6C, 0x6D, 0x6E, 0x6F)
_PROBE_SRCS = tuple(bytes(((sap << 1) | 1,)) for sap in PROBE_SAPS)
_PROBES = tuple(build_frame(SERVER, src, 0x53) for src in _PROBE_SRCS)
_PROBE_ANSWER = re.compile(rb"\x7e[\xa0-\xa7].[\xd9\xdb\xdd\xdf]", re.S)
# Bytes of fuzz between probes. The line holds at most about a KiB for the meter (a UART FIFO
# and its receive buffer): more at once would be dropped before the meter ever saw it.
BATCH = 960


def refcs(frame):
    """Recompute HCS and FCS of a (mutated) frame so it passes the HDLC checks."""
    body = bytearray(frame[1:-1])
    if len(body) < 7:
        return frame
    length = len(body)
    body[0] = 0xA0 | (body[0] & 0x08) | ((length >> 8) & 7)
    body[1] = length & 0xFF
    p = 2
    while p < length - 2 and not body[p] & 1:
        p += 1
    p += 2  # source address (one byte) and control
    if p + 2 < length - 2:
        body[p + 1:p + 3] = fcs(body[:p + 1])
    body[-2:] = fcs(body[:-2])
    return b"\x7e" + bytes(body) + b"\x7e"


def templates(client_title):
    """Client frames of a real session's kinds, to mutate (tests/host/test_dlms_robustness)."""
    c1, c16 = MANAGEMENT, PUBLIC
    aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    get = b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00"
    get_sel = b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x01\x02" + axdr.entry_descriptor(1, 3)
    dbx = b"\xdb\x08" + client_title + b"\x1e\x30\x00\x00\x00\x05" + bytes(range(25))
    out = [
        build_frame(SERVER, c16, 0x93),
        build_frame(SERVER, c1, 0x93, bytes.fromhex("818012050180060180070400000001080400000001")),
        build_frame(SERVER, c16, 0x53),
        build_frame(SERVER, c16, 0x11),
        build_frame(SERVER, c16, 0x31),
    ]
    for ns in range(8):
        for info in (aarq, get, get_sel, dbx, b"\x62\x03\x80\x01\x00"):
            out.append(build_frame(SERVER, c16 if ns & 1 else c1,
                                   0x10 | (ns << 1) | ((ns + 1) & 7) << 5, LLC_REQUEST + info,
                                   segmented=ns == 5))
    return out


def garbage(rng, tpl):
    """One random or mutated frame (tests/host/test_dlms_robustness.py's kinds)."""
    kind = rng.randrange(7)
    if kind == 0:  # line noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    f = bytearray(rng.choice(tpl))
    if kind in (1, 2):  # bit errors, then a valid or an invalid FCS
        for _ in range(rng.randrange(1, 4)):
            f[rng.randrange(1, len(f) - 1)] ^= 1 << rng.randrange(8)
        return refcs(bytes(f)) if kind == 2 else bytes(f)
    if kind == 3:  # truncated, or two frames glued together
        return bytes(f[:rng.randrange(1, len(f))]) + (
            bytes(rng.choice(tpl)) if rng.random() < 0.5 else b"")
    if kind == 4:  # valid HDLC, random control and random information
        info = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        ctrl = rng.randrange(256)
        if rng.random() < 0.5:
            info = LLC_REQUEST + info
            ctrl &= 0xFE
        return build_frame(SERVER, rng.choice((b"\x03", b"\x21", b"\x11")), ctrl, info,
                           rng.random() < 0.1)
    if kind == 5:  # a believable header announcing a long frame that never comes
        n = rng.randrange(7, 0x7FF)
        return bytes((0x7E, 0xA0 | (n >> 8), n & 0xFF)) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 40)))
    return b"\x7e" * rng.randrange(1, 20)  # flag fill


def _snrm(client):
    return build_frame(SERVER, client, 0x93,
                       bytes.fromhex("818014050201F4060201F4070400000001080400000001"))


def _iframe(client, ns, info, segmented=False):
    return build_frame(SERVER, client, 0x10 | (ns << 1), info, segmented)


def _huge_length(rng):
    k = rng.choice((0, 1, 2, 3, 4, 5, 8, 0x7F))
    if k == 0:
        return b"\x80"  # indefinite
    return bytes((0x80 | k,)) + bytes(rng.choice((0xFF, 0x7F, 0x80)) for _ in range(min(k, 9)))


def mutate(rng, apdu):
    """An APDU with bit errors, bytes inserted, deleted or cut, a length made huge, or spliced."""
    a = bytearray(apdu)
    how = rng.randrange(6)
    if how == 0:
        for _ in range(rng.randrange(1, 4)):
            if a:
                a[rng.randrange(len(a))] ^= 1 << rng.randrange(8)
    elif how == 1 and a:
        p = rng.randrange(len(a) + 1)
        a[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
    elif how == 2 and len(a) > 1:
        p = rng.randrange(len(a))
        del a[p:p + rng.randrange(1, 8)]
    elif how == 3 and a:
        del a[rng.randrange(len(a)):]
    elif how == 4 and len(a) > 1:
        p = rng.randrange(1, len(a))
        a[p:p + 1] = _huge_length(rng)
    else:
        p = rng.randrange(len(a) + 1)
        a[p:p] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    return bytes(a)


class P3Fuzzer:
    """Blobs to send, one frame (or one piece of noise) each: the garbage of
    test_dlms_robustness, oversize frames, unfinished segments on SAP 1 and 16, requests that
    overflow the meter's APDU buffer, mutated valid APDUs, huge BER lengths and replays of a
    recorded management session, verbatim or re-framed."""

    KINDS = (("garbage", 8), ("oversize", 1), ("unfinished", 1), ("overflow", 1),
             ("public", 2), ("mutated", 3), ("huge_ber", 2), ("replay", 1), ("reframed", 1))

    def __init__(self, rng, client_title, recorded):
        self.rng = rng
        self.tpl = templates(client_title)
        self.recorded = recorded  # the client's frames of real sessions, in order
        self.apdus = [(f.dest, f.info[3:]) for f in _frames(b"".join(recorded))
                      if f.is_i and f.info[:3] == LLC_REQUEST and not f.segmented]
        self.ciphered = [a for _, a in self.apdus if a[:1] in (b"\x60", b"\xdb")]
        base = [a for _, a in self.apdus] + [
            b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00",
            b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x01\x02" + axdr.entry_descriptor(1, 3),
            b"\xc0\x02\xc1\x00\x00\x00\x01", b"\x62\x03\x80\x01\x00",
            bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")]
        self.valid = base
        self.public_aarq = bytes.fromhex(
            "601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
        self.kinds = [k for k, w in self.KINDS for _ in range(w)]
        self.counts = Counter()

    def session(self, client, apdus):
        out = [_snrm(client)]
        for ns, apdu in enumerate(apdus):
            out.append(_iframe(client, ns % 8, LLC_REQUEST + apdu))
        return out

    def next(self):
        """A list of blobs (one kind). None of them is a valid frame from the probe's address:
        the meter would answer it as it answers the probe."""
        while True:
            blobs = self._next()
            if not any(_probe_like(b) for b in blobs):
                return blobs

    def _next(self):
        rng = self.rng
        kind = rng.choice(self.kinds)
        self.counts[kind] += 1
        client = rng.choice((PUBLIC, MANAGEMENT))
        if kind == "garbage":
            return [garbage(rng, self.tpl) for _ in range(rng.randrange(1, 6))]
        if kind == "oversize":  # longer than any frame the meter takes, valid checks
            info = bytes(rng.randrange(256) for _ in range(rng.randrange(520, BATCH - 20)))
            return [build_frame(SERVER, client, 0x10, LLC_REQUEST + info)]
        if kind == "unfinished":  # segments of a request that never ends
            out = [_snrm(client)]
            for ns in range(rng.randrange(1, 4)):
                info = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
                out.append(_iframe(client, ns, (LLC_REQUEST if ns == 0 else b"") + info, True))
            return out
        if kind == "overflow":  # a request longer than the meter's APDU buffer
            out = [_snrm(client)]
            total = rng.randrange(1100, 1500)
            ns = 0
            while total > 0:
                k = min(total, 480)
                total -= k
                out.append(_iframe(client, ns, bytes(rng.randrange(256) for _ in range(k)),
                                   total > 0))
                ns += 1
            return out
        if kind == "public":  # associated as the public client, then mutated requests
            apdus = [self.public_aarq] + [mutate(rng, rng.choice(self.valid))
                                          for _ in range(rng.randrange(1, 6))]
            return self.session(PUBLIC, apdus)
        if kind == "mutated":
            return self.session(client, [mutate(rng, rng.choice(self.valid))
                                         for _ in range(rng.randrange(1, 4))])
        if kind == "huge_ber":
            apdu = bytearray(rng.choice(self.valid))
            p = rng.randrange(1, max(2, len(apdu)))
            apdu[p:p + 1] = _huge_length(rng)
            return self.session(client, [bytes(apdu)])
        if kind == "replay" and self.recorded:  # a recorded session, frame for frame
            start = rng.randrange(len(self.recorded))
            return list(self.recorded[start:start + rng.randrange(1, 8)])
        if self.ciphered:  # recorded ciphered requests in a new link
            return self.session(MANAGEMENT, [rng.choice(self.ciphered)
                                             for _ in range(rng.randrange(1, 4))])
        return [garbage(rng, self.tpl)]


def _probe_like(blob):
    """The blob holds a valid frame from one of the probe addresses."""
    if not any(src in blob for src in _PROBE_SRCS):
        return False
    return any(f.src in _PROBE_SRCS for f in _frames(blob))


def _frames(data):
    return parse_frames(bytearray(data))


