# comms.link.guard under the real MicroPython: an honest metering module over the link is believed
# in full; a hostile one (registers backwards, absurd power, energy jumps, replayed frames,
# captures off the quarter hour, in the future or inconsistent, a module swap, silence, a
# restart) is refused or logged with the right code and count, while the served registers never
# go backwards and never grow faster than the rating allows. The per-frame path allocates nothing.
import micropython
from array import array

from comms.link import guard as G
from contract import link as L
from contract import reading as rd
from util.tz import to_seconds

T0 = to_seconds(2026, 7, 1, 10, 0, 0)
assert T0 % 900 == 0
UN_DV = 2300
IMAX_MA = 40000
PMAX = 3 * (((UN_DV * IMAX_MA // 10000) * 105 + 99) // 100)  # the guard's default 5 % margin


class Meter:
    """A metering module: honest unless its reading record is tampered with before sending."""

    def __init__(self, serial, t, wh, supplier=b"MKS", first_index=0):
        self.enc = L.LinkEncoder(supplier, serial, (1, 0, 0), b"\x01\x02\x03\x04", 3, UN_DV,
                                 IMAX_MA, 96)
        self.r = rd.new_reading()
        self.t = t
        self.mono = 0
        self.wh = array("i", wh)
        self.rem = 0  # J not yet a whole Wh of import T1
        self.index = first_index
        self.p = 4800  # W import, 1600 W a phase

    def step(self):
        """One meter second: the frames of it in self.enc.buf; their length."""
        self.t += 1
        self.mono += 1
        self.rem += self.p
        self.wh[0] += self.rem // 3600
        self.rem %= 3600
        r = self.r
        r[rd.T] = self.t
        r[rd.SEQ] = self.mono
        r[rd.STATUS] = 0
        r[rd.TARIFF] = 1
        r[rd.IMPORT_W] = self.p
        r[rd.EXPORT_W] = 0
        for k in range(4):
            r[rd.IMPORT_T1_WH + k] = self.wh[k]
        for k in range(3):
            r[rd.PHASE_IMPORT_W + k] = self.p // 3
            r[rd.PHASE_EXPORT_W + k] = 0
            r[rd.VOLTAGE_DV + k] = 2300
            r[rd.CURRENT_MA + k] = self.p // 3 * 10000 // 2300
        r[rd.FREQUENCY_MHZ] = 50000
        if self.t % 900 == 0:
            self.enc.add_capture(self.index, self.t, 0, self.wh)
            self.index += 1
        return self.enc.second(r, 0)


clock = array("i", [0])
guard = G.LinkGuard(3, UN_DV, IMAX_MA, silence=10)
believed = array("i", [0, 0])  # frames the guard took as new, not (repeats included)


def sink(typ):
    if guard.take(dec, typ, clock[0]):
        believed[0] += 1
    else:
        believed[1] += 1


dec = L.LinkDecoder(L.ProfileCopy(), sink)
last = array("i", [0, 0, 0, 0, 0])  # served registers and time seen last


def check_served():
    """The served registers never go backwards and grow at most PMAX x dt."""
    s = guard.reading
    if guard.readings == 0:
        return
    if last[4]:
        dt = s[rd.T] - last[4]
        assert dt >= 0
        allow = (PMAX * dt + 3599) // 3600 + 1
        for k in range(4):
            assert s[rd.IMPORT_T1_WH + k] >= last[k], ("backwards", k)
        assert (s[rd.IMPORT_T1_WH] + s[rd.IMPORT_T2_WH] - last[0] - last[1]) <= allow
        assert (s[rd.EXPORT_T1_WH] + s[rd.EXPORT_T2_WH] - last[2] - last[3]) <= allow
    for k in range(4):
        last[k] = s[rd.IMPORT_T1_WH + k]
    last[4] = s[rd.T]


def run(m, seconds):
    for _ in range(seconds):
        n = m.step()
        clock[0] = m.t
        dec.feed(m.enc.buf, n)
        guard.tick(dec, clock[0])
        check_served()


def events():
    out = array("i", [0, 0, 0])
    got = []
    for i in range(guard.held):
        assert guard.event(i, out)
        got.append((out[0], out[1], out[2]))
    assert not guard.event(guard.held, out)
    return got


def codes():
    return [e[1] for e in events()]


def counts():
    return list(guard.counts)


# -- an honest metering module: everything believed ---------------------------------------------
m = Meter(b"MKS0000000000042", T0 - 5, [1000000, 2000000, 3000, 4000])
run(m, 1900)  # captures at T0, T0 + 900, T0 + 1800
assert guard.readings == dec.readings == 1900
assert counts() == [0] * G.REASONS and guard.waiting == 0
assert believed[0] == dec.frames - believed[1] == dec.readings + dec.statuses + dec.identities + 3
assert guard.captures == 3 and guard.capture[L.CAP_INDEX] == 2, (guard.captures, list(guard.capture))
assert guard.capture[L.CAP_T] == T0 + 1800 and guard.capture[L.CAP_STATUS] == 0
assert guard.behind > 0 and guard.ahead == 0
assert guard.known and bytes(guard.serial) == b"MKS0000000000042" and list(guard.fw) == [1, 0, 0]
assert events() == [], events()
assert guard.reading[rd.IMPORT_T1_WH] == m.wh[0] and guard.reading[rd.T] == m.t
print("honest ok")


# -- hostile readings ----------------------------------------------------------------------------
mark = array("i", [0])


def new_events():
    """Events logged since the previous call (none may have been overwritten)."""
    got = events()
    n = guard.logged - mark[0]
    mark[0] = guard.logged
    assert n <= len(got)
    return got[len(got) - n :] if n else []


def send_tampered(changes, seconds=1):
    """The meter's next seconds, only reading frames, with fields changed before sending."""
    frame = None
    for _ in range(seconds):
        m.t += 1
        m.mono += 1
        clock[0] = m.t
        r = m.r
        r[rd.T] = m.t
        r[rd.SEQ] = m.mono
        for k in range(4):
            r[rd.IMPORT_T1_WH + k] = m.wh[k]
        r[rd.IMPORT_W] = m.p
        r[rd.EXPORT_W] = 0
        for k in range(3):
            r[rd.PHASE_IMPORT_W + k] = m.p // 3
            r[rd.PHASE_EXPORT_W + k] = 0
            r[rd.CURRENT_MA + k] = m.p // 3 * 10000 // 2300
        for field, delta in changes:
            r[field] += delta
        n = m.enc.reading(m.enc.buf, 0, r)
        frame = bytes(m.enc.buf[:n])
        before = dec.readings
        dec.feed(m.enc.buf, n)
        assert dec.readings == before + 1  # the decoder took it: only the guard can refuse
        guard.tick(dec, clock[0])
        check_served()
    return frame


served_before = guard.reading[rd.IMPORT_T1_WH]
old_a = send_tampered(())  # honest readings, kept for a replay
old_b = send_tampered(())
assert counts() == [0] * G.REASONS and guard.reading[rd.T] == m.t
send_tampered(((rd.IMPORT_T1_WH, -10),), 3)  # registers backwards
assert counts()[G.R_BACKWARDS] == 3
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_READING, G.R_BACKWARDS)]
assert guard.reading[rd.IMPORT_T1_WH] >= served_before and guard.reading[rd.T] == m.t - 3
send_tampered(((rd.IMPORT_W, 1000000),))  # absurd power
send_tampered(((rd.PHASE_IMPORT_W + 1, 9000),))  # one phase beyond Imax x Un (+ margin)
send_tampered(((rd.CURRENT_MA + 2, 40000),))  # one phase's current beyond Imax
send_tampered(((rd.EXPORT_W, PMAX + 1),))
assert counts()[G.R_POWER] == 4
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_READING, G.R_POWER)]  # one run
send_tampered(((rd.EXPORT_W, PMAX),))  # at the limit: fine
assert counts()[G.R_POWER] == 4 and guard.reading[rd.T] == m.t
# energy beyond Imax x Un x dt: one second allows ceil(PMAX / 3600) + 1 = 10 Wh
send_tampered(((rd.EXPORT_T1_WH, 500),))
send_tampered(((rd.IMPORT_T2_WH, 10), (rd.IMPORT_T1_WH, 10)))  # T1 + T2 beyond 2 s worth
assert counts()[G.R_JUMP] == 2
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_READING, G.R_JUMP)]
# time an hour ahead of what comms' own clock saw pass, with the energy of that hour: refused
send_tampered(((rd.T, 3600), (rd.IMPORT_T1_WH, 4800)))
assert counts()[G.R_AHEAD] == 1
# the same, and mono too: a leap of a year with a year's energy buys nothing
send_tampered(((rd.T, 365 * 86400), (rd.SEQ, 365 * 86400), (rd.IMPORT_T1_WH, 40000000)))
assert counts()[G.R_AHEAD] == 2
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_READING, G.R_AHEAD)]
# flagged as a clock set forward: the time may jump, the energy is bounded by mono (1 s)
send_tampered(((rd.T, 3600), (rd.STATUS, rd.STATUS_CLOCK_ADJUSTED), (rd.IMPORT_T1_WH, 4800)))
assert counts()[G.R_JUMP] == 3
assert counts()[G.R_BACKWARDS] == 3 and counts()[G.R_POWER] == 4
new_events()
# after refusals, honest readings are judged against the last accepted one: believed
m.wh[2] += 7  # some export within the bound of the 8 s since the last accepted reading
run(m, 5)
assert guard.reading[rd.T] == m.t and guard.reading[rd.EXPORT_T1_WH] == m.wh[2]
assert counts()[G.R_JUMP] == 3
# invalid status and tariff bits (the decoder refuses these too: the guard is asked directly)
r = array("i", m.r)
r[rd.T] += 1
r[rd.STATUS] = 0x10
assert not guard.take_reading(r, clock[0])
r[rd.STATUS] = 0
r[rd.TARIFF] = 3
assert not guard.take_reading(r, clock[0])
assert counts()[G.R_BITS] == 2
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_READING, G.R_BITS)]
# replayed old frames: honest frames of 20 s ago (an exact repeat is dropped by the decoder)
resets = dec.seq_resets
for f in (old_a, old_b, old_a, old_a):
    dec.feed(f, len(f))
