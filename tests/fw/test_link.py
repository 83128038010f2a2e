# contract.link under the real MicroPython: round trips of every frame type, the worked example
# of docs/link.md byte for byte, garbage, truncation, every single-bit flip, dropped and
# inserted bytes (never a wrong frame accepted, never an exception, the next frame still found),
# sequence and value checks, the capture repetition cycle, and no allocation per frame.
import micropython
from array import array

from contract import link as L
from contract import reading as rd
from metering import profile as pf
from util.tz import to_seconds

# -- the layout agrees with the other contracts -------------------------------------------------
assert L.READING_FIELDS == rd.FIELDS and L.PF_LOG_MAX == rd.PF_LOG_MAX
bits = (rd.STATUS_DST | rd.STATUS_CLOCK_ADJUSTED | rd.STATUS_DATA_NOT_VALID
        | rd.STATUS_CLOCK_INVALID | rd.STATUS_CRITICAL_ERROR)
assert L.READING_STATUS_MASK == bits
assert L.CAPTURE_STATUS_MASK == (pf.POWER_DOWN | pf.CLOCK_ADJUSTED | pf.DAYLIGHT_SAVING
                                 | pf.DATA_NOT_VALID | pf.CLOCK_INVALID | pf.CRITICAL_ERROR)
assert L.PERIOD == pf.PERIOD
assert L.crc16(b"123456789", 0, 9) == 0x906E  # CRC-16/X.25 check value
for typ, ln in ((L.READING, 114), (L.CAPTURE, 25), (L.IDENTITY, 39), (L.STATUS, 96)):
    assert L.body_len(typ, 1) == ln and L.body_len(typ, 2) == -1
assert L.SECOND_MAX == 4 * L.OVERHEAD + 114 + 25 + 39 + 96


class Rng:
    """xorshift32: the same garbage on every run."""

    def __init__(self, seed):
        self.x = seed

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def byte(self):
        return self.next() & 0xFF


def full_reading(t, mono):
    """A reading record with a distinct value in every field the reading frame carries."""
    r = rd.new_reading()
    r[rd.T] = t
    r[rd.SEQ] = mono
    r[rd.STATUS] = rd.STATUS_DST
    r[rd.TARIFF] = 2
    r[rd.IMPORT_W] = 3187
    r[rd.EXPORT_W] = 11
    for k in range(4):
        r[rd.IMPORT_T1_WH + k] = 12345678 - 1111 * k
    for k in range(3):
        r[rd.PHASE_IMPORT_W + k] = 1000 + k
        r[rd.PHASE_EXPORT_W + k] = 20 + k
        r[rd.VOLTAGE_DV + k] = 2290 + k
        r[rd.CURRENT_MA + k] = 4350 + k
        r[rd.SAGS + k] = 3 + k
        r[rd.SWELLS + k] = 7 + k
    r[rd.FREQUENCY_MHZ] = 49987
    r[rd.POWER_FAILURES] = 13
    r[rd.LONG_POWER_FAILURES] = 2
    r[rd.PF_LOG_N] = 2
    r[rd.PF_LOG] = to_seconds(2026, 6, 28, 10, 15, 0)
    r[rd.PF_LOG + 1] = 240
    r[rd.PF_LOG + 2] = to_seconds(2026, 1, 22, 11, 15, 0)
    r[rd.PF_LOG + 3] = 301
    return r


T0 = to_seconds(2026, 7, 1, 10, 15, 0)
HEALTH = L.HEALTH_WATCHDOG_RESET
CARRIED = [k for k in range(rd.FIELDS) if k < rd.PF_LOG_N]  # by the reading frame


def encoder():
    return L.LinkEncoder(b"MKS", b"MKS0000000000042", (1, 4, 2), b"\xde\xad\xbe\xef", 3, 2300,
                         60000, 96)


def frames_of_every_type():
    """[(type, frame bytes)] of one encoder: identity, status, reading, capture, reading."""
    enc = encoder()
    r = full_reading(T0, 1000)
    enc.add_capture(41, T0, pf.DAYLIGHT_SAVING, [1234567, 2345679, 345, 0])
    b = bytearray(L.MAX_FRAME)
    out = []
    for typ in (L.IDENTITY, L.STATUS, L.READING, L.CAPTURE, L.READING):
        if typ == L.IDENTITY:
            n = enc.identity(b, 0, 1000)
        elif typ == L.STATUS:
            n = enc.status(b, 0, r, HEALTH)
        elif typ == L.READING:
            n = enc.reading(b, 0, r)
            r[rd.SEQ] += 1
            r[rd.T] += 1
        else:
            n = enc.capture(b, 0)
        out.append((typ, bytes(b[:n])))
    return out


