# comms.dlms under the real MicroPython, APDU level: the association's object list (class 15
# attribute 2) per client with access rights, in one response and in GET blocks; attributes
# 3-6 and 8; every object the list names read back as a browsing tool reads it; GET-with-list
# (short, long in blocks, errors per item); SET of the clock and its DST parameters (management
# only, only when the meter can move its RTC); the conformance each AARE offers.

from comms.dlms import axdr
from hal.unix.p3bench.client import FwClient, be32, entry_params, fail, keys
from hal.unix.p3bench.fakes import RamFlash, build_server, mount_ram
from p3_objects import (
    FreshDirs,
    PublicClient,
    aare_conformance,
    check,
    collect,
    get_list_request,
    get_plain,
    parse_list,
    parse_object_list,
)
from util import tz

STORE = mount_ram(RamFlash(64), "/p3_objects", fresh=True)
CLOCK = b"\x00\x00\x01\x00\x00\xff"
ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"
PROFILE = b"\x01\x00\x63\x01\x00\xff"
I181 = b"\x01\x00\x01\x08\x01\xff"
SECURITY_SETUP = b"\x00\x00\x2b\x00\x00\xff"
PUBLIC_LNS = (CLOCK, b"\x00\x00\x2a\x00\x00\xff", ASSOCIATION, b"\x00\x00\x2b\x01\x00\xff",
              b"\x00\x00\x2b\x01\x01\xff")
# Every server built stays referenced: a collected one would close its counter files from the
# collector, where the RAM flash (a test double) cannot allocate.
_servers = []


fresh = FreshDirs(STORE)


def new_server():
    server = build_server(fresh(), keys=keys())[0]
    _servers.append(server)
    return server


def management(max_pdu=0xFFFF, set_clock=None):
    server = new_server()
    if set_clock is not None:
        server.offer_clock(set_clock)
    c = FwClient(server, 1, max_pdu)
    c.associate()
    return server, c


# -- A. the management client's object list: one response, and GET blocks ------------------------
server, c = management()
whole = c.get(15, ASSOCIATION, 2)
first = c.call(b"\xc0\x01\xc1\x00\x0f" + ASSOCIATION + b"\x02\x00")
check(first[:4] == b"\xc4\x02\xc1\x00", "1126 bytes: in blocks even at a 1024-byte PDU")
objects = parse_object_list(whole)
check(len(objects) == 19 and len(whole) == 1126, "19 objects, %d bytes" % len(whole))
by_ln = {o[2]: o for o in objects}
cls, version, _, attrs, methods = by_ln[CLOCK]
check((cls, version, len(attrs), len(methods)) == (8, 0, 9, 6), "clock 8 v0, 9 attrs, 6 methods")
check(all(attrs[a][0] == 1 for a in range(1, 10)), "no RTC to move: the clock is read only")
check(not any(methods.values()), "no clock method")
cls, version, _, attrs, methods = by_ln[ASSOCIATION]
check((cls, version, len(attrs), len(methods)) == (15, 1, 9, 4), "association LN v1")
check([attrs[a][0] for a in range(1, 10)] == [1, 1, 1, 1, 1, 1, 0, 1, 1], "association attrs")
check(methods == {1: 1, 2: 0, 3: 0, 4: 0}, "reply_to_HLS_authentication only")
cls, version, _, attrs, methods = by_ln[SECURITY_SETUP]
check((cls, version, len(attrs), len(methods)) == (64, 0, 5, 2), "security setup 64 v0")
check(all(attrs[a][0] == 1 for a in range(1, 6)) and methods == {1: 0, 2: 0},
      "security setup: read only, no method")
cls, version, _, attrs, methods = by_ln[PROFILE]
check((cls, version) == (7, 1) and attrs[2] == (1, [1, 2]), "profile buffer: selectors 1, 2")
check(methods == {1: 0, 2: 0}, "no profile method")
check(by_ln[I181][:2] == (3, 0) and by_ln[I181][4] == {1: 0}, "register v0, reset denied")
for pdu in (256, 64):
    server, c = management(pdu)
    first = c.call(b"\xc0\x01\xc1\x00\x0f" + ASSOCIATION + b"\x02\x00")
    check(first[:4] == b"\xc4\x02\xc1\x00" and first[4:8] == be32(1), "blocks at pdu %d" % pdu)
    check(len(first) <= pdu - 30 + 12, "block within the PDU less ciphering: %d" % len(first))
    check(c.get(15, ASSOCIATION, 2) == whole, "the same list in blocks at pdu %d" % pdu)
    # a wrong block number ends the transfer; then a new GET starts again
    first = c.call(b"\xc0\x01\xc1\x00\x0f" + ASSOCIATION + b"\x02\x00")
    answer = c.call(b"\xc0\x02\xc1" + be32(2))
    check(answer[8:10] == b"\x01\x13", "data-block-number-invalid %s" % answer)
    answer = c.call(b"\xc0\x02\xc1" + be32(1))
    check(answer[8:10] == b"\x01\x10", "then no long GET in progress")