assert counts()[G.R_TIME] == 3 and dec.duplicates == 1
guard.tick(dec, clock[0])
ev = [(e[1], e[2]) for e in new_events()]
assert ev[0] == (G.EV_REFUSED_READING, G.R_TIME), ev
assert (G.EV_MODULE_RESTART, resets + 2) in ev and dec.seq_resets == resets + 2  # old seqs
run(m, 3)
assert guard.reading[rd.T] == m.t
new_events()  # the decoder's gap after the replay
print("hostile readings ok:", list(guard.counts))

# -- hostile captures ----------------------------------------------------------------------------
c = array("i", [0] * L.CAP_FIELDS)


def capture(dt, status=0, wh_delta=(0, 0, 0, 0), index=None, at=None):
    """A capture for index `next`, at the quarter hour dt periods after the guard's newest."""
    c[L.CAP_INDEX] = guard.next if index is None else index
    c[L.CAP_T] = guard.capture[L.CAP_T] + 900 * dt if at is None else at
    c[L.CAP_STATUS] = status
    for k in range(4):
        c[L.CAP_WH + k] = guard.capture[L.CAP_WH + k] + wh_delta[k]
    return guard.take_capture(c, clock[0])


# run on past the next quarter hour (T0 + 2700): its capture is accepted
run(m, T0 + 2700 - m.t + 10)
assert guard.captures == 4 and guard.capture[L.CAP_T] == T0 + 2700
assert guard.capture[L.CAP_STATUS] == 0 and guard.next == 4
assert counts()[G.C_BITS : G.C_JUMP + 1] == [0] * 7
cap_n = guard.captures
assert not capture(0, at=T0 + 2700 + 450)  # off the quarter hour
assert counts()[G.C_QUARTER] == 1 and guard.next == 5
early = guard.early
assert not capture(1)  # T0 + 3600: one period after the newest reading (~T0 + 2710): it waits
assert guard.early == early + 1 and guard.next == 5 and counts()[G.C_FUTURE] == 0
assert not capture(2)  # T0 + 4500: further ahead than one lost reading explains: refused
assert counts()[G.C_FUTURE] == 1
assert not capture(0, index=guard.next)  # the same time again: not rising
assert not capture(-1)  # a replayed older capture time under a new index
assert counts()[G.C_TIME] == 2
assert not capture(0, status=0x10, at=guard.capture[L.CAP_T])  # a status bit that does not exist
assert counts()[G.C_BITS] == 1
assert guard.captures == cap_n and guard.next == 9
ev = new_events()
assert [(e[1], e[2]) for e in ev] == [(G.EV_REFUSED_CAPTURE, G.C_QUARTER),
                                     (G.EV_REFUSED_CAPTURE, G.C_FUTURE),
                                     (G.EV_REFUSED_CAPTURE, G.C_TIME),
                                     (G.EV_REFUSED_CAPTURE, G.C_TIME),
                                     (G.EV_REFUSED_CAPTURE, G.C_BITS)], ev