FRAMES = frames_of_every_type()
R_NEXT = FRAMES[4][1]  # a reading frame that follows the others (seq 4, mono 1001)


def check_values(dec, typ):
    """The decoder's arrays hold exactly what FRAMES encoded for a frame of this type."""
    if typ == L.READING:
        r = full_reading(T0, dec.reading[rd.SEQ])
        r[rd.T] = T0 + dec.reading[rd.SEQ] - 1000
        for k in CARRIED:
            assert dec.reading[k] == r[k], ("reading field", k)
        assert dec.status[L.ST_CAPTURES] == 42
    elif typ == L.CAPTURE:
        assert list(dec.capture) == [41, T0, pf.DAYLIGHT_SAVING, 1234567, 2345679, 345, 0]
    elif typ == L.IDENTITY:
        assert bytes(dec.supplier) == b"MKS" and bytes(dec.serial) == b"MKS0000000000042"
        assert bytes(dec.fw_id) == b"\xde\xad\xbe\xef"
        assert list(dec.identity) == [1, 4, 2, 3, 2300, 60000, 96, 1000]
    else:
        r = full_reading(T0, 1000)
        assert list(dec.status) == [T0, 1000, rd.STATUS_DST, HEALTH, 42]
        for k in range(rd.PF_LOG_N, rd.FIELDS):
            assert dec.reading[k] == r[k], ("log field", k)


# -- round trip of every frame type ------------------------------------------------------------
assert [len(f) for _, f in FRAMES] == [51, 108, 126, 37, 126]
seen = []
dec = L.LinkDecoder(L.ProfileCopy(), seen.append)
for typ, f in FRAMES:
    assert f[0] == L.SYNC1 and f[1] == L.SYNC2 and f[2] == typ and f[-1] == L.END
    assert dec.feed(f, len(f)) == 1
    assert dec.last_type == typ
    check_values(dec, typ)
assert seen == [t for t, _ in FRAMES]
assert (dec.readings, dec.captures, dec.identities, dec.statuses) == (2, 1, 1, 1)
assert dec.frames == 5 and dec.last_seq == 4 and dec.seq_gaps == 0
out = array("i", [0] * L.CAP_FIELDS)
assert dec.profile.get(41, out) == L.ProfileCopy.CANDIDATE and dec.profile.get(40, out) == 0
# All of them in one buffer, fed one byte at a time and in odd chunks: the same frames.
stream = b"".join(f for _, f in FRAMES)
for chunk in (1, 2, 7, 64, len(stream)):
    seen = []
    dec = L.LinkDecoder(None, seen.append)
    one = bytearray(chunk)
    for i in range(0, len(stream), chunk):
        k = min(chunk, len(stream) - i)
        for j in range(k):
            one[j] = stream[i + j]
        dec.feed(one, k)
    assert seen == [t for t, _ in FRAMES], (chunk, seen)
    assert dec.garbage == 0 and dec.crc_errors == 0 and dec.length_errors == 0
    check_values(dec, L.READING)
print("round trip ok")

# -- the worked example of docs/link.md --------------------------------------------------------
EXAMPLE = "a53c43011902018e942900000024a5d7310887d61200cfca2300590100000000000040c15a"
enc = L.LinkEncoder(b"MKS", b"MKS0000000000042", (1, 0, 0))
enc.seq = 0x0102
enc.add_capture(41, T0, pf.DAYLIGHT_SAVING, [1234567, 2345679, 345, 0])
b = bytearray(L.MAX_FRAME)
n = enc.capture(b, 0)
assert bytes(b[:n]).hex() == EXAMPLE, bytes(b[:n]).hex()
assert L.crc16(b, 0, 7) == 0x948E and L.crc16(b, 0, 34) == 0xC140
# The X.25 residue: the CRC over data and its own FCS (low byte first) is always 0xF0B8.
assert L.crc16(b, 0, 9) ^ 0xFFFF == 0xF0B8 and L.crc16(b, 0, 36) ^ 0xFFFF == 0xF0B8
dec = L.LinkDecoder()
assert dec.feed(b, n) == 1 and list(dec.capture) == [41, T0, 8, 1234567, 2345679, 345, 0]
print("worked example ok")


