# comms.dlms.axdr under the real MicroPython: length forms, the reader's bounds, COSEM date-time
# (Europe/Amsterdam with the Blue Book deviation sign) across both DST changes.
from comms.dlms import axdr
from hal.unix.p3bench.client import fail
from util import tz


def check(cond, msg):
    if not cond:
        fail(msg)


b = bytearray(32)
for n, want in (
    (0, b"\x00"),
    (0x7F, b"\x7f"),
    (0x80, b"\x81\x80"),
    (0xFF, b"\x81\xff"),
    (0x100, b"\x82\x01\x00"),
    (3652, b"\x82\x0e\x44"),
):
    end = axdr.put_len(b, 0, n)
    check(bytes(b[:end]) == want and axdr.len_size(n) == end, "length %d" % n)
    check(axdr.Reader().reset(b, 0, end).length() == n, "read back %d" % n)
check(axdr.Reader().reset(b"\x83\x00\x01\x00", 0, 4).length() == 256, "3-octet length form")
for bad in (b"\x85\x00\x00\x00\x00\x01", b"\x80", b"\x82\x01"):
    try:
        axdr.Reader().reset(bad, 0, len(bad)).length()
        fail("accepted length %s" % bad)
    except axdr.AxdrError:
        pass
r = axdr.Reader().reset(b"\x02\x02\x09\x03abc\x01\x01\x12\x00\x05\x11", 0, 12)
r.skip_data()
check(r.pos == 12, "skip nested data")
try:
    r.skip_data()
    fail("skipped a truncated element")
except axdr.AxdrError:
    pass
r = axdr.Reader().reset(b"\x0f\xff\x10\xff\xc4\x06\x00\x00\x03\x84", 0, 10)
check((r.unsigned_value(), r.unsigned_value(), r.unsigned_value()) == (-1, -60, 900), "integers")

codec = axdr.DateTimeCodec()
for iso, want in (
    ("2024-03-31T00:59:59Z", "07e8031f07013b3b00ffc400"),  # 01:59:59 CET, Sunday
    ("2024-03-31T01:00:00Z", "07e8031f0703000000ff8880"),  # 03:00 CEST
    ("2024-10-27T00:59:59Z", "07e80a1b07023b3b00ff8880"),  # 02:59:59 CEST
    ("2024-10-27T01:00:00Z", "07e80a1b0702000000ffc400"),  # 02:00:00 CET, the second time
    ("2024-03-12T10:07:00Z", "07e8030c020b070000ffc400"),
):
    end = codec.put(b, 0, tz.parse_iso(iso))
    got = "".join("%02x" % x for x in b[2:end])
    check(bytes(b[:2]) == b"\x09\x0c" and end == 14 and got == want, "%s -> %s" % (iso, got))
t = tz.parse_iso("2024-10-27T00:30:00Z")
codec.put(b, 0, t, tagged=False)
check(codec.local_seconds(b, 0) == t + 7200, "local seconds ignore deviation and status")
check(
    codec.local_seconds(b"\x07\xe8\x03\x0c\xff\x0b\x07\xff\xff\x80\x00\xff", 0)
    == tz.to_seconds(2024, 3, 12, 11, 7, 0),
    "wildcard seconds",
)
try:
    codec.local_seconds(b"\xff\xff\x03\x0c\xff\x0b\x07\x00\x00\x80\x00\xff", 0)
    fail("wildcard year accepted in a range bound")
except axdr.AxdrError:
    pass
print("OK")