# repeats of refused or older indices are not judged again
assert not capture(0, index=5, at=T0 + 2700 + 450) and counts()[G.C_QUARTER] == 1
assert guard.behind > 0 and new_events() == []
# registers: above the newest reading, below the previous capture, a jump between captures
run(m, 900)  # the reading is now past T0 + 3600 (its honest capture is index 4: behind)
assert guard.captures == cap_n
big = guard.reading[rd.IMPORT_T1_WH] - guard.capture[L.CAP_WH] + 1
assert not capture(1, wh_delta=(big, 0, 0, 0))
assert counts()[G.C_ABOVE] == 1
assert not capture(1, wh_delta=(0, 0, -1, 0))
assert counts()[G.C_BELOW] == 1
g2 = guard.capture[L.CAP_T]
assert new_events()[-1][1:] == (G.EV_REFUSED_CAPTURE, G.C_BELOW)
# a capture in the future sent over the link, under the next index the meter uses
m.index = guard.next
m.enc.add_capture(m.index, T0 + 9000, 0, m.wh)
m.index += 1
n = m.enc.capture(m.enc.buf, 0)
dec.feed(m.enc.buf, n)
assert counts()[G.C_FUTURE] == 2
assert new_events()[-1][1:] == (G.EV_REFUSED_CAPTURE, G.C_FUTURE)
# the next accepted entry carries data-not-valid: its period follows refused ones
assert capture(1) and guard.capture[L.CAP_STATUS] == G.DATA_NOT_VALID
assert guard.capture[L.CAP_T] == g2 + 900 and guard.capture[L.CAP_WH] <= guard.reading[rd.IMPORT_T1_WH]
new_events()
# energy between two captures beyond PMAX x 900 s, though below the newest reading: a meter
# near its rating for half an hour, then a capture claiming that energy a quarter hour earlier
m.p = 28000
m.index = 0  # (its own captures would be judged against the synthetic ones: keep them out)
run(m, 1800)
m.p = 4800
assert counts()[G.R_POWER] == 4 and counts()[G.R_JUMP] == 3  # honest: believed
grow = guard.reading[rd.IMPORT_T1_WH] - guard.capture[L.CAP_WH]
assert grow > 2 * PMAX * 900 // 3600 // 2 + 1000
assert not capture(1, wh_delta=(grow, 0, 0, 0))
assert counts()[G.C_JUMP] == 1
assert [(e[1], e[2]) for e in new_events()] == [(G.EV_REFUSED_CAPTURE, G.C_JUMP)]
print("hostile captures ok:", list(guard.counts))
COUNTS = counts()