# -- damage: never a wrong frame, never an exception, the next frame still found ---------------
def after(damaged, typ, f, tag):
    """Feed a damaged frame f then R_NEXT: only R_NEXT may come out, with its own values
    (and f itself, where the damage left it whole: a byte inserted before it)."""
    got = []
    d = L.LinkDecoder(L.ProfileCopy(), got.append)
    d.feed(damaged, len(damaged))
    whole = bytes(f) in bytes(damaged)
    if whole:
        assert got == [typ], (tag, got)
        check_values(d, typ)
    d.feed(R_NEXT, len(R_NEXT))
    assert got == ([typ] if whole else []) + [L.READING] and d.last_seq == 4, (tag, got)
    check_values(d, L.READING)
    return whole


flips = drops = inserts = 0
for typ, f in FRAMES[:4]:
    for i in range(len(f)):
        for bit in range(8):
            g = bytearray(f)
            g[i] ^= 1 << bit
            assert not after(g, typ, f, ("flip", typ, i, bit))
            flips += 1
        assert not after(f[:i] + f[i + 1 :], typ, f, ("drop", typ, i))  # one byte lost
        drops += 1
        if i + 2 <= len(f):
            assert not after(f[:i] + f[i + 2 :], typ, f, ("drop2", typ, i))  # two lost
        for v in (0x00, 0xFF, L.SYNC1, L.SYNC2, L.END, f[i], (f[i] + 0x35) & 0xFF):
            # a byte inserted: the frame is refused, unless the damaged bytes still hold it
            # whole (the byte went in ahead of it, or repeats its first or last byte)
            whole = after(f[:i] + bytes((v,)) + f[i:], typ, f, ("insert", typ, i, v))
            assert not whole or i in (0, 1, len(f) - 1), (typ, i, v)
            inserts += 1
        if i:
            assert not after(f[:i], typ, f, ("truncated", typ, i))
print("single faults ok:", flips, "bit flips,", drops, "drops,", inserts, "insertions")

# Random multi-byte damage: never a wrong frame, never an exception.
rng = Rng(0x1234567)
wrong = 0
for trial in range(600):
    typ, f = FRAMES[trial % 4]
    g = bytearray(f)
    for _ in range(1 + rng.next() % 6):
        g[rng.next() % len(g)] ^= 1 << (rng.next() % 8)
    after(g, typ, f, ("multi", trial))
print("multi-bit damage ok")

# Garbage: random bytes, sync pairs, headers that pass their CRC with a body that does not,
# a false header claiming 255 bytes; fed in random chunks. Nothing accepted, then a frame is.
garbage = bytearray(20000)
for i in range(len(garbage)):
    garbage[i] = rng.byte()
for i in range(0, len(garbage) - 300, 97):  # sync pairs everywhere
    garbage[i] = L.SYNC1
    garbage[i + 1] = L.SYNC2
for i in range(50, len(garbage) - 300, 1013):  # valid headers of every kind, bodies random
    typ = (L.READING, L.CAPTURE, L.IDENTITY, L.STATUS, 0x99)[i % 5]
    garbage[i : i + 7] = bytes((L.SYNC1, L.SYNC2, typ, 1, 255 if typ == 0x99 else
                                L.body_len(typ, 1), i & 0xFF, 0))
    c = L.crc16(garbage, i, i + 7)
    garbage[i + 7] = c & 0xFF
    garbage[i + 8] = c >> 8
got = []
dec = L.LinkDecoder(L.ProfileCopy(), got.append)
i = 0
while i < len(garbage):
    k = 1 + rng.next() % 300
    k = min(k, len(garbage) - i)
    dec.feed(memoryview(garbage)[i : i + k], k)
    i += k
assert got == [], got
assert dec.header_errors > 0 and dec.garbage > 10000
dec.feed(b"\x00" * 300, 300)  # line idle after the garbage: any pending false frame fails
assert dec.feed(R_NEXT, len(R_NEXT)) == 1 and got == [L.READING]
check_values(dec, L.READING)
assert dec.bytes == len(garbage) + 300 + len(R_NEXT)
# Odd arguments: n beyond the buffer, negative, zero, an empty buffer.
assert dec.feed(b"", 5) == 0 and dec.feed(R_NEXT, -3) == 0 and dec.feed(bytearray(4), 0) == 0
print("garbage ok")

# -- sequence numbers: gaps, duplicates, restarts ----------------------------------------------
enc = encoder()
r = full_reading(T0, 5)
b = bytearray(L.SECOND_MAX)
dec = L.LinkDecoder()
n = enc.reading(b, 0, r)
dec.feed(b, n)
dec.feed(b, n)  # the same frame again
assert dec.duplicates == 1 and dec.readings == 1
for _ in range(3):
    n = enc.reading(b, 0, r)  # sent, lost on the way
