"""Seeded, reproducible faults on an emulated serial line.

A fault SPEC is a comma-separated list of `key=value` items:

    ber=P           bit error rate: every bit on the wire (start, data, parity, stop) flips with
                    probability P. A flipped data bit changes the byte; a flipped start or stop
                    bit is a framing error and the receiver loses the character; under 7E1 a
                    flipped data or parity bit is a parity error, but the character is delivered
                    anyway, as Linux (and pyserial, which clears INPCK) does.
    drop=P          each byte is lost with probability P.
    insert=P        after each byte, with probability P, one garbage byte appears (line noise
                    between characters).
    burst=P[:LEN]   with probability P per byte a noise burst starts and replaces the next LEN
                    bytes (default 16) with random ones.
    break=MS@EVERY  the line is held in break for MS milliseconds every EVERY seconds of line
                    time; bytes on the wire during a break are lost.
    disconnect=S@EVERY  the outside end goes away for S seconds every EVERY seconds: a TCP
                    client is dropped (and new connections are closed at once until it is
                    over); a pty or device simply gets nothing, and sends nothing, for a while.
    seed=N          seed (default 1). Each direction draws from its own random.Random
                    generators (one per fault kind, seeded with N, the direction and the kind),
                    so one direction's traffic never shifts the other's faults, the faults do
                    not depend on how the bytes were chunked, and a run is reproducible byte for
                    byte.
    dir=out|in|both which direction the byte faults apply to (default both; "out" is from the
                    meter, or from the first endpoint of `meterkast uart`, to the outside).

Example: `ber=1e-4,drop=1e-4,break=300@20,seed=7`. `none` (or an empty SPEC) means no faults.

Time-scheduled faults (break, disconnect) run on line time, so the same SPEC gives the same
result whether the line is paced in real time or driven unpaced in-process by a test.
"""
import math
import random

from meterkast.errors import CliError

_KEYS = ("ber", "drop", "insert", "burst", "break", "disconnect", "seed", "dir")


class FaultSpec:
    def __init__(self, ber=0.0, drop=0.0, insert=0.0, burst=0.0, burst_len=16, break_ms=0,
                 break_every=0.0, disconnect_s=0.0, disconnect_every=0.0, seed=1, direction="both"):
        self.ber = ber
        self.drop = drop
        self.insert = insert
        self.burst = burst
        self.burst_len = burst_len
        self.break_ms = break_ms
        self.break_every = break_every
        self.disconnect_s = disconnect_s
        self.disconnect_every = disconnect_every
        self.seed = seed
        self.direction = direction

    @classmethod
    def parse(cls, text, what="faults"):
        spec = cls()
        text = (text or "").strip()
        if text in ("", "none"):
            return spec
        for item in text.split(","):
            key, sep, value = item.strip().partition("=")
            if not sep or key not in _KEYS:
                raise CliError("%s SPEC item %r: expected one of %s as key=value"
                               % (what, item, ", ".join(k + "=" for k in _KEYS)))
            try:
                spec._set(key, value.strip())
            except ValueError as exc:
                raise CliError("%s SPEC item %r: %s" % (what, item, exc))
        return spec

    def _set(self, key, value):
        if key in ("ber", "drop", "insert"):
            setattr(self, key, _probability(value))
        elif key == "burst":
            p, _, n = value.partition(":")
            self.burst = _probability(p)
            if n:
                self.burst_len = _positive_int(n)
        elif key == "break":
            ms, every = _schedule(value)
            self.break_ms, self.break_every = int(ms), every
        elif key == "disconnect":
            self.disconnect_s, self.disconnect_every = _schedule(value)
        elif key == "seed":
            self.seed = int(value)
        elif key == "dir":
            if value not in ("out", "in", "both"):
                raise ValueError("dir must be out, in or both")
            self.direction = value

    def applies_to(self, direction):
        return self.direction in ("both", direction)

    @property
    def any_byte_faults(self):
        return bool(self.ber or self.drop or self.insert or self.burst or self.break_ms)

    @property
    def active(self):
        return self.any_byte_faults or bool(self.disconnect_s)

    def describe(self):
        parts = []
        for key in ("ber", "drop", "insert"):
            if getattr(self, key):
                parts.append("%s=%g" % (key, getattr(self, key)))
        if self.burst:
            parts.append("burst=%g:%d" % (self.burst, self.burst_len))
        if self.break_ms:
            parts.append("break=%d@%g" % (self.break_ms, self.break_every))
        if self.disconnect_s:
            parts.append("disconnect=%g@%g" % (self.disconnect_s, self.disconnect_every))
        if not parts:
            return "none"
        parts.append("seed=%d" % self.seed)
        if self.direction != "both":
            parts.append("dir=" + self.direction)
        return ",".join(parts)

    def disconnected(self, t):
        """True while the outside end is away, t in line seconds since the line started."""
        return _in_window(t, self.disconnect_s, self.disconnect_every)


def _probability(text):
    p = float(text)
    if not 0.0 <= p < 1.0:
        raise ValueError("a probability between 0 and 1")
    return p


def _positive_int(text):
    n = int(text)
    if n <= 0:
        raise ValueError("must be a positive integer")
    return n


def _schedule(text):
    length, sep, every = text.partition("@")
    if not sep:
        raise ValueError("expected LENGTH@EVERY, e.g. 200@30")
    length, every = float(length), float(every)
    if length <= 0 or every <= 0:
        raise ValueError("LENGTH and EVERY must be positive")
    return length, every


def _in_window(t, length, every):
    """Windows [k*every, k*every + length) for k >= 1: nothing happens in the first period."""
    if not length or t < every:
        return False
    return t - math.floor(t / every) * every < length


