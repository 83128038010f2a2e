# The comms module's event logs under the real MicroPython: comms.events on a RAM flash (what
# is logged from readings, the link guard and refused associations; restarts, a full ring, torn
# records, power cuts at every flash step), and comms.dlms serving them: the standard event log
# (0-0:99.98.0.255) and the power-failure event log (1-0:99.97.0.255) in the management
# client's object list only, their capture objects, and their buffers whole, by range and by
# entry, in one response and in blocks.
import gc
import os

import micropython

from comms.dlms import axdr
from comms.events import EventLog
from comms.link import guard as lg
from contract import reading as rd
from contract.layout import EVENT_FILE, EVENT_SIZE, EVENT_STANDARD_ENTRIES, EVENT_STATE_SLOTS
from hal.unix.p3bench.client import FwClient, be32, entry_params, fail, keys
from hal.unix.p3bench.fakes import PowerCut, RamFlash, build_server, mount_ram, unmount_cut
from p3_objects import FreshDirs, PublicClient, check, collect, get_plain, parse_object_list
from p3_objects import get_list_request, parse_list  # GET-with-list
from util import tz

STORE = mount_ram(RamFlash(96), "/ev", fresh=True)
T0 = tz.parse_iso("2024-03-12T10:00:00Z")
_servers = []  # keep every server referenced (see test_dlms_objects)


fresh = FreshDirs(STORE)


class Clock:
    def __init__(self, t):
        self.t = t

    def utc(self):
        return self.t


def reading(t, failures, long_failures, log=()):
    """A believed reading: its time, power-failure counters and log (end, duration), newest
    first."""
    r = rd.new_reading()
    r[rd.T] = t
    r[rd.POWER_FAILURES] = failures
    r[rd.LONG_POWER_FAILURES] = long_failures
    r[rd.PF_LOG_N] = len(log)
    for i, (end, duration) in enumerate(log):
        r[rd.PF_LOG + 2 * i] = end
        r[rd.PF_LOG + 2 * i + 1] = duration
    return r


def rows(ring):
    out = [0, 0]
    got = []
    for i in range(ring.entries_in_use()):
        if ring.read(i, out):
            got.append((out[0], out[1]))
        else:
            got.append(None)
    return got


# -- A. what is logged -----------------------------------------------------------------------------
d = fresh()
clock = Clock(T0)
ev = EventLog(d, clock)
check(os.stat(d + "/" + EVENT_FILE)[6] == EVENT_SIZE * (2 + EVENT_STANDARD_ENTRIES + 10),
      "the file is preallocated at its full size")
check(rows(ev.standard) == [] and rows(ev.power) == [] and ev.last_code == 0, "empty at first")
# the first reading: the metering module's log of long failures is taken over, its counters
# are the baseline (short failures before comms knew the meter are not invented)
ev.reading(reading(T0, 2, 1, [(T0 - 500, 300)]))
check(rows(ev.power) == [(T0 - 500, 300)], "power-failure log: end, duration")
check(rows(ev.standard) == [(T0 - 800, 1), (T0 - 500, 2)], "power down at end - duration, up")
same = reading(T0 + 1, 2, 1, [(T0 - 500, 300)])
micropython.heap_lock()  # every believed reading passes here: nothing allocated when unchanged
try:
    ev.reading(same)
finally:
    micropython.heap_unlock()
check(len(rows(ev.standard)) == 2, "the same reading again: nothing new")
# a short failure (counted, not in the log): down and up at the reading that shows it
ev.reading(reading(T0 + 60, 3, 1, [(T0 - 500, 300)]))
check(rows(ev.standard)[2:] == [(T0 + 60, 1), (T0 + 60, 2)], "short failure")
# a long one: its counter arrives with the reading, its log entry with a later status frame
ev.reading(reading(T0 + 900, 4, 2, [(T0 - 500, 300)]))
check(len(rows(ev.standard)) == 4, "a long failure waits for its log entry")
ev.reading(reading(T0 + 901, 4, 2, [(T0 + 890, 400), (T0 - 500, 300)]))
check(rows(ev.power) == [(T0 - 500, 300), (T0 + 890, 400)], "second long failure")
check(rows(ev.standard)[4:] == [(T0 + 490, 1), (T0 + 890, 2)], "its down and up")
# the link guard's events
clock.t = T0 + 5000
ev.link(lg.EV_CLOCK_SET, 3600, clock.t)
check(rows(ev.standard)[6:8] == [(T0 + 1400, 4), (T0 + 5000, 5)], "clock set: old, new time")
ev.link(lg.EV_REFUSED_READING, lg.R_JUMP, clock.t)
ev.link(lg.EV_REFUSED_CAPTURE, lg.C_FUTURE, clock.t)
ev.link(lg.EV_MODULE_SWAP, 1, clock.t)
ev.link(lg.EV_LINK_SILENT, 10, clock.t)
ev.link(lg.EV_LINK_BACK, 12, clock.t)
ev.link(lg.EV_REBASE, 1000, clock.t)
check([c for _, c in rows(ev.standard)[8:]] == [243, 248, 230, 231, 232, 239],
      "link events: %s" % rows(ev.standard)[8:])