n = enc.reading(b, 0, r)
dec.feed(b, n)
assert dec.seq_gaps == 1 and dec.frames_missed == 3 and dec.readings == 2
dec2 = L.LinkDecoder()
enc.seq = 0xFFFE
for _ in range(4):  # 0xFFFE, 0xFFFF, 0, 1: the wrap is no gap
    n = enc.reading(b, 0, r)
    dec2.feed(b, n)
assert enc.seq == 2 and dec2.last_seq == 1 and dec2.seq_gaps == 0 and dec2.seq_resets == 0
dec2.feed(b, n)
assert dec2.duplicates == 1
dec = dec2
enc2 = encoder()  # the metering module restarted: sequence from 0 again
n = enc2.second(r, 0)
dec.feed(enc2.buf, n)
assert dec.seq_resets == 1 and dec.identities == 1 and dec.seq_gaps == 0
print("sequence ok")

# -- intact frames with impossible values: refused, counted, nothing of them taken -------------
def resealed(f, pos, value):
    g = bytearray(f)
    g[pos] = value
    c = L.crc16(g, 0, len(g) - 3)
    g[len(g) - 3] = c & 0xFF
    g[len(g) - 2] = c >> 8
    return g


P = L.HEADER
cases = (
    (FRAMES[2][1], P + 9, 0),  # tariff 0
    (FRAMES[2][1], P + 9, 3),  # tariff 3
    (FRAMES[2][1], P + 8, 0x10),  # a reading status bit that does not exist
    (FRAMES[2][1], P + 3, 0x80),  # time >= 2^31
    (FRAMES[2][1], P + 37, 0x80),  # captures >= 2^31
    (FRAMES[2][1], P + 113, 0x80),  # last swell counter >= 2^31
    (FRAMES[3][1], P + 4, 0x25),  # capture time off the quarter hour
    (FRAMES[3][1], P + 8, 0x10),  # capture status bit that does not exist
    (FRAMES[3][1], P + 24, 0x80),  # register >= 2^31
    (FRAMES[0][1], P + 1, ord("k")),  # supplier not A-Z
    (FRAMES[0][1], P + 5, 0),  # serial: a NUL before the end of the text
    (FRAMES[0][1], P + 3, 0),  # serial empty
    (FRAMES[0][1], P + 26, 2),  # two phases
    (FRAMES[0][1], P + 33, 0),  # ring 0 (low byte; the high byte is 0)
    (FRAMES[1][1], P + 9, 11),  # power-failure log longer than 10
    (FRAMES[1][1], P + 9, 1),  # an entry beyond the log length is not zero
    (FRAMES[1][1], P + 11, 0x80),  # health bit that does not exist
)
for f, pos, value in cases:
    g = resealed(f, pos, value)
    d = L.LinkDecoder(L.ProfileCopy())
    assert d.feed(g, len(g)) == 0 and d.value_errors == 1, (pos, value)
    assert d.crc_errors == 0 and d.length_errors == 0
    assert d.reading[rd.T] == 0 and d.capture[L.CAP_T] == 0 and d.profile.copies == 0
    assert d.identity[L.ID_RING] == 0 and d.status[L.ST_T] == 0
    assert d.feed(R_NEXT, len(R_NEXT)) == 1  # it did use a sequence number: no gap here
    assert d.frames_missed == 3 - f[5] and d.seq_gaps == (1 if f[5] < 3 else 0)
# Negative or oversized values from a faulty sender go out as values every receiver refuses.
bad = full_reading(T0, 7)
bad[rd.IMPORT_W] = -5
enc = encoder()
n = enc.reading(b, 0, bad)
d = L.LinkDecoder()
assert d.feed(b, n) == 0 and d.value_errors == 1
bad[rd.IMPORT_W] = 0
bad[rd.VOLTAGE_DV] = 70000
n = enc.reading(b, 0, bad)
assert d.feed(b, n) == 0 and d.value_errors == 2
bad[rd.VOLTAGE_DV] = 2300
bad[rd.TARIFF] = 300
n = enc.reading(b, 0, bad)
assert d.feed(b, n) == 0 and d.value_errors == 3
# An intact frame of a type or version this decoder does not know is skipped and counted.
g = bytearray(FRAMES[3][1])
g[3] = 2
c = L.crc16(g, 0, 7)
g[7] = c & 0xFF
g[8] = c >> 8
c = L.crc16(g, 0, len(g) - 3)
g[len(g) - 3] = c & 0xFF
g[len(g) - 2] = c >> 8
d = L.LinkDecoder()
assert d.feed(g + R_NEXT, len(g) + len(R_NEXT)) == 1 and d.unknown == 1 and d.readings == 1
print("value checks ok")

