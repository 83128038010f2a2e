"""Campaign 2: telegrams through a faulty line into the console's decoder: every accepted
telegram must be byte for byte one that was sent."""
import bisect
import random
import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from meterkast.emu.emulator import Emulator
from meterkast.keys.file import Keys
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import PacedPipe
from meterkast.soak.common import (
    Collector,
    _result,
)
from meterkast.wire.frames import FrameDecoder, encrypted_frame
from meterkast.wire.p1 import make_telegram

# -- campaign 2: a faulty line into the console decoder --------------------------------------

LINE_FAULTS = "ber=1e-4,drop=1e-4,insert=2e-5,burst=2e-6:16,break=150@97,seed=%d"
_VARY = re.compile(rb"^(1-0:(?:[12]\.8\.[12]|\d+\.7\.0)|0-0:96\.7\.(?:21|9)|1-0:\d+\.3[26]\.0)"
                   rb"\((\d+)(\.?)(\d*)(\*\w+)?\)$")


def firmware_telegrams(per_scenario=12, scenarios=("household", "single-phase")):
    """Plain telegrams the real firmware sends (three-phase and single-phase households)."""
    out = []
    for k, scenario in enumerate(scenarios):
        collector = Collector()
        emu = Emulator(p1="pty", speed=600, scenario=scenario, seed=3 + k, capture=collector,
                       start="2026-01-05T06:00:00Z", report=False)
        emu.start()
        try:
            deadline = time.monotonic() + 20
            found = []
            while len(found) < per_scenario and time.monotonic() < deadline and emu.alive():
                time.sleep(0.2)
                found = [f.raw for f in FrameDecoder().feed(collector.stream("p1")) if f.ok]
        finally:
            emu.stop()
        out += found[:per_scenario]
    if not out:
        raise RuntimeError("the firmware sent no telegram")
    return out


class Variations:
    """Distinct telegrams in the firmware's layouts: fresh times (one second apart), register
    and power values, tariffs and power-failure logs."""

    def __init__(self, bases, seed=1):
        self.bases = [b.split(b"\r\n")[2:-2] for b in bases]  # between the blank line and '!'
        self.header = bases[0].split(b"\r\n")[0][1:]
        self.rng = random.Random(seed)
        self.start = datetime(2026, 1, 5, 6, 0, tzinfo=timezone.utc)

    def make(self, i):
        rng = self.rng
        new = []
        for line in self.bases[i % len(self.bases)]:
            m = _VARY.match(line)
            if m:
                obis, whole, dot, frac, unit = m.groups()
                value = b"%0*d" % (len(whole), rng.randrange(10 ** len(whole)))
                if dot:
                    value += b".%0*d" % (len(frac), rng.randrange(10 ** len(frac)))
                line = b"%s(%s%s)" % (obis, value, unit or b"")
            elif line.startswith(b"0-0:1.0.0("):
                local = self.start + timedelta(seconds=i, hours=1)
                line = b"0-0:1.0.0(%sW)" % local.strftime("%y%m%d%H%M%S").encode()
            elif line.startswith(b"0-0:96.14.0("):
                line = b"0-0:96.14.0(000%d)" % rng.choice((1, 2))
            elif line.startswith(b"1-0:99.97.0(") and rng.random() < 0.3:
                k = rng.randint(1, 10)
                entries = b"".join(b"(2512%02d101500W)(%010d*s)" % (d + 1, rng.randint(180, 99999))
                                   for d in range(k))
                line = b"1-0:99.97.0(%d)(0-0:96.7.19)%s" % (k, entries)
            new.append(line)
        return make_telegram(self.header, new)


