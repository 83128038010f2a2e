# comms.dlms.server under the real MicroPython, APDU level (no HDLC), storage on LittleFS in RAM:
# HLS-GMAC association, GET normal and with blocks, profile selections (entry, range with
# repeated timestamps, columns, damaged entries), a profile that moves during a long GET,
# counters that survive restarts and power cuts, and the refusals.
import os

from comms.dlms import axdr
from comms.dlms.security import ReceivedCounter
from hal.unix.p3bench.client import FwClient, entry_params, fail, keys
from hal.unix.p3bench.fakes import FakeProfile, PowerCut, RamFlash, build_server, mount_ram
from util import tz

STORE = mount_ram(RamFlash(64), "/p3_flash", fresh=True)
CLOCK = b"\x00\x00\x01\x00\x00\xff"
PROFILE = b"\x01\x00\x63\x01\x00\xff"
I181 = b"\x01\x00\x01\x08\x01\xff"


def check(cond, msg):
    if not cond:
        fail(msg)


def rows_of(data):
    """(row count, [column count of each row]) of an encoded buffer."""
    r = axdr.Reader().reset(data, 0, len(data))
    r.expect(axdr.ARRAY)
    n = r.length()
    cols = []
    for _ in range(n):
        r.expect(axdr.STRUCTURE)
        k = r.length()
        for _ in range(k):
            r.skip_data()
        cols.append(k)
    check(r.pos == len(data), "trailing bytes after the buffer")
    return n, cols


def row_times(data):
    """Local date-times (12-byte strings) of column 1 of each row."""
    out = []
    p = 0
    while True:
        i = data.find(b"\x09\x0c", p)
        if i < 0:
            return out
        out.append(data[i + 2 : i + 14])
        p = i + 14


def fresh(name, **kw):
    d = STORE + "/" + name
    os.mkdir(d)
    return d


def associated(storage, ic=1, max_pdu=0xFFFF, **kw):
    server, profile, clock = build_server(storage, keys=keys(), **kw)
    c = FwClient(server, ic, max_pdu)
    c.associate()
    return server, profile, c


# -- association, clock, registers ----------------------------------------------------------------
st = fresh("basic")
server, profile, c = associated(st)
v = c.get(8, CLOCK, 2)
# 10:07:00 UTC on Tuesday 12 March 2024 = 11:07 CET, deviation -60, no DST
check(v == b"\x09\x0c\x07\xe8\x03\x0c\x02\x0b\x07\x00\x00\xff\xc4\x00", "clock %s" % v)
check(c.get(8, CLOCK, 3) == b"\x10\xff\xc4", "time zone")
check(c.get(3, I181, 3) == b"\x02\x02\x0f\x00\x16\x1e", "scaler_unit Wh")
check(c.get(3, b"\x01\x00\x01\x07\x00\xff", 3) == b"\x02\x02\x0f\x00\x16\x1b", "scaler_unit W")
check(c.get(3, I181, 2)[0] == 0x06, "register value is double-long-unsigned")
check(c.get(1, b"\x00\x00\x60\x01\x00\xff", 2) == b"\x09\x10MKS0000000000001", "equipment id")
check(c.get(15, b"\x00\x00\x28\x00\x00\xff", 8) == b"\x16\x02", "association status associated")
check(c.get(7, PROFILE, 7) == b"\x06\x00\x00\x00\x60", "entries in use")
check(c.get(7, PROFILE, 4) == b"\x06\x00\x00\x03\x84", "capture period")
check(len(c.get(7, PROFILE, 3)) == 2 + 6 * 18, "capture objects")
# the server's own counter (0.0.43.1.0.255) and the client's last accepted one (0.0.43.1.1.255)
# (the value is the last counter used when it was encoded; its own response takes the next)
check(
    int.from_bytes(c.get(1, b"\x00\x00\x2b\x01\x00\xff", 2)[1:], "big") + 1 == c.server_ic,
    "server IC object",
)
check(
    int.from_bytes(c.get(1, b"\x00\x00\x2b\x01\x01\xff", 2)[1:], "big") == c.ic - 1,
    "client IC object",
)
try:
    c.get(70, b"\x00\x00\x60\x03\x0a\xff", 2)
    fail("a disconnect control object answered")