# a noisy link: one event per code per minute
n = len(rows(ev.standard))
for k in range(5):
    ev.link(lg.EV_CRC_ERRORS, 10 + k, clock.t + k)
ev.link(lg.EV_VALUE_ERRORS, 1, clock.t + 5)
ev.link(lg.EV_CRC_ERRORS, 20, clock.t + 60)
check(rows(ev.standard)[n:] == [(clock.t, 234), (clock.t + 5, 235), (clock.t + 60, 234)],
      "link noise thinned out: %s" % rows(ev.standard)[n:])
clock.t += 100
# refused associations: counter behind (replay), ciphering, authentication; one per code per
# minute; a refusal that is not about security is not an event
n = len(rows(ev.standard))
ev.refused(13, -2)
ev.refused(13, -2)
ev.refused(13, -1)
ev.refused(13, 0)
ev.refused(2, 0)
check([c for _, c in rows(ev.standard)[n:]] == [50, 49, 46], "refusals %s" % rows(ev.standard)[n:])
clock.t += 61
ev.refused(13, -2)
check(rows(ev.standard)[-1] == (clock.t, 50) and ev.last_code == 50, "again after a minute")
before_std, before_pf = rows(ev.standard), rows(ev.power)

# -- B. a restart continues where the log stood, and repeats nothing -------------------------------
ev = EventLog(d, clock)
check(rows(ev.standard) == before_std and rows(ev.power) == before_pf, "the same logs after a restart")
check(ev.last_code == 50 and ev.failures == 4 and ev.long_failures == 2, "state restored")
ev.reading(reading(T0 + 6000, 4, 2, [(T0 + 890, 400), (T0 - 500, 300)]))
check(rows(ev.standard) == before_std and rows(ev.power) == before_pf, "the same reading: no events")
ev.counter_resumed()
ev.reading(reading(T0 + 6001, 5, 2, [(T0 + 890, 400), (T0 - 500, 300)]))
check(rows(ev.standard)[-3:] == [(T0 + 6001, 254), (T0 + 6001, 1), (T0 + 6001, 2)],
      "counter resumed at the first reading's time, then the short failure")
# another metering module: its counters start anew, nothing is invented
n = len(rows(ev.standard))
ev.reading(reading(T0 + 6002, 1, 0))
check(len(rows(ev.standard)) == n and ev.failures == 1, "a new module's counters: baseline")
ev.reading(reading(T0 + 6003, 2, 0))
check(rows(ev.standard)[-2:] == [(T0 + 6003, 1), (T0 + 6003, 2)], "its first short failure")

# -- C. a full ring drops the oldest; a torn record is skipped, never served -----------------------
total = ev.standard.written
for k in range(100):
    ev.event(200, T0 + 10000 + k, k)
check(ev.standard.entries_in_use() == EVENT_STANDARD_ENTRIES, "the ring is full")
got = rows(ev.standard)
check(got[0] == (T0 + 10000 + 100 - EVENT_STANDARD_ENTRIES, 200) and got[-1] == (T0 + 10099, 200),
      "oldest dropped: %s .. %s" % (got[0], got[-1]))
check(ev.standard.written == total + 100, "numbering goes on")
slot = EVENT_STATE_SLOTS + (ev.standard.written - 10) % EVENT_STANDARD_ENTRIES
with open(d + "/" + EVENT_FILE, "r+b") as f:
    f.seek(slot * EVENT_SIZE + 5)
    f.write(b"\x55\x55")
ev = EventLog(d, clock)
got = rows(ev.standard)
check(got[-10] is None and got.count(None) == 1, "the torn record alone is skipped")
check(got[-1] == (T0 + 10099, 200), "the newest is still there")
# the newest record torn: the log continues after the one before it
slot = EVENT_STATE_SLOTS + (ev.standard.written - 1) % EVENT_STANDARD_ENTRIES
with open(d + "/" + EVENT_FILE, "r+b") as f:
    f.seek(slot * EVENT_SIZE)
    f.write(b"\xff\xff\xff\xff")