# -- a module swap: another serial, lower registers ----------------------------------------------
before = array("i", guard.reading[rd.IMPORT_T1_WH : rd.IMPORT_T1_WH + 4])
m2 = Meter(b"ABC0000000000007", m.t, [500, 20, 0, 0], supplier=b"ABC", first_index=300)
q = m.t - m.t % 900
for k in range(3):  # its ring holds captures of its former life, at times the guard already has
    m2.enc.add_capture(297 + k, q - 900 * (2 - k), 0, array("i", [400 + k, 20, 0, 0]))
resets = dec.seq_resets
run(m2, 1)
ev = [(e[1], e[2]) for e in new_events()]
assert ev == [(G.EV_MODULE_SWAP, 1), (G.EV_REBASE, before[0] - 500 - 1), (G.EV_MODULE_RESTART,
                                                                          resets + 1)], ev
assert guard.swaps == 1 and bytes(guard.serial) == b"ABC0000000000007"
assert bytes(guard.supplier) == b"ABC" and guard.swap_t == m2.t
assert list(guard.swap_served) == list(before)
assert list(guard.swap_module) == [501, 20, 0, 0]
assert guard.reading[rd.IMPORT_T1_WH] == before[0]  # served continues, no step either way
run(m2, 900 - m2.t % 900 + 5)  # past its first quarter hour as our module
assert guard.reading[rd.IMPORT_T1_WH] == m2.wh[0] + guard.offset[0] > before[0]
assert guard.captures == 6 and guard.capture[L.CAP_INDEX] == 300
assert guard.capture[L.CAP_STATUS] == G.DATA_NOT_VALID  # spans two modules
assert counts() == COUNTS and new_events() == []  # its former life is ignored, not refused
run(m2, 900)
assert guard.captures == 7 and guard.capture[L.CAP_STATUS] == 0
print("swap ok: offset", list(guard.offset))

