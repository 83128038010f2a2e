"""The internal link (firmware/contract/link.py, docs/link.md) under CPython: a simulated day of a
household meter pushed through the emulated line's fault injector into the comms-side decoder.

Every capture the metering module made reaches the comms copy of the profile, confirmed, entry
for entry; no frame the decoder accepts holds a value other than the one sent, at BER 1e-4 with
drops, insertions and breaks, and at a heavier level where many readings are lost.
"""
import importlib
import math
import random
import re
import sys
from array import array
from datetime import datetime, timezone
from pathlib import Path

import pytest
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import PacedPipe

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
DAY = 86400
LINE_BPS = 11520  # 115200 baud 8N1


@pytest.fixture(scope="module")
def L():
    """contract.link imported by plain CPython (no micropython shim), sys state restored."""
    saved_path = list(sys.path)
    saved_mods = dict(sys.modules)
    sys.path.insert(0, str(FIRMWARE))
    for name in [m for m in sys.modules if m == "contract" or m.startswith("contract.")]:
        del sys.modules[name]
    try:
        mod = importlib.import_module("contract.link")
        assert "micropython" not in sys.modules
        yield mod
    finally:
        sys.path[:] = saved_path
        sys.modules.clear()
        sys.modules.update(saved_mods)


def meter_seconds(y, mo, d, h=0, mi=0, s=0):
    return int((datetime(y, mo, d, h, mi, s, tzinfo=timezone.utc) - EPOCH).total_seconds())


# Reading record fields (contract/reading.py)
T, SEQ, STATUS, TARIFF, IMPORT_W, EXPORT_W, WH = 0, 1, 2, 3, 4, 5, 6
PH_IMP, PH_EXP, VOLT, CURR, PF, LONG_PF, SAGS, SWELLS, FREQ, PF_LOG_N, PF_LOG = (
    10, 13, 16, 19, 22, 23, 24, 27, 30, 31, 32)
FIELDS = 52
CARRIED = 31  # fields 0..30 travel in every reading frame
DST, CAD = 0x08, 0x20