# attributes 3-6 and 8 of the management association
server, c = management(512)
check(c.get(15, ASSOCIATION, 3) == b"\x02\x02\x0f\x01\x12\x00\x01", "partners: client 1")
check(c.get(15, ASSOCIATION, 4) == bytes.fromhex("0207110211101202f41105110811011103"),
      "application context 2.16.756.5.8.1.3")
ctx = c.get(15, ASSOCIATION, 5)
# FwClient proposes 0x40101D; offered without an RTC to move: 0x401215 -> 0x401015
check(ctx == bytes.fromhex("0206041840101512040012020011060f000900"), "xDLMS %s" % ctx)
check(c.get(15, ASSOCIATION, 6) == bytes.fromhex("0207110211101202f41105110811021105"),
      "mechanism 2.16.756.5.8.2.5 (HLS-GMAC)")
check(c.get(15, ASSOCIATION, 9) == b"\x09\x06" + SECURITY_SETUP, "security_setup_reference")
check(c.get(64, SECURITY_SETUP, 1) == b"\x09\x06" + SECURITY_SETUP, "security setup LN")
check(c.get(64, SECURITY_SETUP, 2) == b"\x16\x03", "policy: authenticated and encrypted")
check(c.get(64, SECURITY_SETUP, 3) == b"\x16\x00", "suite 0")
check(c.get(64, SECURITY_SETUP, 4) == b"\x09\x08" + keys()["client_system_title"], "client title")
check(c.get(64, SECURITY_SETUP, 5) == b"\x09\x08" + keys()["system_title"], "server title")
for a, result in ((7, 3), (10, 4)):
    try:
        c.get(15, ASSOCIATION, a)
        fail("association attribute %d answered" % a)
    except ValueError as e:
        check("result %d" % result in str(e), "attribute %d: %s" % (a, e))

# a browsing tool: every attribute the list says it may read, read back
server, c = management(256)
for cls, version, ln, attrs, methods in parse_object_list(c.get(15, ASSOCIATION, 2)):
    for a in sorted(attrs):
        mode = attrs[a][0]
        if mode & 1:
            v = c.get(cls, ln, a)
            r = axdr.Reader().reset(v, 0, len(v))
            r.skip_data()
            check(r.pos == len(v), "one Data value for %s attribute %d" % (ln, a))
        else:
            try:
                c.get(cls, ln, a)
                fail("%s attribute %d read without read access" % (ln, a))
            except ValueError as e:
                check("result 3" in str(e), "no access: read-write-denied (%s)" % e)

# -- A. the public client's list: its own objects only ---------------------------------------------
server = new_server()
pub = PublicClient(server)
check(aare_conformance(pub.aare) == 0x001210, "public: get, with-list, blocks %06x"
      % aare_conformance(pub.aare))
public = parse_object_list(get_plain(pub, 15, ASSOCIATION, 2))
check([o[2] for o in public] == list(PUBLIC_LNS), "public list: %s" % [o[2] for o in public])
for cls, version, ln, attrs, methods in public:
    check(all(mode in (0, 1) for mode, _ in attrs.values()), "public writes nothing")
    check(not any(methods.values()), "public calls no method")
    for a in sorted(attrs):
        if attrs[a][0]:
            get_plain(pub, cls, ln, a)
check(parse_object_list(get_plain(pub, 15, ASSOCIATION, 2))[2][3][7] == (0, []), "no secret")
check(parse_object_list(get_plain(pub, 15, ASSOCIATION, 2))[2][3][9] == (0, []),
      "the public association has no security setup")
for a in (1, 5):
    try:
        get_plain(pub, 64, SECURITY_SETUP, a)
        fail("public read the security setup")
    except ValueError as e:
        check("result 3" in str(e), "public security setup: read-write-denied")
check(get_plain(pub, 15, ASSOCIATION, 6) == bytes.fromhex("0207110211101202f41105110811021100"),
      "public mechanism: lowest level")
try:
    get_plain(pub, 3, I181, 2)
    fail("public read a register")
except ValueError as e:
    check("result 3" in str(e), "public register: read-write-denied")
# a small PDU: the public list comes in blocks too
server = new_server()
pub = PublicClient(server, max_pdu=96)
pub.blocks = 0
check(parse_object_list(get_plain(pub, 15, ASSOCIATION, 2)) == public and pub.blocks > 3,
      "public list in %d blocks" % pub.blocks)