# -- silence and return --------------------------------------------------------------------------
for s in range(1, 16):
    guard.tick(dec, m2.t + s)
ev = [(e[1], e[2]) for e in new_events()]
assert ev == [(G.EV_LINK_SILENT, 10)], ev
assert guard.silent
for s in range(15):  # the meter kept running, nothing arrived
    m2.step()
run(m2, 1)
ev = [(e[1], e[2]) for e in new_events()]
assert ev[0] == (G.EV_LINK_BACK, 16) and not guard.silent, ev
assert (G.EV_FRAMES_LOST, dec.frames_missed) in ev
assert counts() == COUNTS
print("silence ok")

# -- the metering module restarts: sequence and mono from 0, same identity -----------------------
m3 = Meter(b"ABC0000000000007", m2.t, m2.wh, supplier=b"ABC", first_index=m2.index)
m3.rem = m2.rem
resets = dec.seq_resets
run(m3, 905)
ev = [(e[1], e[2]) for e in new_events()]
assert ev == [(G.EV_MODULE_RESTART, resets + 1)], ev
assert guard.swaps == 1 and counts() == COUNTS and guard.reading[rd.T] == m3.t
assert guard.captures == 8 and guard.capture[L.CAP_STATUS] == 0
print("restart ok")

# -- the reading of a capture's second lost; the last reading repeated at an orderly stop ---------
guard = G.LinkGuard(3, UN_DV, IMAX_MA, silence=10)
dec = L.LinkDecoder(L.ProfileCopy(), sink)
believed[0] = believed[1] = 0
last[4] = 0
m = Meter(b"MKS0000000000042", T0 - 905, [1000, 2000, 30, 40])
run(m, 900)  # up to T0 - 5, the capture at T0 - 900 taken
caps = guard.captures
for _ in range(5):  # T0 - 4 .. T0: the frames of T0 (its reading, its capture) are lost
    m.step()
cap_copy = array("i", [0] * L.CAP_FIELDS)
for _ in range(16):  # the repetition cycle: the new capture twice before any reading covers it
    n = m.enc.capture(m.enc.buf, 0)
    dec.feed(m.enc.buf, n)