class _Events:
    """Positions of a rare event in an endless stream, drawn with geometric gaps.

    Drawing the gap to the next event instead of one random number per byte (or per bit) keeps
    a 1e-4 fault rate cheap enough to push tens of megabytes through in a test.
    """

    def __init__(self, rng, p):
        self.rng = rng
        self.log1p = math.log1p(-p) if p else None
        self.next = self._gap(0) if p else None

    def _gap(self, pos):
        u = self.rng.random()
        return pos + int(math.log1p(-u) / self.log1p)

    def take(self, end):
        """Every event position < end (absolute), advancing the stream."""
        out = []
        nxt = self.next
        if nxt is None:
            return out
        while nxt < end:
            out.append(nxt)
            nxt = self._gap(nxt + 1)
        self.next = nxt
        return out


class FaultInjector:
    """Applies a FaultSpec to one direction of a line.

    `apply(chunk, t0, char_time)` takes the bytes as the sender put them on the wire (the first
    starting at line time t0, one every char_time seconds) and returns what the receiver gets.
    `log`, when a list, collects (offset in the sent stream, kind) for every byte a fault hit
    (an insertion is logged at the byte it follows), so a test can tell which telegrams were hit.
    """

    def __init__(self, spec, direction, data_bits=8, parity=False, stop_bits=1, log=None):
        self.spec = spec
        # One stream per use, so the faults do not depend on how the bytes were chunked.
        def rng(use):
            return random.Random("%d/%s/%s" % (spec.seed, direction, use))
        self.data_bits = data_bits
        self.parity = parity
        self.bits = 1 + data_bits + (1 if parity else 0) + stop_bits
        self.log = log
        self.offset = 0  # bytes of the sent stream seen so far
        self._flips = _Events(rng("ber"), spec.ber)
        self._drops = _Events(rng("drop"), spec.drop)
        self._inserts = _Events(rng("insert"), spec.insert)
        self._bursts = _Events(rng("burst"), spec.burst)
        self._burst_noise = rng("burst-noise")  # the garbage bytes
        self._insert_noise = rng("insert-noise")
        self._burst_left = 0
        self.events = []  # (line time, text) of breaks, for the capture file
        self._last_break = -1
        self.counts = {"bit_flips": 0, "framing_errors": 0, "parity_errors": 0, "dropped": 0,
                       "inserted": 0, "bursts": 0, "burst_bytes": 0, "break_lost": 0}

    def _note(self, pos, kind):
        if self.log is not None:
            self.log.append((pos, kind))

    def apply(self, chunk, t0, char_time):
        n = len(chunk)
        base = self.offset
        self.offset += n
        out = bytearray(chunk)
        lost = set()
        counts = self.counts
        bits = self.bits
        # Bit errors, by absolute bit position on the wire.
        parity_hits = {}
        for bit in self._flips.take((base + n) * bits):
            i, b = divmod(bit - base * bits, bits)
            counts["bit_flips"] += 1
            self._note(base + i, "bit")
            if b == 0 or b > self.data_bits + self.parity:
                counts["framing_errors"] += 1
                lost.add(i)
            else:
                if b <= self.data_bits:
                    out[i] ^= 1 << (b - 1)
                if self.parity:
                    parity_hits[i] = parity_hits.get(i, 0) + 1
        counts["parity_errors"] += sum(1 for v in parity_hits.values() if v & 1)
        # Noise bursts replace a run of bytes, possibly carried over from the previous chunk.
        i = 0
        if self._burst_left:
            k = min(self._burst_left, n)
            out[0:k] = self._garbage(self._burst_noise, k)
            self._burst_left -= k
            counts["burst_bytes"] += k
            for j in range(k):
                self._note(base + j, "burst")
        for pos in self._bursts.take(base + n):
            i = pos - base
            k = min(self.spec.burst_len, n - i)
            out[i:i + k] = self._garbage(self._burst_noise, k)
            self._burst_left = self.spec.burst_len - k
            counts["bursts"] += 1
            counts["burst_bytes"] += k
            for j in range(k):
                self._note(pos + j, "burst")
        for pos in self._drops.take(base + n):
            lost.add(pos - base)
            counts["dropped"] += 1
            self._note(pos, "drop")
        if self.spec.break_ms:
            self._breaks(n, t0, char_time, lost, base)
        inserts = {}
        for pos in self._inserts.take(base + n):
            inserts[pos - base] = self._garbage(self._insert_noise, 1)
            counts["inserted"] += 1
            self._note(pos, "insert")
        if not lost and not inserts:
            return bytes(out)
        result = bytearray()
        prev = 0
        for i in sorted(lost.union(inserts)):
            result += out[prev:i]
            if i not in lost:
                result.append(out[i])
            if i in inserts:
                result += inserts[i]
            prev = i + 1
        result += out[prev:]
        return bytes(result)

    @staticmethod
    def _garbage(rng, n):
        return bytes(rng.getrandbits(8) for _ in range(n))

    def _breaks(self, n, t0, char_time, lost, base):
        spec = self.spec
        length = spec.break_ms / 1000.0
        every = spec.break_every
        t_end = t0 + n * char_time
        k = max(1, int(math.floor(t0 / every)))
        while k * every < t_end:
            start, stop = k * every, k * every + length
            if stop > t0:
                first = max(0, int(math.ceil((start - t0) / char_time)))
                last = min(n, int(math.ceil((stop - t0) / char_time)))
                for i in range(first, last):
                    lost.add(i)
                    self._note(base + i, "break")
                self.counts["break_lost"] += max(0, last - first)
                if k != self._last_break:
                    self._last_break = k
                    self.events.append((start, "break %d ms" % spec.break_ms))
            k += 1