# -- B. GET-with-list ------------------------------------------------------------------------------
IC_CLIENT = b"\x00\x00\x2b\x01\x01\xff"
items = [
    (8, CLOCK, 2, None),
    (3, I181, 2, None),
    (3, I181, 3, None),
    (70, b"\x00\x00\x60\x03\x0a\xff", 2, None),  # no such object
    (1, CLOCK, 2, None),  # wrong class
    (8, CLOCK, 10, None),  # no such attribute
    (7, PROFILE, 2, (2, entry_params(95, 0))),  # the last two rows
    (7, PROFILE, 2, (2, entry_params(1, 1))),  # a second selection in the same list
    (3, I181, 2, (1, entry_params(1, 1))),  # selective access on a register
    (1, IC_CLIENT, 2, None),
    (15, ASSOCIATION, 8, None),
    (7, PROFILE, 2, (2, entry_params(2, 3))),  # a third selection, after other items
]
for pdu in (0xFFFF, 128):
    server, c = management(pdu)
    answer = c.call(get_list_request(items))
    check(answer[:3] == (b"\xc4\x03\xc1" if pdu == 0xFFFF else b"\xc4\x02\xc1"),
          "with-list answer at pdu %d: %s" % (pdu, answer[:3]))
    got = parse_list(collect(c, answer, 3))
    check(len(got) == len(items), "one result per item")
    check(got[0][0] == 0 and got[0][1][:2] == b"\x09\x0c", "clock")
    check(got[1] == (0, c.get(3, I181, 2)), "register value as GET-normal reads it")
    check(got[2] == (0, b"\x02\x02\x0f\x00\x16\x1e"), "scaler_unit")
    check(got[3:6] == [(1, 4), (1, 9), (1, 4)], "undefined, class inconsistent: %s" % got[3:6])
    check(got[6][0] == 0 and got[6][1][:2] == b"\x01\x02", "two profile rows")
    check(got[6][1] == c.get(7, PROFILE, 2, 2, entry_params(95, 0)), "rows as GET-normal")
    check(got[7] == (0, c.get(7, PROFILE, 2, 2, entry_params(1, 1))),
          "a second profile selection in the same list: its own rows")
    check(got[11] == (0, c.get(7, PROFILE, 2, 2, entry_params(2, 3))), "a third selection")
    check(got[11][1][:2] == b"\x01\x02" and got[7][1][:2] == b"\x01\x01", "2 rows and 1 row")
    check(got[8] == (1, 250), "selective access on a register: other-reason")
    check(got[9][0] == 0 and got[9][1][0] == 0x06, "counter object")
    check(got[10] == (0, b"\x16\x02"), "association status")
# a list holding the object list and the whole profile, in many blocks
server, c = management(200)
got = parse_list(collect(c, c.call(get_list_request(
    [(15, ASSOCIATION, 2, None), (7, PROFILE, 2, None), (8, CLOCK, 3, None)])), 3))
check(got[0] == (0, whole) and len(got[1][1]) == 2 + 96 * 38 and got[2] == (0, b"\x10\xff\xc4"),
      "object list, 96 rows, time zone in %d blocks" % c.blocks)
# the public client: its objects, and denied the rest
server = new_server()
pub = PublicClient(server, max_pdu=96)
got = parse_list(collect(pub, pub.call(get_list_request(
    [(8, CLOCK, 2, None), (3, I181, 2, None), (15, ASSOCIATION, 2, None)])), 3))
check(got[0][0] == 0 and got[1] == (1, 3) and parse_object_list(got[2][1]) == public,
      "public list answer: %s" % [g[0] for g in got])
# too many items for one request
server, c = management()
answer = c.call(get_list_request([(8, CLOCK, 2, None)] * 17))
check(answer == b"\xd8\x01\x03", "17 items: refused %s" % answer)
check(c.call(get_list_request([(8, CLOCK, 3, None)] * 16))[:4] == b"\xc4\x03\xc1\x10", "16 items")


# -- C. SET of the clock ---------------------------------------------------------------------------
def set_request(cls, ln, attr, value):
    return b"\xc1\x01\xc1" + bytes((cls >> 8, cls & 255)) + ln + bytes((attr,)) + b"\x00" + value


def date_time(y, mo, d, h, mi, s, deviation, status=0xFF):
    return b"\x09\x0c" + bytes((y >> 8, y & 255, mo, d, 0xFF, h, mi, s, 0xFF,
                                (deviation >> 8) & 255, deviation & 255, status))


calls = []


def fake_set_clock(t):
    calls.append(t)
    return None if tz.in_range(t) else "outside the meter's time range"