# -- the capture repetition cycle --------------------------------------------------------------
enc = L.LinkEncoder(b"MKS", b"1", (1, 0, 0), ring=6)
d = L.LinkDecoder()
b = bytearray(L.MAX_FRAME)
assert enc.capture(b, 0) == 0 and enc.captures() == 0  # nothing held: no capture frame
sent = []
for q in range(10):
    assert enc.add_capture(100 + q, T0 + 900 * q, 0, [q, 0, 0, 0])
    assert not enc.add_capture(100 + q, T0, 0, [0, 0, 0, 0])  # not newer: ignored
    assert enc.captures() == 101 + q
    seq = []
    for k in range(24):
        n = enc.capture(b, 0)
        assert d.feed(b, n) == 1
        seq.append(d.capture[L.CAP_INDEX])
    sent.append(seq)
    held = min(q + 1, 6)
    newest = 100 + q
    # the newest goes out first after it is added, the newest 4 every 8 frames, every held
    # capture at least once in every 2 x held frames, nothing older than the ring
    assert newest in seq[:2], (q, seq)
    for j in range(min(held, 4)):
        for w in range(0, 24 - 8 + 1):
            assert newest - j in seq[w : w + 8], (q, j, seq)
    for j in range(held):
        for w in range(0, 24 - 2 * held + 1):
            assert newest - j in seq[w : w + 2 * held], (q, j, seq)
    assert min(seq) == newest - held + 1 and max(seq) == newest
print("repetition ok")

# second(): identity and status at start and on their periods, status on change.
enc = encoder()
r = full_reading(T0, 0)
d = L.LinkDecoder(L.ProfileCopy())
kinds = []
d.sink = kinds.append
for s in range(61):
    r[rd.SEQ] = s
    r[rd.T] = T0 + s
    if s == 3:
        r[rd.STATUS] = rd.STATUS_DST | rd.STATUS_CLOCK_ADJUSTED
    if s == 4:
        r[rd.STATUS] = rd.STATUS_DST
    if s == 5:
        enc.add_capture(0, T0, 0, [1, 2, 3, 4])
    n = enc.second(r, 0)
    assert d.feed(enc.buf, n) >= (2 if s >= 5 else 1)
ids = [i for i, k in enumerate(kinds) if k == L.IDENTITY]
assert kinds[:3] == [L.IDENTITY, L.STATUS, L.READING] and len(ids) == 2
assert kinds.count(L.STATUS) == 7 + 2  # seconds 0, 10, .., 60 and the changes at 3 and 4
assert kinds.count(L.READING) == 61 and kinds.count(L.CAPTURE) == 56
assert d.frames_missed == 0 and d.seq_gaps == 0
print("schedule ok")

# -- no allocation per frame -------------------------------------------------------------------
enc = encoder()
for q in range(100):
    enc.add_capture(q, T0 + 900 * q, 0, [q, q, q, q])
r = full_reading(T0, 0)
pc = L.ProfileCopy(128)
calls = array("i", [0])


def sink(typ):
    calls[0] += 1


d = L.LinkDecoder(pc, sink)
wire = bytearray(L.SECOND_MAX)
wh = array("i", [0, 0, 0, 0])
n = enc.second(r, 0)
d.feed(enc.buf, n)
micropython.heap_lock()
try:
    for s in range(1, 200):
        r[rd.SEQ] = s
        r[rd.T] = T0 + s
        r[rd.IMPORT_T1_WH] += 1
        n = enc.second(r, HEALTH if s == 150 else 0)
        wh[0] = s
        enc.add_capture(100 + s, T0 + 900 * (100 + s), 0, wh)
        for i in range(n):
            wire[i] = enc.buf[i]
        wire[n // 2] ^= 0x10 if s % 7 == 0 else 0  # some damaged
        d.feed(wire, n)
        d.feed(garbage, 50)
finally:
    micropython.heap_unlock()
assert d.readings > 150 and d.crc_errors > 0 and calls[0] == d.frames and pc.copies > 150
print("heap-locked encode and decode ok")
print("OK")
