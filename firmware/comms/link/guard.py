# meterkast: the link guard: what the comms module believes of what the metering module sends
# MIT license
#
# The LinkDecoder (contract.link) refuses what cannot be a value at all; this guard refuses what
# cannot be true: it checks every frame the decoder accepted against physics and history, and
# only what passes reaches the values comms serves (P1, P3). One LinkGuard per comms module;
# nothing lives at module level. Call take(dec, typ, now) for every frame the decoder delivers
# (its sink) and tick(dec, now) about once a second; now is the comms module's own clock.
#
# Readings. A reading is accepted when its status and tariff bits are valid, its time rises
# (a replayed or old frame does not), no energy register went backwards, the import growth
# (T1 + T2) and the export growth over the elapsed time stay within PMAX x dt (rounded up, +1 Wh
# for the registers' whole-Wh steps), and every power and current is within the rating.
#   PMAX = phases x Un x Imax x (100 + margin) / 100, from the configuration, never from the
#   identity frame (a module could claim any rating). dt is the rise of the readings' own time,
#   or the rise of mono when that is smaller and mono rose (a clock set forward gains no energy).
# A refused reading is counted by reason (counts[R_*]) and logged (EV_REFUSED_READING, detail
# the reason) once per run of refusals with that reason, so a hostile stream cannot flood the
# log; `reading` keeps the last accepted values. A reading whose time (unless the clock was set,
# below) or mono runs ahead of the comms module's own clock since the last believed reading, by
# more than `lead` seconds, is refused (R_AHEAD), and dt is never taken longer than that: a
# module cannot buy energy with a leap in time. A served register outside 0 .. 2^30 - 1 is
# refused (R_RANGE). A clock set (forward or back) shows in the reading of that second (status
# CLOCK_ADJUSTED) with mono still rising, which no replay has; it is accepted, its energy bounded
# by the rise of mono, and logged (EV_CLOCK_SET, detail the signed seconds). So is a time jump
# in the first reading after missed seconds (mono rose by more than one): the flagged reading may
# have been skipped on a busy line or lost, and refusing every later reading would stop the
# meter's ports for good; a jump from one second to the next without the flag is refused. A
# capture whose time
# does not rise is accepted only with the IDIS clock-adjusted bit (the profile of a clock set
# back repeats times), and not checked for growth.
#
# Module swap and the served registers. The first identity is remembered (supplier, serial,
# firmware version). A later identity with another supplier or serial is a swap (EV_MODULE_SWAP,
# swaps += 1); another firmware version of the same module is only logged (EV_FIRMWARE). After a
# swap the next reading that passes the checks that need no history (bits, power, time rising)
# sets a per-register offset: offset = served register - the new module's register, so the
# served value continues exactly where it stood (EV_REBASE, detail the import T1 offset). Served
# = module register + offset, always; the energy of the seconds between the old module's last
# reading and the new one's first is lost, never invented. The discontinuity is kept in
# swap_t (time of the rebasing reading), swap_served and swap_module (registers on each side).
#
# Captures. Checked strictly in index order: the guard waits for index `next` (the repetition
# cycle of the link delivers every held capture again within 2 x ring seconds). Lower indices are
# repeats (counted in behind, not judged again); higher ones are counted in ahead and dropped
# until `next` comes, unless `next` has left the metering module's ring (index - next >= ring):
# then the missing ones are given up (EV_CAPTURE_GAP, detail how many). The capture with index
# `next` waits (counted in early, judged again later) while its time is after the newest accepted
# reading's but by no more than tolerance + one period: the reading of its second was lost, and a
# later one (or the drain's repeat at an orderly stop) will cover it. Otherwise it
# is accepted when its status bits are valid, t % 900 == 0, t rises above the previous
# accepted capture, t <= newest accepted reading time + tolerance, and its registers (served
# units) are not below the previous capture's, not above the newest accepted reading's, and grew
# within PMAX x (t - previous t). No capture is judged before the first reading is accepted.
# A refused capture is counted (counts[C_*]), logged (EV_REFUSED_CAPTURE, detail the reason) and
# skipped for good. Periods are flagged through the IDIS status of the next accepted entry:
# DATA_NOT_VALID (0x04) is added to it when a capture was refused or given up since the previous
# accepted one, or a swap came in between (its registers span two modules). `capture` holds the
# newest accepted entry with that status and served registers. At start and after a swap the
# guard takes up the first capture newer than what it holds (after a swap: not older than the
# rebasing reading, since the new module's ring holds its former life).
#
# A reading equal in every field to the newest accepted one (the drain repeats the last reading
# at an orderly stop) is the same reading again: counted in repeats, neither served anew nor
# refused. One that differs under the same time goes through the checks above (R_TIME).
#
# Link. Silence: no frame for `silence` seconds is logged once (EV_LINK_SILENT, detail the
# seconds since the last frame), the next frame logs EV_LINK_BACK (detail the seconds of
# silence). tick() also logs the decoder's counters when they rise after a tick in which they did
# not: damaged frames (header, length and FCS errors: EV_CRC_ERRORS), value errors, lost frames,
# and every sequence restart (EV_MODULE_RESTART, detail the decoder's restart count).
#
# The event log is a preallocated ring of (now, code, detail), read oldest first with event(i).
# The per-frame path is integer arithmetic and allocates nothing. Registers are taken to stay
# below 2^30 Wh (a 32-bit port's small ints): 1 TWh.
from array import array