# without a way to move the RTC: read only, and SET not offered
server, c = management()
answer = c.call(set_request(8, CLOCK, 2, date_time(2024, 3, 12, 12, 0, 0, 0)))
check(answer == b"\xc5\x01\xc1\x03", "no RTC to move: read-write-denied %s" % answer)
# offered: the management AARE has SET (bit 20), the list says read-write
server, c = management(set_clock=fake_set_clock)
check(parse_object_list(c.get(15, ASSOCIATION, 2))[0][3][2] == (3, []), "clock time read-write")
check(bytes.fromhex("0418") + bytes((0x40, 0x10, 0x1D)) in c.get(15, ASSOCIATION, 5),
      "xDLMS context: SET negotiated")
cases = (
    (date_time(2024, 3, 12, 12, 0, 0, 0), "2024-03-12T12:00:00Z"),  # UTC
    (date_time(2024, 3, 12, 13, 0, 0, 0xFFC4), "2024-03-12T12:00:00Z"),  # CET, deviation -60
    (date_time(2024, 7, 1, 14, 30, 0, 0xFF88, 0x80), "2024-07-01T12:30:00Z"),  # CEST
    (date_time(2024, 3, 12, 13, 0, 0xFF, 0x8000), "2024-03-12T12:00:00Z"),  # local, winter
    (date_time(2024, 7, 1, 14, 30, 0, 0x8000), "2024-07-01T12:30:00Z"),  # local, summer
    (date_time(2024, 10, 27, 2, 30, 0, 0x8000, 0x80), "2024-10-27T00:30:00Z"),  # twice: CEST
    (date_time(2024, 10, 27, 2, 30, 0, 0x8000, 0x00), "2024-10-27T01:30:00Z"),  # twice: CET
)
for value, want in cases:
    answer = c.call(set_request(8, CLOCK, 2, value))
    check(answer == b"\xc5\x01\xc1\x00", "SET clock success %s" % answer)
    check(tz.format_iso(calls[-1]) == want, "%s set as %s" % (want, tz.format_iso(calls[-1])))
n = len(calls)
for value, result in (
    (date_time(2024, 2, 30, 12, 0, 0, 0), 12),  # no such day
    (date_time(2024, 3, 12, 0xFF, 0, 0, 0), 12),  # hour not specified
    (b"\x09\x0b" + bytes(11), 12),  # not 12 octets
    (b"\x06\x00\x00\x00\x01", 12),  # not a date-time
    (date_time(2099, 1, 1, 0, 0, 0, 0), 250),  # outside the meter's time range
):
    answer = c.call(set_request(8, CLOCK, 2, value))
    check(answer == b"\xc5\x01\xc1" + bytes((result,)), "refused with %d: %s" % (result, answer))
check(len(calls) == n + 1, "only the out-of-range time reached the RTC")
# the DST parameters: the meter's one rule is accepted, another is refused
for attr, value, result in (
    (3, b"\x10\xff\xc4", 0),
    (3, b"\x10\x00\x00", 250),
    (5, b"\x09\x0c\xff\xff\x03\xfe\x07\x02\x00\x00\xff\x80\x00\xff", 0),
    (5, b"\x09\x0c\xff\xff\x04\x01\xff\x02\x00\x00\xff\x80\x00\xff", 250),
    (6, b"\x09\x0c\x07\xe8\x0a\xfe\x07\x03\x00\x00\x00\xff\xc4\x00", 0),
    (7, b"\x0f\x3c", 0),
    (7, b"\x0f\x1e", 250),
    (8, b"\x03\x01", 0),
    (8, b"\x03\x00", 250),
    (8, b"\x11\x01", 12),
    (4, b"\x11\x00", 3),  # status: read only
    (1, b"\x09\x06" + CLOCK, 3),
    (10, b"\x11\x00", 4),
):
    answer = c.call(set_request(8, CLOCK, attr, value))
    check(answer == b"\xc5\x01\xc1" + bytes((result,)), "attr %d: %s" % (attr, answer))
answer = c.call(set_request(3, I181, 2, b"\x06\x00\x00\x00\x00"))
check(answer == b"\xc5\x01\xc1\x03", "a register is not writable")
answer = c.call(set_request(8, b"\x00\x00\x01\x00\x01\xff", 2, b"\x00"))
check(answer == b"\xc5\x01\xc1\x04", "no such clock")
check(len(calls) == n + 1, "no other SET reached the RTC")
# the public client: read-write-denied, and SET is not in its conformance
server = new_server()
server.offer_clock(fake_set_clock)
pub = PublicClient(server)
check(not aare_conformance(pub.aare) & 0x08, "public: no SET offered")
answer = pub.call(set_request(8, CLOCK, 2, date_time(2024, 3, 12, 12, 0, 0, 0)))
check(answer == b"\xc5\x01\xc1\x03", "public SET: read-write-denied %s" % answer)
check(len(calls) == n + 1, "the public client never reached the RTC")
print("OK")