assert dec.profile.get(m.index - 1, cap_copy) == L.ProfileCopy.CONFIRMED
assert guard.early >= 2  # its energy is above the newest reading's: it waits, not refused
assert not guard.take_capture(cap_copy, T0) and guard.captures == caps
assert counts() == [0] * G.REASONS
run(m, 1)  # the reading of T0 + 1 arrives: the capture is judged and accepted
assert guard.take_capture(cap_copy, T0 + 1) or guard.captures == caps + 1  # the frames took it
assert guard.captures == caps + 1 and guard.capture[L.CAP_T] == T0
refusals = (G.EV_REFUSED_READING, G.EV_REFUSED_CAPTURE, G.EV_CAPTURE_GAP)
assert counts() == [0] * G.REASONS and [e for e in events() if e[1] in refusals] == []
# The drain repeats the newest reading: the same reading again is neither served nor refused.
n = m.enc.reading(m.enc.buf, 0, m.r)
readings = guard.readings
for _ in range(3):
    dec.feed(m.enc.buf, n)
assert guard.repeats == 1 and guard.readings == readings and counts() == [0] * G.REASONS
n = m.enc.reading(m.enc.buf, 0, m.r)  # another frame (sequence) with the same reading
dec.feed(m.enc.buf, n)
assert guard.repeats == 2 and guard.readings == readings and counts() == [0] * G.REASONS
m.r[rd.IMPORT_W] += 1  # the same time and mono, another value: not a repeat
n = m.enc.reading(m.enc.buf, 0, m.r)
dec.feed(m.enc.buf, n)
assert guard.repeats == 2 and counts()[G.R_TIME] == 1
# a clock set whose flagged reading was lost (skipped on a busy line, or damaged): the readings
# after it, unflagged, carry the new time after a gap in mono: taken as the set, and logged
def run_own_clock(m, seconds, lost=0):
    """As run(), but comms' own clock ticks by itself (it does not follow the meter's time);
    the first `lost` seconds' frames never arrive."""
    for k in range(seconds):
        n = m.step()
        clock[0] += 1
        if k >= lost:
            dec.feed(m.enc.buf, n)
        guard.tick(dec, clock[0])


run(m, 3)
logged = guard.logged
m.t += 1800
run_own_clock(m, 5, lost=2)  # the second of the set (its reading carries the flag) is lost
assert guard.reading[rd.T] == m.t and guard.reading[rd.IMPORT_T1_WH] == m.wh[0]
assert counts()[G.R_AHEAD] == 0 and counts()[G.R_JUMP] == 0
got = [(e[1], e[2]) for e in events()[-(guard.logged - logged):]]
assert (G.EV_CLOCK_SET, 1803) in got and not [e for e in got if e[0] in refusals], got
# the same jump from one second to the next, no reading missed and no flag: refused
m.t += 1800
run_own_clock(m, 1)
assert counts()[G.R_AHEAD] == 1 and guard.reading[rd.T] == m.t - 1801
print("lost reading, repeated reading, lost clock-set flag ok")

# -- no allocation per frame ---------------------------------------------------------------------
bad = array("i", m3.r)
cap = array("i", [0] * L.CAP_FIELDS)
out = array("i", [0, 0, 0])
logged = guard.logged
micropython.heap_lock()
try:
    run(m3, 300)
    for s in range(50):
        bad[rd.T] = m3.t + 1
        bad[rd.IMPORT_W] = 10000000
        guard.take_reading(bad, m3.t)
        bad[rd.IMPORT_W] = 0
        bad[rd.EXPORT_T2_WH] = -5
        guard.take_reading(bad, m3.t)
        bad[rd.EXPORT_T2_WH] = 0
        cap[L.CAP_INDEX] = guard.next
        cap[L.CAP_T] = m3.t + 7
        guard.take_capture(cap, m3.t)
        guard.tick(dec, m3.t + 100 + s)
        guard.event(0, out)
    run(m3, 2)
finally:
    micropython.heap_unlock()
assert guard.logged > logged and guard.counts[G.C_QUARTER] > COUNTS[G.C_QUARTER]
assert guard.held == 64 and guard.logged > 64  # the ring wrapped: oldest first still
got = events()
assert [e[0] for e in got] == sorted(e[0] for e in got)
print("heap-locked guard ok")
print("OK")