class LineSoak:
    """Units (telegrams or encrypted frames), one per `interval` of line time, through an
    unpaced faulty line into a FrameDecoder, batch by batch, so millions fit in memory. The
    fault log says which units a fault touched; every accepted one must be byte for byte a sent
    unit, in order."""

    def __init__(self, spec, keys=None, first_counter=None, interval=1.0, seed=9):
        self.log = []
        self.injector = FaultInjector(FaultSpec.parse(spec), "out", log=self.log)
        self.received = bytearray()
        self.pipe = PacedPipe(11520, self.received.extend, faults=self.injector, pace=False)
        self.decoder = FrameDecoder(keys)
        self.first_counter = first_counter  # encrypted units: counter of unit 0
        self.interval = interval
        self.rng = random.Random(seed)
        self.sent = 0  # bytes
        self.units = 0
        self.window = {}  # unit index -> bytes, for this batch and the one before
        self.index = {}  # bytes -> unit index (plain units)
        self.offsets = []  # stream offset of each unit of the window, in order
        self.first = 0  # unit index of offsets[0]
        self.corrupted = set()
        self.last_accepted = -1
        self.accepted = 0
        self.false_accepts = 0
        self.flagged = 0
        self.crc_passed_but_rejected = 0
        self.missed = 0  # intact units not accepted
        self._pending_intact = set()

    def feed(self, units):
        """Send one batch."""
        batch_first = self.units
        keep_from = len(self.offsets)
        for u in units:
            self.offsets.append(self.sent)
            self.window[self.units] = u
            if self.first_counter is None:
                self.index[u] = self.units
            self.sent += len(u)
            self.pipe.push(u, now=self.units * self.interval)
            self.pipe.pump()
            self.units += 1
        for pos, kind in self.log:
            k = self.first + bisect.bisect_right(self.offsets, pos) - 1
            end = self.offsets[k - self.first] + len(self.window[k])
            if kind == "insert" and pos == end - 1:
                continue  # garbage after the unit's last byte, between units
            self.corrupted.add(k)
        self.log.clear()
        self._pending_intact |= set(range(batch_first, self.units)) - self.corrupted
        self._decode()
        # forget all but this batch (a frame may still complete with the next bytes)
        for k in range(self.first, batch_first):
            u = self.window.pop(k)
            self.index.pop(u, None)
        self.offsets = self.offsets[keep_from:]
        self.first = batch_first
        self.corrupted = {k for k in self.corrupted if k >= batch_first}
        stale = {k for k in self._pending_intact if k < batch_first}
        self.missed += len(stale)
        self._pending_intact -= stale

    def _decode(self, final=False):
        data = self.received
        frames = []
        pos = 0
        while pos < len(data):
            step = self.rng.choice((1, 7, 64, 500, 1500, 4096, 16384))
            frames += self.decoder.feed(bytes(data[pos:pos + step]))
            pos += step
        data.clear()
        if final:
            frames += self.decoder.flush(final=True)
        for f in frames:
            if not f.ok:
                if f.ok is False:
                    self.flagged += 1
                    if f.telegram is not None and f.telegram.crc_ok is True:
                        self.crc_passed_but_rejected += 1
                continue
            if f.kind == "p1-encrypted":
                i = f.frame_counter - self.first_counter
                ok = self.window.get(i) == f.raw
            else:
                i = self.index.get(f.raw, -1)
                ok = i >= 0
            if not ok or i <= self.last_accepted:
                self.false_accepts += 1
            else:
                self.last_accepted = i
                self.accepted += 1
                self._pending_intact.discard(i)

    def finish(self):
        self._decode(final=True)
        self.missed += len(self._pending_intact)
        self._pending_intact.clear()


def line_campaign(telegrams=1_000_000, seed=1, batch=5000, bases=None, progress=None):
    """`telegrams` plain telegrams, then as many encrypted P1 frames, through LINE_FAULTS."""
    t_start = time.monotonic()
    bases = bases or firmware_telegrams()
    title = b"MKS" + (seed % 2**40).to_bytes(5, "big")
    krng = random.Random(seed)
    ek, ak = krng.randbytes(16), krng.randbytes(16)
    failures = []
    figures = []
    totals = Counter()
    for mode in ("plain", "encrypted"):
        n = telegrams
        t0 = time.monotonic()
        var = Variations(bases, seed=seed * 2 + (mode == "encrypted"))
        first = 1000
        soak = LineSoak(LINE_FAULTS % (seed * 2 + (mode == "encrypted")),
                        keys=Keys(title, ek, ak) if mode == "encrypted" else None,
                        first_counter=first if mode == "encrypted" else None,
                        seed=seed)
        corrupted = 0
        for start in range(0, n, batch):
            units = [var.make(i) for i in range(start, min(n, start + batch))]
            if mode == "encrypted":
                units = [encrypted_frame(u, title, first + start + k, ek, ak)
                         for k, u in enumerate(units)]
            soak.feed(units)
            corrupted += len(soak.corrupted)  # this batch's: the window keeps only its own
            if progress and (start // batch) % 20 == 19:
                progress("line %s: %d/%d telegrams, %.0f s" % (mode, start + batch, n,
                                                                 time.monotonic() - t0))
        soak.finish()
        dt = time.monotonic() - t0
        faults = soak.injector.counts
        totals["units"] += soak.units
        totals["false"] += soak.false_accepts
        totals["corrupted"] += corrupted
        totals["bytes"] += soak.sent
        figures += [
            ("telegrams_%s" % mode, soak.units, "telegrams"),
            ("hit_by_faults_%s" % mode, corrupted, "telegrams"),
            ("accepted_%s" % mode, soak.accepted, "telegrams"),
            ("flagged_%s" % mode, soak.flagged, "telegrams"),
            ("intact_missed_%s" % mode, soak.missed, "telegrams"),
            ("false_accepts_%s" % mode, soak.false_accepts, "telegrams"),
            ("bit_flips_%s" % mode, faults["bit_flips"], "bits"),
            ("dropped_bytes_%s" % mode, faults["dropped"], "bytes"),
            ("bursts_%s" % mode, faults["bursts"], "bursts"),
            ("break_lost_bytes_%s" % mode, faults["break_lost"], "bytes"),
            ("rate_%s" % mode, round(soak.units / dt), "telegrams/s"),
        ]
        if mode == "plain":
            figures.append(("crc_passed_strict_rejected_plain", soak.crc_passed_but_rejected,
                            "telegrams"))
        if soak.false_accepts:
            failures.append("%d false accepts (%s)" % (soak.false_accepts, mode))
        if soak.units != n:
            failures.append("%d %s telegrams sent, %d asked" % (soak.units, mode, n))
        if soak.missed:
            failures.append("%d intact %s telegrams were not accepted" % (soak.missed, mode))
        if corrupted == 0 or soak.accepted == 0:
            failures.append("the faults hit nothing or nothing got through (%s)" % mode)
    elapsed = time.monotonic() - t_start
    figures += [("bytes", totals["bytes"], "B"), ("wall", round(elapsed, 1), "s")]
    return _result("console", figures, failures, totals=totals)