written = ev.standard.written
ev = EventLog(d, clock)
check(ev.standard.written == written - 1 and rows(ev.standard)[-1] == (T0 + 10098, 200),
      "newest torn: continues after the one before")

# -- D. power cuts at every flash step of logging a long failure ------------------------------------
flash = RamFlash(64)
cuts = 0
steps = 0
while True:
    mount_ram(flash, "/ev_cut", fresh=True)
    ev = EventLog("/ev_cut", Clock(T0))
    ev.reading(reading(T0, 1, 0))
    flash.steps_left = steps
    try:
        ev.reading(reading(T0 + 900, 2, 1, [(T0 + 890, 400)]))
        ev.reading(reading(T0 + 1800, 3, 1, [(T0 + 890, 400)]))
        done = True
    except PowerCut:
        done = False
        cuts += 1
        unmount_cut("/ev_cut")
        gc.collect()
    flash.steps_left = -1
    mount_ram(flash, "/ev_cut")
    ev = EventLog("/ev_cut", Clock(T0 + 2000))
    # the meter comes back: the same readings again (the metering module's state is its own)
    ev.reading(reading(T0 + 2000, 3, 1, [(T0 + 890, 400)]))
    std = rows(ev.standard)
    check(rows(ev.power) == [(T0 + 890, 400)], "cut at step %d: one long failure %s"
          % (steps, rows(ev.power)))
    check(None not in std, "cut at step %d: nothing torn is served" % steps)
    codes = [c for _, c in std]
    check(codes == [1, 2, 1, 2] and std[:2] == [(T0 + 490, 1), (T0 + 890, 2)],
          "cut at step %d: each failure logged once, down then up: %s" % (steps, std))
    if done:
        break
    steps += 1
check(cuts > 3, "cuts hit the logging %d times" % cuts)
print("power cuts ok (%d)" % cuts)


# -- E. served by P3 to the management client -------------------------------------------------------
STD = b"\x00\x00\x63\x62\x00\xff"
PFL = b"\x01\x00\x63\x61\x00\xff"
ASSOCIATION = b"\x00\x00\x28\x00\x00\xff"
CODE = b"\x00\x00\x60\x0b\x00\xff"
DURATION = b"\x00\x00\x60\x07\x13\xff"


def server_with_events(pdu=0xFFFF):
    d = fresh()
    server, profile, clock = build_server(d, keys=keys())
    log = EventLog(d, clock)
    server.objects.events = log
    _servers.append(server)
    c = FwClient(server, 1, pdu)
    c.associate()
    return server, c, log, clock


def date_time(t):
    """09 0C + the meter's own encoding of t, as the server writes the clock column."""
    b = bytearray(14)
    axdr.DateTimeCodec().put(b, 0, t)
    return bytes(b)


def range_params(t1, t2):
    return (b"\x02\x04\x02\x04\x12\x00\x08\x09\x06\x00\x00\x01\x00\x00\xff\x0f\x02\x12\x00\x00"
            + date_time(t1) + date_time(t2) + b"\x01\x00")


server, c, log, clock = server_with_events()
now = clock.utc()
log.reading(reading(now - 3000, 1, 1, [(now - 3000, 400)]))
log.event(5, now - 2000)
log.event(48, now - 1000)
check(c.get(1, CODE, 2) == b"\x11\x30", "event code object: the newest code (48)")
std = c.get(7, STD, 2)
want = (b"\x01\x04" + b"\x02\x02" + date_time(now - 3400) + b"\x11\x01"
        + b"\x02\x02" + date_time(now - 3000) + b"\x11\x02"
        + b"\x02\x02" + date_time(now - 2000) + b"\x11\x05"
        + b"\x02\x02" + date_time(now - 1000) + b"\x11\x30")
check(std == want, "standard event log buffer %s" % std)
check(c.get(7, PFL, 2) == b"\x01\x01\x02\x02" + date_time(now - 3000) + b"\x06\x00\x00\x01\x90",
      "power-failure log buffer: end, duration 400 s")
check(c.get(7, STD, 3) == bytes.fromhex(
    "0102020412000809060000010000ff0f02120000020412000109060000600b00ff0f02120000"),
    "standard log columns: clock, event code 0-0:96.11.0.255")
check(c.get(7, PFL, 3) == bytes.fromhex(
    "0102020412000809060000010000ff0f02120000020412000309060000600713ff0f02120000"),
    "power-failure columns: clock, duration 0-0:96.7.19.255")