class Household:
    """A summer weekday of a three-phase household with solar panels, integer energy.

    L1: base load and a fridge; L2: kitchen (kettle, cooking); L3: washing machine and a heat
    pump; all three: a 4 kW inverter under passing clouds. Registers count whole Wh with the
    remainder carried, per tariff (low 23:00-07:00 local), import and export, as metrology does.
    """

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.cloud = 1.0
        self.kettle = sorted(self.rng.sample(range(6 * 3600, 22 * 3600), 6))
        self.wh = [8_123_456, 7_654_321, 1_234_567, 2_345_678]
        self.residual = [0, 0, 0, 0]  # mWs
        self.sags = [2, 0, 1]

    def phases(self, local_s):
        h = local_s / 3600
        rng = self.rng
        l1 = 140 + (85 if (local_s // 60) % 50 < 20 else 0) + rng.randint(-5, 5)
        l2 = 15
        if any(k <= local_s < k + 180 for k in self.kettle):
            l2 += 2000
        if 17.75 <= h < 18.9:
            l2 += 1800 + rng.randint(-200, 200)
        l3 = 10
        if 10 <= h < 11.5:
            l3 += 2100 if h < 10.25 else 450 + rng.randint(-60, 60)
        if (local_s // 600) % 3 == 0:
            l3 += 700  # heat pump for the boiler
        pv = 0
        if 6 <= h < 21:
            self.cloud = min(1.0, max(0.2, self.cloud + rng.uniform(-0.01, 0.01)))
            pv = int(4000 * math.sin(math.pi * (h - 6) / 15) ** 1.5 * self.cloud)
        return [l1 - pv // 3, l2 - pv // 3, l3 - pv // 3]

    def second(self, r, t, mono):
        local_s = (t + 7200) % DAY  # CEST
        p = self.phases(local_s)
        net = sum(p)
        tariff = 1 if local_s < 7 * 3600 or local_s >= 23 * 3600 else 2
        reg = (0 if net > 0 else 2) + tariff - 1
        self.residual[reg] += abs(net) * 1000
        self.wh[reg] += self.residual[reg] // 3_600_000
        self.residual[reg] %= 3_600_000
        if mono % 20011 == 0:
            self.sags[mono % 3] += 1
        r[T], r[SEQ], r[TARIFF] = t, mono, tariff
        r[STATUS] = DST
        r[IMPORT_W], r[EXPORT_W] = max(net, 0), max(-net, 0)
        for k in range(4):
            r[WH + k] = self.wh[k]
        for k in range(3):
            v = 2300 + self.rng.randint(-40, 40)
            r[PH_IMP + k], r[PH_EXP + k] = max(p[k], 0), max(-p[k], 0)
            r[VOLT + k] = v
            r[CURR + k] = abs(p[k]) * 10000 // v
            r[SAGS + k] = self.sags[k]
            r[SWELLS + k] = 0
        r[FREQ] = 50000 + self.rng.randint(-30, 30)
        r[PF], r[LONG_PF] = 4, 1
        r[PF_LOG_N] = 1
        r[PF_LOG], r[PF_LOG + 1] = meter_seconds(2026, 2, 11, 3, 12, 40), 1250


class Day:
    """What the metering module sent during one day: bytes per second and the truth."""

    def __init__(self, L, seed=5):
        self.t0 = meter_seconds(2026, 7, 1)
        self.mono0 = 1_000_000
        self.first_index = 52_000  # profile entries made before this day
        enc = L.LinkEncoder(b"MKS", b"MKS0000000000042", (1, 4, 2), b"\x5e\x11\x0a\x77", 3, 2300,
                            60000, L.RING)
        house = Household(seed)
        r = array("i", [0] * FIELDS)
        self.expected = array("i", bytes(4 * FIELDS * DAY))  # the reading record of each second
        self.captures = {}  # index -> (index, t, status, wh x 4)
        self.wire = []
        self.frames = 0
        for s in range(DAY):
            t = self.t0 + s
            house.second(r, t, self.mono0 + s)
            if s == 12 * 3600 + 7:
                r[STATUS] = DST | CAD  # the clock was set at noon
            if t % L.PERIOD == 0:
                q = len(self.captures)
                status = DST | (CAD if s == 12 * 3600 + 900 else 0)
                cap = (self.first_index + q, t, status, *r[WH:WH + 4])
                self.captures[cap[0]] = cap
                enc.add_capture(cap[0], t, status, r[WH:WH + 4])
            before = enc.seq
            n = enc.second(r, 0)
            self.frames += (enc.seq - before) & 0xFFFF
            self.wire.append(bytes(enc.buf[:n]))
            self.expected[s * FIELDS:(s + 1) * FIELDS] = r
        self.bytes = sum(len(w) for w in self.wire)
        assert len(self.captures) == 96


@pytest.fixture(scope="module")
def day(L):
    return Day(L)


IDENTITY = (b"MKS", b"MKS0000000000042", b"\x5e\x11\x0a\x77", [1, 4, 2, 3, 2300, 60000, 96])


def run(L, day, spec):
    """Push the day through the faults into a decoder; (decoder, profile copy, wrong, injector)."""
    profile = L.ProfileCopy(L.RING)
    wrong = []
    exp = day.expected
    dec = L.LinkDecoder(profile)

    def captures(s):  # the reading's `captures` field in second s: newest index + 1
        return day.first_index + s // L.PERIOD + 1

    def sink(typ):
        if typ == L.READING:
            s = dec.reading[SEQ] - day.mono0
            if not 0 <= s < DAY or dec.reading[:CARRIED] != exp[s * FIELDS:s * FIELDS + CARRIED]:
                wrong.append(("reading", s))
            elif dec.status[L.ST_CAPTURES] != captures(s):
                wrong.append(("captures", s))
        elif typ == L.CAPTURE:
            if tuple(dec.capture) != day.captures.get(dec.capture[L.CAP_INDEX]):
                wrong.append(("capture", tuple(dec.capture)))
        elif typ == L.IDENTITY:
            got = (bytes(dec.supplier), bytes(dec.serial), bytes(dec.fw_id), list(dec.identity))
            mono = dec.identity[L.ID_MONO]
            if got[:3] + (got[3][:7],) != IDENTITY or (mono - day.mono0) % 60:
                wrong.append(("identity", got))
        else:
            s = dec.status[L.ST_MONO] - day.mono0
            row = s * FIELDS
            if (not 0 <= s < DAY or list(dec.status) != [day.t0 + s, day.mono0 + s,
                                                           exp[row + STATUS], 0, captures(s)]
                    or dec.reading[PF_LOG_N:] != exp[row + PF_LOG_N:row + FIELDS]):
                wrong.append(("status", s))

    dec.sink = sink
    inj = FaultInjector(FaultSpec.parse(spec), "out")
    pipe = PacedPipe(LINE_BPS, lambda data: dec.feed(data, len(data)), faults=inj, pace=False)
    for s, chunk in enumerate(day.wire):
        pipe.push(chunk, now=float(s))
        pipe.pump()
    return dec, profile, wrong, inj


def assert_profile_complete(L, day, profile):
    out = array("i", [0] * L.CAP_FIELDS)
    for index, cap in day.captures.items():
        assert profile.get(index, out) == L.ProfileCopy.CONFIRMED, index
        assert tuple(out) == cap, index
    assert profile.newest == max(day.captures)
    assert profile.confirmed == 96


def test_the_day_on_a_clean_line(L, day):
    dec, profile, wrong, _ = run(L, day, "none")
    assert wrong == []
    assert dec.readings == DAY and dec.frames == day.frames
    assert (dec.crc_errors, dec.length_errors, dec.header_errors, dec.garbage) == (0, 0, 0, 0)
    assert (dec.seq_gaps, dec.duplicates, dec.seq_resets, dec.value_errors) == (0, 0, 0, 0)
    assert_profile_complete(L, day, profile)
    # Line use as docs/link.md gives it: 126 + 37 bytes every second, identity every minute,
    # status every 10 s and on the two status changes at noon.
    assert day.bytes == DAY * (126 + 37) + 1440 * 51 + (8640 + 2) * 108
    assert day.bytes / DAY / LINE_BPS < 0.016


def test_ber_1e4_with_drops_insertions_and_breaks_loses_no_capture(L, day):
    spec = "ber=1e-4,drop=1e-4,insert=1e-5,break=3000@600,seed=11"
    dec, profile, wrong, inj = run(L, day, spec)
    assert wrong == []
    assert inj.counts["bit_flips"] > 10_000 and inj.counts["break_lost"] > 50_000
    assert dec.crc_errors > 1000 and dec.length_errors > 100
    assert dec.seq_gaps > 1000 and dec.seq_resets == 0 and dec.duplicates == 0
    assert dec.readings > 0.8 * DAY
    assert_profile_complete(L, day, profile)
    assert profile.conflicts == 0


def test_heavy_faults_lose_readings_but_no_capture_and_accept_nothing_wrong(L, day):
    spec = "ber=5e-4,drop=1e-3,insert=1e-4,burst=1e-5:16,break=5000@120,seed=12"
    dec, profile, wrong, inj = run(L, day, spec)
    assert wrong == []
    assert inj.counts["bursts"] > 50
    lost = DAY - dec.readings
    assert lost > 0.4 * DAY, lost  # most readings are gone ...
    assert dec.frames_missed > 0.4 * DAY
    assert_profile_complete(L, day, profile)  # ... every capture is there
    assert profile.conflicts == 0


def test_a_comms_restart_refills_the_profile_from_the_repeats(L, day):
    """A comms module that comes up in the evening gets the day's captures within minutes."""
    profile = L.ProfileCopy(L.RING)
    dec = L.LinkDecoder(profile)
    start = 20 * 3600
    for s in range(start, start + 400):
        dec.feed(day.wire[s], len(day.wire[s]))
    out = array("i", [0] * L.CAP_FIELDS)
    have = [i for i in day.captures if profile.get(i, out) == L.ProfileCopy.CONFIRMED]
    assert len(have) == 81  # 00:00 .. 20:00 UTC: every capture held in the ring


def test_worked_example_in_the_document(L):
    """docs/link.md's example frame is what the encoder builds, and its CRCs are X.25."""
    doc = (ROOT / "docs" / "link.md").read_text()
    enc = L.LinkEncoder(b"MKS", b"MKS0000000000042", (1, 0, 0))
    enc.seq = 0x0102
    t = meter_seconds(2026, 7, 1, 10, 15)
    enc.add_capture(41, t, DST, [1234567, 2345679, 345, 0])
    b = bytearray(L.MAX_FRAME)
    n = enc.capture(b, 0)
    spaced = " ".join("%02X" % x for x in b[:n])
    assert spaced in re.sub(r"\s+", " ", doc)
    assert "0x%04X" % crc_x25(b[:7]) in doc and "0x%04X" % crc_x25(b[:34]) in doc
    assert "%d" % t in doc or "{:,}".format(t) in doc


def crc_x25(data):
    """CRC-16/X.25 bit by bit, written from the parameters in docs/link.md."""
    crc = 0xFFFF
    for byte in data:
        for i in range(8):
            bit = (byte >> i) & 1
            top = (crc >> 15) & 1
            crc = (crc << 1) & 0xFFFF
            if top ^ bit:
                crc ^= 0x1021
    # reflected in and out: the register above ran MSB-first on LSB-first bits; reflect it
    crc = int("{:016b}".format(crc)[::-1], 2)
    return crc ^ 0xFFFF


def test_the_crc_matches_an_independent_implementation(L):
    assert crc_x25(b"123456789") == 0x906E
    rng = random.Random(3)
    for n in (0, 1, 2, 7, 40, 255):
        data = bytes(rng.getrandbits(8) for _ in range(n))
        assert L.crc16(data, 0, n) == crc_x25(data)
