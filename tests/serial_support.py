"""Test support for the serial-line tests: telegram streams (real firmware output plus
variations), encrypted and HDLC streams, and a soak that pushes them through a faulty line."""
import bisect
import random
from pathlib import Path

from meterkast.dlms.hdlc import build_frame as hdlc_frame
from meterkast.keys.file import Keys
from meterkast.line.capture import Capture
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import PacedPipe
from meterkast.soak.line import Variations
from meterkast.wire.frames import FrameDecoder, encrypted_frame

VECTORS = Path(__file__).resolve().parent / "vectors"
CAPTURES = ("p1_3phase.capture", "p1_1phase.capture")
EK = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
AK = bytes.fromhex("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
TITLE = bytes.fromhex("4D4B530000000001")
KEYS = Keys(TITLE, EK, AK)


def firmware_telegrams():
    """Telegrams the real firmware wrote, captured once with `meterkast run --capture`."""
    out = []
    for name in CAPTURES:
        data = Capture.load(VECTORS / name).stream(">")
        frames = FrameDecoder().feed(data)
        out += [f.raw for f in frames if f.ok]
    return out


def variations(n, seed=1):
    """n distinct telegrams: the firmware's layouts with fresh times, values and failure logs
    (the soak campaign's generator, meterkast.soak.line.Variations)."""
    gen = Variations(firmware_telegrams(), seed)
    out = [gen.make(i) for i in range(n)]
    assert len(set(out)) == n
    return out


def encrypted_frames(plaintexts, first_counter=1000):
    return [encrypted_frame(p, TITLE, first_counter + i, EK, AK) for i, p in enumerate(plaintexts)]


def hdlc_frames(n, seed=2):
    """A DLMS-like exchange: I, RR, UA frames with info of random bytes (0x7E included)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 5 == 4:  # RR, no information field; a 4-byte address keeps each one distinct
            lo = i & 0x3FFF
            dst = bytes([0x00, 0x02, (lo >> 7) << 1, ((lo & 0x7F) << 1) | 1])
            out.append(hdlc_frame(dst, b"\x21", 0x11 | ((i & 7) << 5)))
            continue
        info = b"\xe6\xe7\x00" + bytes([0xC4]) + rng.randbytes(rng.randint(8, 240))
        control = ((i & 7) << 5) | 0x10 | ((i * 3 & 7) << 1)
        out.append(hdlc_frame(b"\x21", b"\x02\x23", control, info, segmented=rng.random() < 0.2))
    assert len(set(out)) == n
    return out


class SoakResult:
    def __init__(self, units, corrupted, frames, accepted, false_accepts, faults, edge_only):
        self.units = units
        self.corrupted = corrupted  # indices of units a fault touched
        self.edge_only = edge_only  # of those, units hit only on a shareable HDLC flag
        self.frames = frames
        self.accepted = accepted  # indices of units accepted, in order
        self.false_accepts = false_accepts
        self.faults = faults  # the injector's counters

    @property
    def crc_passed_but_rejected(self):
        """Corrupted telegrams whose CRC still matched: only the strict checks caught them."""
        return [f for f in self.frames if f.ok is False and f.telegram is not None
                and f.telegram.crc_ok is True]

    def summary(self):
        flagged = sum(1 for f in self.frames if f.ok is False)
        return ("%d units, %d corrupted, %d accepted, %d flagged (%d with a matching CRC), "
                "%d false accepts, faults %s"
                % (len(self.units), len(self.corrupted), len(self.accepted), flagged,
                   len(self.crc_passed_but_rejected), len(self.false_accepts), self.faults))


def soak(units, spec, keys=None, interval=1.0, seed=9, decoder=None, flags=False):
    """Push units (telegrams or frames, one per `interval` of line time) through an unpaced
    faulty PacedPipe, cut what arrives into random-sized reads, decode it, and account.

    flags: the units are HDLC frames, whose opening and closing flags a neighbour's flag can
    stand in for, so a fault on a flag alone may leave the frame intact."""
    log = []
    injector = FaultInjector(FaultSpec.parse(spec), "out", log=log)
    received = bytearray()
    pipe = PacedPipe(11520, received.extend, faults=injector, pace=False)
    offsets = []
    sent = 0
    for i, u in enumerate(units):
        offsets.append(sent)
        sent += len(u)
        pipe.push(u, now=i * interval)
        pipe.pump()
    corrupted = set()
    inner = set()
    for pos, kind in log:
        k = bisect.bisect_right(offsets, pos) - 1
        end = offsets[k] + len(units[k])
        if kind == "insert" and pos == end - 1:
            continue  # garbage after the unit's last byte, between units
        corrupted.add(k)
        if not flags or offsets[k] < pos < end - 1 or kind == "insert":
            inner.add(k)
    edge_only = corrupted - inner
    decoder = decoder or FrameDecoder(keys)
    rng = random.Random(seed)
    frames = []
    pos = 0
    while pos < len(received):
        step = rng.choice((1, 7, 64, 500, 1500, 4096, 16384))
        frames += decoder.feed(bytes(received[pos:pos + step]))
        pos += step
    frames += decoder.flush(final=True)
    index = {u: i for i, u in enumerate(units)}
    accepted, false_accepts = [], []
    for f in frames:
        if not f.ok:
            continue
        raw = f.telegram.raw if f.kind == "p1-encrypted" else f.raw
        if f.kind == "p1-encrypted":
            i = f.frame_counter - 1000
            ok = 0 <= i < len(units) and units[i] == f.raw
        else:
            i = index.get(raw, -1)
            ok = i >= 0
        if not ok or (accepted and i <= accepted[-1]):
            false_accepts.append(f)
        else:
            accepted.append(i)
    return SoakResult(units, corrupted, frames, accepted, false_accepts, injector.counts,
                      edge_only)