check(c.get(7, STD, 4) == b"\x06\x00\x00\x00\x00", "captured as events happen: period 0")
check(c.get(7, STD, 7) == b"\x06\x00\x00\x00\x04" and c.get(7, STD, 8) == b"\x06\x00\x00\x00\x50",
      "entries in use, capacity 80")
check(c.get(7, PFL, 8) == b"\x06\x00\x00\x00\x0a", "power-failure capacity 10")
check(c.get(3, DURATION, 3) == b"\x02\x02\x0f\x00\x16\x07", "duration register: seconds")
# by range (selector 1) and by entry (selector 2)
got = c.get(7, STD, 2, 1, range_params(now - 3000, now - 2000))
check(got == b"\x01\x02" + want[2 + 18 : 2 + 3 * 18], "range: the two entries in it %s" % got)
got = c.get(7, STD, 2, 2, entry_params(4, 4))
check(got == b"\x01\x01" + want[2 + 3 * 18 :], "entry 4")
got = c.get(7, STD, 2, 2, entry_params(2, 3) [:-6] + b"\x12\x00\x02\x12\x00\x02")
check(got == b"\x01\x02\x02\x01\x11\x02\x02\x01\x11\x05", "entries 2-3, the code column only %s"
      % got)
# the quarter-hour profile is still served with its own columns after an event log read
check(c.get(7, b"\x01\x00\x63\x01\x00\xff", 2, 2, entry_params(96, 96))[:4] == b"\x01\x01\x02\x06",
      "the profile after an event log")
# one GET-with-list: the profile, the standard log by range and the power-failure log, each
# with its own selection, answered as the three GET-normal requests are
PROFILE_LN = b"\x01\x00\x63\x01\x00\xff"
items = [(7, PROFILE_LN, 2, (2, entry_params(95, 96))),
         (7, STD, 2, (1, range_params(now - 3000, now - 2000))),
         (7, PFL, 2, None)]
got = parse_list(collect(c, c.call(get_list_request(items)), 3))
check(got == [(0, c.get(7, PROFILE_LN, 2, 2, entry_params(95, 96))),
              (0, c.get(7, STD, 2, 1, range_params(now - 3000, now - 2000))),
              (0, c.get(7, PFL, 2))], "three buffers, three selections, one list: %s" % got)
check(got[1][1][:2] == b"\x01\x02" and got[0][1][:2] == b"\x01\x02", "2 entries each")
# a full log in blocks at a small PDU
for k in range(90):
    log.event(230 + k % 10, now + k)
server2, c2, _, _ = server_with_events(96)
server2.objects.events = log
whole = c.get(7, STD, 2)
check(whole[:2] == b"\x01\x50" and len(whole) == 2 + 80 * 18, "80 entries, %d bytes" % len(whole))
check(c2.get(7, STD, 2) == whole, "the same in blocks at PDU 96")
# the public client sees neither log (nor may read them)
pub = PublicClient(server2)
listed = [o[2] for o in parse_object_list(get_plain(pub, 15, ASSOCIATION, 2))]
check(STD not in listed and PFL not in listed and CODE not in listed, "public: no event logs")
try:
    get_plain(pub, 7, STD, 2)
    fail("public read the event log")
except ValueError as e:
    check("result 3" in str(e), "public: read-write-denied (%s)" % e)
listed = {o[2]: o for o in parse_object_list(c.get(15, ASSOCIATION, 2))}
for ln in (STD, PFL):
    cls, version, _, attrs, methods = listed[ln]
    check((cls, version) == (7, 1) and attrs[2] == (1, [1, 2]), "management: %s by range, entry" % ln)
    check(all(attrs[a][0] == 1 for a in range(1, 9)) and not any(methods.values()),
          "event logs: read only, no method")
check(listed[CODE][:2] == (1, 0) and listed[DURATION][:2] == (3, 0), "their column objects")
# a client whose HLS answer (pass 3) is wrong: an association authentication failure (46)
bad = FwClient(server2, 5000)
server2.link_up(1)
bad.send(bad.aarq())
f = b"\x10" + be32(bad.ic + 100) + bytes(12)
answer = bad.call(b"\xc3\x01\xc1\x00\x0f" + ASSOCIATION + b"\x01\x01\x09\x11" + f)
check(answer == b"\xc7\x01\xc1\x03\x00", "wrong HLS answer refused %s" % answer)
check(log.last_code == 46 and rows(log.standard)[-1][1] == 46, "logged as 46")
print("OK")