except ValueError as e:
    check("4" in str(e), "object-undefined")
try:
    c.get(8, CLOCK, 10)
    fail("clock attribute 10")
except ValueError as e:
    check("result 4" in str(e), "undefined attribute")
try:
    c.get(1, CLOCK, 2)
    fail("clock as Data")
except ValueError as e:
    check("result 9" in str(e), "object-class-inconsistent")

# -- profile: whole buffer in blocks, entries, columns --------------------------------------------
for pdu in (0xFFFF, 256, 64):
    server, profile, c = associated(fresh("blocks%d" % pdu), max_pdu=pdu)
    data = c.get(7, PROFILE, 2)
    n, cols = rows_of(data)
    check(n == 96 and cols == [6] * 96, "whole buffer at pdu %d: %d rows" % (pdu, n))
    check(len(data) == 2 + 96 * 38, "row size")
    check(server.out_start >= 3 and len(server.out) >= server.out_start, "LLC room")
n, cols = rows_of(c.get(7, PROFILE, 2, 2, entry_params(95, 0)))
check(n == 2, "entries 95..last")
n, cols = rows_of(c.get(7, PROFILE, 2, 2, entry_params(1, 3, 1, 2)))
check(n == 3 and cols == [2, 2, 2], "entry with columns 1..2")
n, _ = rows_of(c.get(7, PROFILE, 2, 2, entry_params(200, 300)))
check(n == 0, "entries past the end")
try:
    c.get(7, PROFILE, 2, 2, entry_params(1, 2, 3, 2))
    fail("inverted column range")
except ValueError as e:
    check("result 12" in str(e), "type-unmatched")


# -- range: local wall-clock times, inclusive; repeated timestamps after a clock set back ---------
def range_params(lt_from, lt_to):
    b = bytearray(64)
    o = axdr.put_header(b, 0, axdr.STRUCTURE, 4)
    o = axdr.put_header(b, o, axdr.STRUCTURE, 4)
    o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 8)
    o = axdr.put_logical_name(b, o, CLOCK)
    o = axdr.put_tag_u8(b, o, axdr.INTEGER, 2)
    o = axdr.put_tag_u16(b, o, axdr.LONG_UNSIGNED, 0)
    for lt in (lt_from, lt_to):
        civil = [0] * 7
        tz.civil_into(lt, civil)
        b[o : o + 2] = b"\x09\x0c"
        o = axdr.put_u16(b, o + 2, civil[0])
        b[o : o + 10] = bytes(
            (civil[1], civil[2], 0xFF, civil[3], civil[4], civil[5], 0, 0x80, 0, 0xFF)
        )
        o += 10
    b[o : o + 2] = b"\x01\x00"
    return bytes(b[: o + 2])