from micropython import const

# Event codes
EV_REFUSED_READING = const(1)
EV_REFUSED_CAPTURE = const(2)
EV_MODULE_SWAP = const(3)
EV_LINK_SILENT = const(4)
EV_LINK_BACK = const(5)
EV_MODULE_RESTART = const(6)
EV_CRC_ERRORS = const(7)
EV_VALUE_ERRORS = const(8)
EV_FRAMES_LOST = const(9)
EV_FIRMWARE = const(10)
EV_CAPTURE_GAP = const(11)
EV_REBASE = const(12)
EV_CLOCK_SET = const(13)

# Refusal reasons: indices into counts, and the detail of the refusal events
R_BITS = const(0)  # reading status or tariff invalid
R_TIME = const(1)  # reading time not rising (replayed or old)
R_BACKWARDS = const(2)  # a register went backwards
R_JUMP = const(3)  # energy grew more than PMAX x dt
R_POWER = const(4)  # a power or current above the rating
C_BITS = const(5)  # capture status invalid
C_QUARTER = const(6)  # capture time not on the quarter hour
C_TIME = const(7)  # capture time not rising
C_FUTURE = const(8)  # capture time after the newest reading (+ tolerance)
C_BELOW = const(9)  # registers below the previous capture's
C_ABOVE = const(10)  # registers above the newest reading's
C_JUMP = const(11)  # registers grew more than PMAX x dt since the previous capture
R_AHEAD = const(12)  # time or mono ran ahead of the comms module's own clock (+ lead)
R_RANGE = const(13)  # a served register would leave 0 .. 2^30 - 1
REASONS = const(14)

DATA_NOT_VALID = const(0x04)  # IDIS profile status bit used to flag a period

_CLOCK_ADJUSTED = const(0x20)  # in both the reading status and the IDIS capture status
_READING_STATUS = const(0x2F)  # contract.reading STATUS_* bits
_CAPTURE_STATUS = const(0xAF)  # IDIS: PDN, CAD, DST, DNV, CIV, CRE
_PERIOD = const(900)
_BIG = const(0x3FFFFFFF)

# contract.reading layout (the decoder's reading array)
_T = const(0)
_MONO = const(1)
_STATUS = const(2)
_TARIFF = const(3)
_IMPORT_W = const(4)
_EXPORT_W = const(5)
_WH = const(6)  # 4 registers: import T1, T2, export T1, T2
_PHASE_IMPORT_W = const(10)
_PHASE_EXPORT_W = const(13)
_CURRENT_MA = const(19)
_FIELDS = const(52)

# contract.link capture layout: index, t, status, wh x 4
_C_INDEX = const(0)
_C_T = const(1)
_C_STATUS = const(2)
_C_WH = const(3)
_C_FIELDS = const(7)

# contract.link identity layout
_ID_FW = const(0)  # major, minor, patch
_ID_RING = const(6)

