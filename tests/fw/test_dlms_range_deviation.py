# comms.dlms.server under the real MicroPython: profile selection by range honours the
# date-times' deviation. A specified deviation makes a bound an instant (UTC = local +
# deviation minutes), 0x8000 makes it local wall-clock time; winter, summer, the repeated hour
# when summer time ends, mixed bounds, and an out-of-range deviation.
import os
from array import array

from comms.dlms import axdr
from hal.unix.p3bench.client import FwClient, fail, keys
from hal.unix.p3bench.fakes import FakeProfile, RamFlash, build_server, mount_ram
from util import tz

STORE = mount_ram(RamFlash(64), "/p3_range", fresh=True)
CLOCK = b"\x00\x00\x01\x00\x00\xff"
PROFILE = b"\x01\x00\x63\x01\x00\xff"
LOCAL = 0x8000  # deviation not specified


def check(cond, msg):
    if not cond:
        fail(msg)


def bound(civil_seconds, deviation, status):
    """A tagged date-time: civil time as given, day of week and hundredths unspecified."""
    c = [0] * 7
    tz.civil_into(civil_seconds, c)
    return bytes(
        (0x09, 0x0C, c[0] >> 8, c[0] & 0xFF, c[1], c[2], 0xFF, c[3], c[4], c[5], 0xFF)
    ) + bytes(((deviation >> 8) & 0xFF, deviation & 0xFF, status))


def range_params(lo, hi):
    b = bytearray(32)
    o = axdr.put_header(b, 0, axdr.STRUCTURE, 4)
    o = axdr.put_header(b, o, axdr.STRUCTURE, 4)
    o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 8)
    o = axdr.put_logical_name(b, o, CLOCK)
    o = axdr.put_tag_u8(b, o, axdr.INTEGER, 2)
    o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 0)
    return bytes(b[:o]) + lo + hi + b"\x01\x00"


def at(t_utc, deviation, status=0xFF):
    """The bound for instant t_utc written with `deviation` (minutes, local = UTC - dev)."""
    d = deviation - 0x10000 if deviation >= 0x8000 else deviation
    return bound(t_utc - d * 60, deviation & 0xFFFF, status)


def local_at(local_seconds, status=0xFF):
    return bound(local_seconds, LOCAL, status)


def marks(data):
    """Column 3 (import tariff 1) of each row: the row's index in the fake profile."""
    r = axdr.Reader().reset(data, 0, len(data))
    r.expect(axdr.ARRAY)
    out = []
    for _ in range(r.length()):
        r.expect(axdr.STRUCTURE)
        check(r.length() == 6, "six columns")
        r.skip_data()
        r.skip_data()
        out.append(r.unsigned_value())
        for _ in range(3):
            r.skip_data()
    check(r.pos == len(data), "trailing bytes after the buffer")
    return out


def profile_from(first_utc, count):
    rows = array("i", [0] * (6 * count))
    for k in range(count):
        rows[6 * k] = first_utc + 900 * k
        rows[6 * k + 2] = k
    return FakeProfile(rows, 960)


os.mkdir(STORE + "/s")
server, _, _ = build_server(STORE + "/s", keys=keys())
c = FwClient(server, 1, 0xFFFF)
c.associate()
lt = server.dt.local_time


def expect(lo, hi, want, what):
    got = marks(c.get(7, PROFILE, 2, 1, range_params(lo, hi)))
    check(got == want, "%s: %s, want %s" % (what, got, want))


# -- winter (CET, UTC+1): rows from 00:00 UTC on Tuesday 12 March 2024 -----------------------------
W = tz.parse_iso("2024-03-12T00:00:00Z")
server.objects.profile = profile_from(W, 96)
want = [8, 9, 10, 11]  # 02:00..02:45 UTC = 03:00..03:45 CET
lo, hi = W + 8 * 900, W + 11 * 900
expect(at(lo, 0), at(hi, 0), want, "winter, UTC")
expect(at(lo, 0, 0x00), at(hi, 0, 0x00), want, "winter, UTC, status 0")
expect(at(lo, -60 & 0xFFFF), at(hi, -60 & 0xFFFF), want, "winter, CET with deviation -60")
expect(at(lo, 60), at(hi, 60), want, "winter, UTC-1 with deviation +60")
expect(at(lo, 330), at(hi, 330), want, "winter, deviation +330")
expect(local_at(lt.local(lo)), local_at(lt.local(hi)), want, "winter, local (0x8000)")
expect(at(lo, 0), local_at(lt.local(hi)), want, "winter, UTC from, local to")
expect(local_at(lt.local(lo)), at(hi, -60 & 0xFFFF), want, "winter, local from, CET to")
# the UTC wall clock read as local time would be an hour early
expect(local_at(lo), local_at(hi), [4, 5, 6, 7], "winter, UTC wall clock sent as local")
expect(at(lo + 1, 0), at(lo + 899, 0), [], "winter, UTC, empty")

# -- summer (CEST, UTC+2): rows from 00:00 UTC on Wednesday 10 July 2024 ---------------------------
S = tz.parse_iso("2024-07-10T00:00:00Z")
server.objects.profile = profile_from(S, 96)
want = [40, 41, 42, 43, 44]  # 10:00..11:00 UTC = 12:00..13:00 CEST
lo, hi = S + 40 * 900, S + 44 * 900
expect(at(lo, 0), at(hi, 0), want, "summer, UTC")
expect(at(lo, -120 & 0xFFFF, 0x80), at(hi, -120 & 0xFFFF, 0x80), want, "summer, CEST, -120")
expect(at(lo, -120 & 0xFFFF), at(hi, -120 & 0xFFFF), want, "summer, CEST, status unspecified")
expect(local_at(lt.local(lo), 0x80), local_at(lt.local(hi), 0x80), want, "summer, local")
expect(local_at(lt.local(lo)), local_at(lt.local(hi)), want, "summer, local, status 0xFF")
expect(local_at(lo), local_at(hi), [32, 33, 34, 35, 36], "summer, UTC wall clock as local")

# -- summer time ends on Sunday 27 October 2024: 02:00..02:45 local happens twice ------------------
E = tz.parse_iso("2024-10-26T22:00:00Z")  # 00:00 CEST
server.objects.profile = profile_from(E, 16)
two = tz.to_seconds(2024, 10, 27, 2, 0, 0)
expect(local_at(two), local_at(two + 2700), list(range(8, 16)), "02:xx local: both")
expect(
    bound(two, -120 & 0xFFFF, 0x80),
    bound(two + 2700, -120 & 0xFFFF, 0x80),
    [8, 9, 10, 11],
    "02:xx CEST",
)
expect(
    bound(two, -60 & 0xFFFF, 0), bound(two + 2700, -60 & 0xFFFF, 0), [12, 13, 14, 15], "02:xx CET"
)
expect(at(E + 6 * 900, 0), at(E + 9 * 900, 0), [6, 7, 8, 9], "across the change, UTC")

# -- a deviation outside -720..720 (other than 0x8000) is refused: type-unmatched ------------------
for dev in (721, -721 & 0xFFFF, 0x7FFF, 0x8001):
    try:
        c.get(7, PROFILE, 2, 1, range_params(bound(W, dev, 0xFF), at(W + 900, 0)))
        fail("deviation %04x accepted" % dev)
    except ValueError as e:
        check("result 12" in str(e), "deviation %04x: %s" % (dev, e))

print("OK")