server, profile, c = associated(fresh("range"))
lt = server.dt.local_time
t_last = (tz.parse_iso("2024-03-12T10:07:00Z") // 900) * 900
lo = lt.local(t_last - 3 * 900)
data = c.get(7, PROFILE, 2, 1, range_params(lo, lt.local(t_last)))
check(rows_of(data)[0] == 4, "range of 4 quarter hours, inclusive")
check(rows_of(c.get(7, PROFILE, 2, 1, range_params(lo + 1, lo + 899)))[0] == 0, "empty range")
# the clock was set back by an hour: timestamps repeat, rows stay in capture (FIFO) order
rows = []
for t in list(range(0, 8 * 900, 900)) + list(range(4 * 900, 10 * 900, 900)):
    rows += [t_last + t, 0, t // 900, 0, 0, 0]
from array import array  # noqa: E402

server.objects.profile = FakeProfile(array("i", rows), 960, bad=(3,))
data = c.get(
    7, PROFILE, 2, 1, range_params(lt.local(t_last + 3 * 900), lt.local(t_last + 5 * 900))
)
n, _ = rows_of(data)
check(n == 4, "repeated timestamps: rows 4, 5 and again 4, 5 (row 3 damaged): %d" % n)
times = row_times(data)
check(times[0] == times[2] and times[1] == times[3] and times[0] != times[1], "FIFO order kept")
check(b"\x06\x00\x00\x00\x03" not in data, "the damaged entry is never served")

# -- the ring moves during a long GET: a row is dropped at the oldest end between blocks ----------
server, profile, c = associated(fresh("shift"), max_pdu=256)
first = c.call(b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x00")
check(first[:2] == b"\xc4\x02", "block transfer")
data = first[12:]  # C4 02 iid last bn(4) 00 81/82 len...
ln, p = first[9], 10
if ln & 0x80:
    k = ln & 0x7F
    p = 10 + k
data = first[p:]
block = first[4:8]
for i in range(200):
    if i == 1:
        profile.drop_oldest()  # a capture on a full ring: indices shift down by one
    answer = c.call(b"\xc0\x02\xc1" + block)
    check(answer[8] == 0, "block refused after a shift")
    ln = answer[9]
    p = 10 + (ln & 0x7F if ln & 0x80 else 0)
    data += answer[p:]
    block = answer[4:8]
    if answer[3]:
        break
n, cols = rows_of(data)
check(n == 96, "all 96 rows selected at the start are served once: %d" % n)
ts = row_times(data)
check(len(set(ts)) == 96, "no row twice")
# a shift beyond recognition ends the transfer with long-get-aborted
first = c.call(b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x00")
for _ in range(20):
    profile.drop_oldest()
answer = c.call(b"\xc0\x02\xc1" + first[4:8])
check(answer[3] == 1 and answer[8:10] == b"\x01\x0f", "long-get-aborted %s" % answer)
# GET-next without a long GET, and with the wrong block number
answer = c.call(b"\xc0\x02\xc1\x00\x00\x00\x01")
check(answer[8:10] == b"\x01\x10", "no-long-get-in-progress")
first = c.call(b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x00")
answer = c.call(b"\xc0\x02\xc1\x00\x00\x00\x07")
check(answer[8:10] == b"\x01\x13", "data-block-number-invalid")

# -- counters: replay, restart, power cuts --------------------------------------------------------
st = fresh("counters")
server, profile, c = associated(st, ic=100)
apdu = c.protect(b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00")
check(c.unprotect(c.send(apdu))[:4] == b"\xc4\x01\xc1\x00", "first use")
check(c.send(apdu) == b"\xd8\x01\x06", "replay refused")
old_aarq = c.aarq()
server.link_up(1)
aare = c.send(old_aarq)  # accepted (HLS pending) by the first server
check(aare[aare.index(b"\xa2\x03\x02\x01") + 4] == 0, "AARQ accepted")
c.server_ic = int.from_bytes(aare[-30:-26], "big")  # 28 1F 30 <IC> <ct 14> <tag 12>
server_ic = c.server_ic
# restart: a new server object on the same storage
server2, _, _ = build_server(st, keys=keys())
c2 = FwClient(server2, 1)
server2.link_up(1)
aare = c2.send(old_aarq)
check(aare[aare.index(b"\xa2\x03\x02\x01") + 4] == 1, "a replayed AARQ after restart is rejected")
check(b"\xa3\x05\xa1\x03\x02\x01\x0d" in aare, "a replayed AARQ: authentication failure (13)")
c2 = FwClient(server2, c.ic + 1)
c2.server_ic = server_ic  # the head-end remembers: the server's counter must rise across restarts
c2.associate()
check(c2.server_ic > server_ic, "server counter rises across restarts")

# the last accepted client counter survives a power cut at any point of its update: afterwards
# it reads as the old value or the new one, never as missing (which would accept replays)
flash = RamFlash(64)
mount_ram(flash, "/p3_cut", fresh=True)
cuts = 0
for steps in range(0, 16):
    ReceivedCounter("/p3_cut/ic_rx").accept(41)
    flash.steps_left = steps
    try:
        ReceivedCounter("/p3_cut/ic_rx").accept(1000 + steps)
        done = True
    except PowerCut:
        done = False
        cuts += 1
    flash.steps_left = -1
    mount_ram(flash, "/p3_cut")
    last = ReceivedCounter("/p3_cut/ic_rx").last
    check(
        last == 1000 + steps if done else last in (41, 1000 + steps),
        "cut at step %d: %d" % (steps, last),
    )
check(cuts >= 1, "a cut hit an update")
# a torn slot (whatever the file system does) falls back to the other one; no valid slot at all
# refuses every counter rather than starting again from nothing
rc = ReceivedCounter("/p3_cut/slots")
rc.accept(5)
rc.accept(6)  # sequence 2: the ".a" slot
with open("/p3_cut/slots.a", "r+b") as f:
    f.write(b"\x00\x00\x00\x07\x00\x00")  # first half of a newer record, then the cut
check(ReceivedCounter("/p3_cut/slots").last == 5, "torn newest slot: the previous value")
with open("/p3_cut/slots.b", "wb") as f:
    f.write(b"junk")
check(ReceivedCounter("/p3_cut/slots").last == 0xFFFFFFFF, "no valid slot: everything refused")
check(ReceivedCounter("/p3_cut/slots").lost, "no valid slot: reported as lost")
# restarts before any association (the slot files exist but were never written) are a new key,
# not a lost history: a restart must never lock the head-end out
for _ in range(3):
    rc = ReceivedCounter("/p3_cut/fresh")
    check(rc.last == -1 and not rc.lost, "restart with never-written slots: %d" % rc.last)
rc.accept(1)
check(ReceivedCounter("/p3_cut/fresh").last == 1, "first value after restarts kept")
# the very first write torn by a cut (slot "b" damaged, "a" never written): nothing accepted yet
with open("/p3_cut/torn1.b", "wb") as f:
    f.write(b"\x00\x00\x00")
open("/p3_cut/torn1.a", "wb").close()
rc = ReceivedCounter("/p3_cut/torn1")
check(rc.last == -1 and not rc.lost, "torn first write: still a new key")

# a meter restarted twice before any management session still lets the head-end in
d = fresh("restart_before_session")
for _ in range(2):
    build_server(d, keys=keys())
server, _, _ = build_server(d, keys=keys())
check(server._client_ic() == 0, "no client counter yet: %d" % server._client_ic())
c = FwClient(server, 1)
server.link_up(1)
c.associate()

# -- refusals -------------------------------------------------------------------------------------
server, profile, c = build_server(fresh("refuse"), keys=keys())
c = FwClient(server, 1)
server.link_up(1)
aare = c.send(c.aarq(title=b"XXX\x00\x00\x00\x00\x01"))
check(b"\xa3\x05\xa1\x03\x02\x01\x03" in aare, "unknown title: diagnostic 3")
aare = c.send(c.aarq(mechanism=2))
check(b"\xa3\x05\xa1\x03\x02\x01\x0b" in aare, "mechanism 2: diagnostic 11")
server.link_up(16)
public_aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
aare = server.request(16, memoryview(bytearray(public_aarq)), 0, len(public_aarq))
check(server.out[server.out_start + 17] == 0, "public association accepted")
req = bytearray(b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x00")
n = server.request(16, memoryview(req), 0, len(req))
check(
    bytes(server.out[server.out_start : server.out_start + n]) == b"\xc4\x01\xc1\x01\x03",
    "public: profile denied",
)
# no storage: management is off (a counter without persistence could repeat)
server, _, _ = build_server(None, keys=keys())
c = FwClient(server, 1)
server.link_up(1)
aare = c.send(c.aarq())
check(aare[aare.index(b"\xa2\x03\x02\x01") + 4] == 1, "no storage: management rejected")
print("OK")