_READING = const(0x52)
_CAPTURE = const(0x43)
_IDENTITY = const(0x49)


class LinkGuard:
    """Validation policy of the comms module for the frames of the link (see the header).

    phases, nominal_dv (Un, 0.1 V), imax_ma (Imax per phase) and margin (%) give PMAX;
    silence: seconds without a frame before EV_LINK_SILENT; tolerance: seconds a capture may
    be ahead of the newest reading; lead: seconds a reading's time and mono may run ahead of
    the comms module's own clock since the last believed reading; events: size of the ring.
    """

    def __init__(self, phases=3, nominal_dv=2300, imax_ma=40000, margin=5, silence=10,
                 tolerance=5, events=64, lead=30):
        per_phase = (nominal_dv * imax_ma // 10000 * (100 + margin) + 99) // 100  # W
        self.phase_max_w = per_phase
        self.pmax_w = phases * per_phase
        self.imax_ma = (imax_ma * (100 + margin) + 99) // 100
        self.phases = phases
        self.silence = silence
        self.tolerance = tolerance
        self.lead = lead
        self._now = 0  # comms' clock at the last believed reading
        self._dt_small = (_BIG - 3600) // self.pmax_w  # p x dt fits a small int up to here
        self._h_big = _BIG // (2 * self.pmax_w)
        # served values
        self.reading = array("i", bytes(4 * _FIELDS))  # last accepted, registers served
        self.readings = 0  # accepted readings
        self.capture = array("i", bytes(4 * _C_FIELDS))  # last accepted, flagged, served
        self.captures = 0  # accepted captures
        self.offset = array("i", bytes(16))  # served - module, per register
        self._mod = array("i", bytes(16))  # module registers of the last accepted reading
        self._mono = -1
        self._mono_seen = -1  # mono of the last reading judged (accepted or not)
        self._refusing = -1  # reason of the current run of reading refusals, -1 none
        # captures
        self.next = -1  # index of the next capture to judge; -1: the first one newer
        self._cap_floor = -1  # in "first newer" mode, captures before this time are ignored
        self.ring = 96
        self._flag = 0  # status bits for the next accepted capture
        self.behind = 0
        self.ahead = 0
        self.waiting = 0  # captures seen before any reading was accepted
        self.early = 0  # captures seen before the reading of their time (judged later)
        self.repeats = 0  # readings received again, equal to the newest accepted
        # identity
        self.known = False
        self.supplier = bytearray(3)
        self.serial = bytearray(16)
        self.fw = array("i", bytes(12))
        self.swaps = 0
        self.restored = False  # resume_floor() was called: served values exist from before
        self._rebase = False
        self.swap_t = -1
        self.swap_served = array("i", bytes(16))
        self.swap_module = array("i", bytes(16))
        # link
        self.silent = False
        self._heard = -1  # now of the last frame (or of the first tick)
        self._seen = array("i", bytes(16))  # decoder counts: damaged, value, missed, restarts
        self._rising = array("i", bytes(16))  # did they rise at the previous tick
        self.counts = array("i", bytes(4 * REASONS))
        # event log
        self._ev = array("i", bytes(12 * events))
        self._ev_size = events
        self._ev_next = 0
        self.held = 0  # events in the ring
        self.logged = 0  # events ever logged

    # -- event log ------------------------------------------------------------------------------
    def log(self, now, code, detail):
        e = self._ev
        o = 3 * self._ev_next
        e[o] = now
        e[o + 1] = code
        e[o + 2] = detail
        self._ev_next = (self._ev_next + 1) % self._ev_size
        if self.held < self._ev_size:
            self.held += 1
        self.logged += 1

    def event(self, i, out):
        """Copy the i-th held event, oldest first (0 .. held - 1), into out[0:3]; False if none."""
        if not 0 <= i < self.held:
            return False
        o = 3 * ((self._ev_next - self.held + i) % self._ev_size)
        e = self._ev
        out[0] = e[o]
        out[1] = e[o + 1]
        out[2] = e[o + 2]
        return True

    # -- the decoder's frames -------------------------------------------------------------------
    def take(self, dec, typ, now):
        """A frame the decoder accepted, while its values are in dec's arrays; True if believed."""
        self.heard(now)
        if typ == _READING:
            return self.take_reading(dec.reading, now)
        if typ == _CAPTURE:
            return self.take_capture(dec.capture, now)
        if typ == _IDENTITY:
            return self.take_identity(dec.supplier, dec.serial, dec.identity, now)
        return True

    def tick(self, dec, now):
        """About once a second: silence, and the decoder's error counters."""
        if self._heard < 0:
            self._heard = now
        elif not self.silent and now - self._heard >= self.silence:
            self.silent = True
            self.log(now, EV_LINK_SILENT, now - self._heard)
        if dec is None:
            return
        self._count(0, dec.header_errors + dec.length_errors + dec.crc_errors, EV_CRC_ERRORS, now)
        self._count(1, dec.value_errors, EV_VALUE_ERRORS, now)
        self._count(2, dec.frames_missed, EV_FRAMES_LOST, now)
        n = dec.seq_resets
        if n != self._seen[3]:
            self._seen[3] = n
            self.log(now, EV_MODULE_RESTART, n)

    def _count(self, k, n, code, now):
        if n != self._seen[k]:
            if not self._rising[k]:
                self.log(now, code, n)
            self._rising[k] = 1
            self._seen[k] = n
        else:
            self._rising[k] = 0

    # -- readings -------------------------------------------------------------------------------
    def _allow(self, dt):
        """Wh a register pair may grow in dt seconds at PMAX (rounded up, + 1 Wh)."""
        p = self.pmax_w
        if dt <= self._dt_small:
            return (p * dt + 3599) // 3600 + 1
        h = dt // 3600
        if h >= self._h_big:
            return _BIG
        return h * p + ((dt - h * 3600) * p + 3599) // 3600 + 1

    def _check_reading(self, r, now):
        """Reason the reading r is refused, or -1."""
        if r[_STATUS] & ~_READING_STATUS or not 1 <= r[_TARIFF] <= 2:
            return R_BITS
        back = False
        # A clock set shows in the reading of its second (flagged). When readings were missed
        # since the last one received (skipped on a busy line, lost on a faulty one), the
        # flagged one may have been among them: a jump after such a gap is the set it must have
        # been. Either way mono must still rise, which no replay does.
        rising = self._mono >= 0 and r[_MONO] > self._mono
        missed = self._mono_seen >= 0 and r[_MONO] - self._mono_seen > 1
        adjusted = rising and (r[_STATUS] & _CLOCK_ADJUSTED or missed)
        if self.readings and r[_T] <= self.reading[_T]:
            # A clock set back: flagged in that very reading, and mono still rising (a replay's
            # mono does not). The energy check then runs on mono alone.
            if not adjusted:
                return R_TIME
            back = True
        # Neither time (unless the clock was set, flagged) nor mono may run ahead of what comms'
        # own clock saw pass: a leap would otherwise buy the rating times the leap.
        span = now - self._now + self.lead
        if self.readings and not self._rebase and (
                (not adjusted and r[_T] - self.reading[_T] > span)
                or (self._mono >= 0 and r[_MONO] - self._mono > span)):
            return R_AHEAD
        pm = self.pmax_w
        if not 0 <= r[_IMPORT_W] <= pm or not 0 <= r[_EXPORT_W] <= pm:
            return R_POWER
        ph = self.phase_max_w
        for k in range(3):
            if k >= self.phases:
                ph = 0
            if (not 0 <= r[_PHASE_IMPORT_W + k] <= ph or not 0 <= r[_PHASE_EXPORT_W + k] <= ph
                    or not 0 <= r[_CURRENT_MA + k] <= (self.imax_ma if ph else 0)):
                return R_POWER
        for k in range(4):
            v = r[_WH + k] + self.offset[k]
            if not self._rebase and not 0 <= v <= _BIG:
                return R_RANGE
        if self.readings == 0 or self._rebase:
            if self.restored and not self._rebase:  # not below what comms served before
                for k in range(4):
                    if r[_WH + k] + self.offset[k] < self.reading[_WH + k]:
                        return R_BACKWARDS
            return -1
        m = self._mod
        for k in range(4):
            if r[_WH + k] < m[k]:
                return R_BACKWARDS
        dt = r[_T] - self.reading[_T]
        mono = r[_MONO]
        if mono > self._mono and (back or adjusted or mono - self._mono < dt):
            dt = mono - self._mono
        if dt > span:
            dt = span
        a = self._allow(dt)
        d1 = r[_WH] - m[0]
        d2 = r[_WH + 2] - m[2]
        if d1 > a or d2 > a:
            return R_JUMP
        if d1 + r[_WH + 1] - m[1] > a or d2 + r[_WH + 3] - m[3] > a:
            return R_JUMP
        return -1

    def _repeat(self, r):
        """r is the newest accepted reading once more (every field, registers in module units)."""
        if not self.readings or self._rebase or r[_MONO] != self._mono:
            return False
        s = self.reading
        m = self._mod
        for k in range(_FIELDS):
            v = m[k - _WH] if _WH <= k < _WH + 4 else s[k]
            if r[k] != v:
                return False
        return True

    def take_reading(self, r, now):
        """Judge reading r (contract.reading layout); True when accepted and served."""
        if self._repeat(r):
            self.repeats += 1
            return False
        why = self._check_reading(r, now)
        self._mono_seen = r[_MONO]
        if why >= 0:
            self.counts[why] += 1
            if why != self._refusing:
                self._refusing = why
                self.log(now, EV_REFUSED_READING, why)
            return False
        self._refusing = -1
        s = self.reading
        if self.readings and (r[_STATUS] & _CLOCK_ADJUSTED or (
                not self._rebase and 0 <= self._mono < r[_MONO]
                and r[_T] - s[_T] != r[_MONO] - self._mono)):  # an unflagged set after a gap
            self.log(now, EV_CLOCK_SET, r[_T] - s[_T])
        off = self.offset
        m = self._mod
        if self._rebase:
            self._rebase = False
            for k in range(4):
                off[k] = s[_WH + k] - r[_WH + k]
                self.swap_served[k] = s[_WH + k]
                self.swap_module[k] = r[_WH + k]
            self.swap_t = r[_T]
            self._cap_floor = r[_T]
            self.log(now, EV_REBASE, off[0])
        for k in range(_FIELDS):
            s[k] = r[k]
        for k in range(4):
            m[k] = r[_WH + k]
            s[_WH + k] = r[_WH + k] + off[k]
        self._mono = r[_MONO]
        self._now = now
        self.readings += 1
        return True

    # -- captures -------------------------------------------------------------------------------
    def _check_capture(self, c):
        if c[_C_STATUS] & ~_CAPTURE_STATUS:
            return C_BITS
        t = c[_C_T]
        if t % _PERIOD:
            return C_QUARTER
        last = self.capture
        back = False
        if self.captures and t <= last[_C_T]:
            if not c[_C_STATUS] & _CLOCK_ADJUSTED:  # a clock set back may repeat a time
                return C_TIME
            back = True
        s = self.reading
        if t > s[_T] + self.tolerance:
            return C_FUTURE
        off = self.offset
        for k in range(4):
            v = c[_C_WH + k] + off[k]
            if self.captures and v < last[_C_WH + k]:
                return C_BELOW
            if v > s[_WH + k]:
                return C_ABOVE
        if self.captures and not back:
            a = self._allow(t - last[_C_T])
            if (c[_C_WH] + off[0] - last[_C_WH] + c[_C_WH + 1] + off[1] - last[_C_WH + 1] > a
                    or c[_C_WH + 2] + off[2] - last[_C_WH + 2] + c[_C_WH + 3] + off[3]
                    - last[_C_WH + 3] > a):
                return C_JUMP
        return -1

    def take_capture(self, c, now):
        """Judge capture c (contract.link CAP_* layout); True when newly accepted."""
        if self.readings == 0 or self._rebase:
            self.waiting += 1
            return False
        i = c[_C_INDEX]
        nxt = self.next
        t = c[_C_T]
        ahead = t - self.reading[_T]
        if (0 < ahead <= self.tolerance + _PERIOD and (i == nxt or nxt < 0) and t % _PERIOD == 0
                and not c[_C_STATUS] & ~_CAPTURE_STATUS):
            self.early += 1  # its second's reading was lost: wait for one that covers it
            return False
        if nxt < 0:
            if t < self._cap_floor or (self.captures and t <= self.capture[_C_T]):
                self.behind += 1
                return False
        elif i < nxt:
            self.behind += 1
            return False
        elif i == nxt and c[_C_T] < self._cap_floor:  # held already (restart) or before a swap
            self.next = i + 1
            self.behind += 1
            return False
        elif i > nxt:
            if i - nxt < self.ring:
                self.ahead += 1
                return False
            self._flag |= DATA_NOT_VALID
            self.log(now, EV_CAPTURE_GAP, i - nxt)
        self.next = i + 1
        self._cap_floor = -1
        why = self._check_capture(c)
        if why >= 0:
            self.counts[why] += 1
            self._flag |= DATA_NOT_VALID
            self.log(now, EV_REFUSED_CAPTURE, why)
            return False
        out = self.capture
        out[_C_INDEX] = i
        out[_C_T] = c[_C_T]
        out[_C_STATUS] = c[_C_STATUS] | self._flag
        for k in range(4):
            out[_C_WH + k] = c[_C_WH + k] + self.offset[k]
        self._flag = 0
        self.captures += 1
        return True

    def start_at(self, index):
        """Judge captures in index order from `index` on (the oldest the metering module still
        holds), skipping those older than the floor (resume_floor, or the rebasing reading)."""
        if self.next < 0:
            self.next = index

    def resume_floor(self, t, status, wh):
        """After a restart of the comms module: its profile copy ends with capture (t, status,
        wh) in served units; take up only captures after it, and serve nothing below it."""
        c = self.capture
        c[_C_T] = t
        c[_C_STATUS] = status
        for k in range(4):
            c[_C_WH + k] = wh[k]
            self.reading[_WH + k] = wh[k]
        self.captures = 1
        self._cap_floor = t + 1
        self.restored = True

    def restore_module(self, supplier, serial, swaps, offsets):
        """After a restart of the comms module: the metering module it knew and the offsets it
        served with (kept on its flash), so a module swapped while comms was off is noticed."""
        self.known = True
        for k in range(3):
            self.supplier[k] = supplier[k]
        for k in range(16):
            self.serial[k] = serial[k]
        self.swaps = swaps
        for k in range(4):
            self.offset[k] = offsets[k]
        self.fw[0] = -1  # its firmware version is not kept: the next identity states it

    def heard(self, now):
        """A frame arrived that is not judged here (a capture copy): the link is alive."""
        if self.silent:
            self.silent = False
            self.log(now, EV_LINK_BACK, now - self._heard)
        self._heard = now

    # -- identity -------------------------------------------------------------------------------
    def take_identity(self, supplier, serial, ident, now):
        """Judge an identity (decoder.supplier, .serial, .identity); False on a module swap."""
        self.ring = ident[_ID_RING]
        if not self.known:
            self.known = True
            self._remember(supplier, serial, ident)
            return True
        same = True
        for k in range(3):
            if supplier[k] != self.supplier[k]:
                same = False
        for k in range(16):
            if serial[k] != self.serial[k]:
                same = False
        if not same:
            self.swaps += 1
            self.log(now, EV_MODULE_SWAP, self.swaps)
            self._remember(supplier, serial, ident)
            if self.readings or self.restored:
                self._rebase = True
            self.next = -1
            self._mono = -1
            self._flag |= DATA_NOT_VALID
            return False
        fw = self.fw
        if fw[0] != ident[_ID_FW] or fw[1] != ident[_ID_FW + 1] or fw[2] != ident[_ID_FW + 2]:
            if fw[0] >= 0:  # (after a restart of comms the version is learnt, not changed)
                self.log(now, EV_FIRMWARE, (ident[_ID_FW] << 16) | (ident[_ID_FW + 1] << 8)
                         | ident[_ID_FW + 2])
            for k in range(3):
                fw[k] = ident[_ID_FW + k]
        return True

    def _remember(self, supplier, serial, ident):
        for k in range(3):
            self.supplier[k] = supplier[k]
        for k in range(16):
            self.serial[k] = serial[k]
        for k in range(3):
            self.fw[k] = ident[_ID_FW + k]
