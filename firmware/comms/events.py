# meterkast: the comms module's event logs on its own flash: what P3 serves as the standard event
# log (0-0:99.98.0.255) and the power-failure event log (1-0:99.97.0.255)
# MIT license
#
# What is logged (IDIS / DSMR event codes), and where it comes from: all of it is what comms
# believes, never a claim of the metering module.
#   power down (1) / up (2)      the metering module's power-failure counters and its log of long
#                                failures (contract.reading, through the link): a long failure is
#                                logged down at end - duration and up at end, and in the power-
#                                failure log as (end, duration); a short one (counted, not in its
#                                log) down and up both at the time of the first reading that
#                                shows it (its start is not sent over the link)
#   clock adjusted: old time (4) the link guard's clock-set event: every move of the RTC, whoever
#   and new time (5)             made it (a P3 SET, the `clock` command, the metering board)
#   association authentication   refused associations (comms.dlms.server on_refuse, and a wrong
#   failure (46), decryption or  HLS pass 3): an unknown client title, a wrong authentication
#   authentication failure (49), value or HLS answer (46), an AARQ that does not decipher (49),
#   replay attack (50)           a client counter not above the last accepted (50: the head-end
#                                resynchronises from 0-0:43.1.1.255). IDIS keeps these in a
#                                fraud detection log, which this meter does not have.
#   global key(s) changed (48)   a global_key_transfer persisted (comms.dlms.association)
#   manufacturer specific        230-239 the link guard's events (_LINK_CODES: module swap, link
#                                silent and back, module restart, damaged frames, value errors,
#                                lost frames, firmware change, capture gap, rebase); 240 + reason:
#                                its refusals (comms.link.guard R_*, C_*); 254 the meter's own
#                                management counter resumed above the keys' record at start
# Codes 46, 49, 50 and 230-253 reach the log at most once per code per minute: a noisy link or
# a hostile client cannot wipe the log, nor wear the flash, by repeating them.
#
# Storage: contract.layout's EVENT_* layout, one file preallocated at first start and rewritten
# one 24-byte record per event. A torn record is lost alone (and skipped when read). A power
# failure is written as its standard events first, then the record saying it is logged (its
# power-failure entry, or the state slot with the counters): after a cut in between, the same
# reading comes again and only what is missing of it is written (_failure).
import os
import struct
from array import array
from binascii import crc32

from comms.link import guard as lg
from contract import reading as rd
from contract.layout import (
    EVENT_BODY,
    EVENT_FILE,
    EVENT_FMT,
    EVENT_POWER,
    EVENT_POWER_ENTRIES,
    EVENT_SIZE,
    EVENT_STANDARD,
    EVENT_STANDARD_ENTRIES,
    EVENT_STATE,
    EVENT_STATE_SLOTS,
)
from micropython import const

_POWER_DOWN = const(1)
_POWER_UP = const(2)
_CLOCK_OLD = const(4)
_CLOCK_NEW = const(5)
_AUTHENTICATION_FAILURE = const(46)
_KEYS_CHANGED = const(48)
_DECIPHERING_FAILURE = const(49)
_REPLAY_ATTACK = const(50)
_LINK_REFUSAL = const(240)  # + the guard's reason (R_* and C_*: 0 .. 13)
_COUNTER_RESUMED = const(254)
# link guard event code -> standard event code (0: not logged this way)
_LINK_CODES = bytes((0, 0, 0, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 0))
_QUIET_S = const(60)
_ACSE_AUTHENTICATION_FAILURE = const(13)
_ACSE_UNKNOWN_TITLE = const(3)
_FILE_SIZE = EVENT_SIZE * (EVENT_STATE_SLOTS + EVENT_STANDARD_ENTRIES + EVENT_POWER_ENTRIES)


class EventRing:
    """One region of the file as a profile's rows (comms.dlms.profile_buffer's contract):
    entries_in_use(), capacity, read(index, out) with out = [t, code or duration]."""

    def __init__(self, log, region, base, capacity):
        self.log = log
        self.region = region
        self.base = base  # first slot
        self.capacity = capacity
        self.written = 0  # records ever written to this region (the next record's number)

    def entries_in_use(self):
        return self.written if self.written < self.capacity else self.capacity

    def read(self, index, out):
        """Entry `index` (0 = oldest); False when its record is torn or missing."""
        number = self.written - self.entries_in_use() + index
        if index < 0 or number >= self.written:
            return False
        v = self.log.record(self.base + number % self.capacity)
        if v is None or v[0] != number or v[2] != self.region:
            return False
        out[0] = v[1]
        out[1] = v[3] if self.region == EVENT_STANDARD else v[5]
        return True


class EventLog:
    """root: comms' flash (a directory). clock: utc() of comms (comms.link.clock)."""

    def __init__(self, root, clock):
        self.path = path = root + "/" + EVENT_FILE
        self.clock = clock
        self._rec = rec = bytearray(EVENT_SIZE)  # zeros: a blank slot (its crc does not hold)
        self._recmv = memoryview(rec)
        self.state = EventRing(self, EVENT_STATE, 0, EVENT_STATE_SLOTS)
        self.standard = EventRing(self, EVENT_STANDARD, EVENT_STATE_SLOTS, EVENT_STANDARD_ENTRIES)
        self.power = EventRing(self, EVENT_POWER, EVENT_STATE_SLOTS + EVENT_STANDARD_ENTRIES,
                               EVENT_POWER_ENTRIES)
        self.failures = -1  # power failures already logged (-1: none known yet)
        self.long_failures = -1
        self.newest_end = -1  # end of the newest long failure in the power-failure log
        self.last_code = 0  # code of the newest standard event (0-0:96.11.0.255)
        self._last_t = 0  # and its time and aux (a short failure's number)
        self._last_aux = 0
        self.errors = 0  # flash reads or writes that failed
        self._quiet = array("i", bytes(4 * 32))  # when codes 46-50 and 230-255 were logged
        self._pending = 0  # an event of the start, logged with the time of the first reading
        # preallocate the file up to its full size (whole blank records after a torn start)
        try:
            size = os.stat(path)[6]
        except OSError:
            size = 0
        try:
            if size < _FILE_SIZE:
                with open(path, "ab") as f:
                    for _ in range((_FILE_SIZE - size + EVENT_SIZE - 1) // EVENT_SIZE):
                        f.write(rec)
        except OSError:
            self.errors += 1
        # each region goes on after its newest valid record; those give the state
        for ring in (self.state, self.standard, self.power):
            newest = None
            for slot in range(ring.base, ring.base + ring.capacity):
                v = self.record(slot)
                if v is not None and v[2] == ring.region and (newest is None or v[0] > newest[0]):
                    newest = v
            if newest is None:
                continue
            ring.written = newest[0] + 1
            if ring is self.state:
                self.failures = newest[5]
                self.long_failures = newest[6]
            elif ring is self.power:
                self.newest_end = newest[1]
            else:
                self.last_code = newest[3]
                self._last_t = newest[1]
                self._last_aux = newest[6]

    # -- the file ---------------------------------------------------------------------------------
    def record(self, slot):
        """The record in `slot` as a tuple (EVENT_FMT), or None when torn, blank or unreadable."""
        rec = self._rec
        try:
            with open(self.path, "rb") as f:
                f.seek(slot * EVENT_SIZE)
                if f.readinto(rec) != EVENT_SIZE:
                    return None
        except OSError:
            self.errors += 1
            return None
        if crc32(self._recmv[:EVENT_BODY]) != struct.unpack_from("<I", rec, EVENT_BODY)[0]:
            return None
        return struct.unpack_from(EVENT_FMT, rec, 0)

    def _write(self, ring, t, code, value, aux):
        number = ring.written
        rec = self._rec
        struct.pack_into(EVENT_FMT, rec, 0, number, t, ring.region, code, 0, value, aux)
        struct.pack_into("<I", rec, EVENT_BODY, crc32(self._recmv[:EVENT_BODY]))
        ring.written = number + 1
        try:
            with open(self.path, "r+b") as f:
                f.seek((ring.base + number % ring.capacity) * EVENT_SIZE)
                f.write(rec)
        except OSError:
            self.errors += 1

    # -- events -----------------------------------------------------------------------------------
    def event(self, code, t, value=0, aux=0):
        """One entry of the standard event log."""
        self._write(self.standard, t, code, value, aux)
        self.last_code = code
        self._last_t = t
        self._last_aux = aux

    def keys_changed(self):
        """The head-end put new management keys in force (each needs the master key)."""
        self.event(_KEYS_CHANGED, self.clock.utc())

    def counter_resumed(self):
        """The management counter resumed above the keys' record at this start (a blank, copied
        or rolled-back counter state): logged once the time is known."""
        self._pending = _COUNTER_RESUMED

    def reading(self, r):
        """A reading comms believed (contract.reading layout, served registers): the power
        failures it shows that are not logged yet. Allocation-free; writes only on a change."""
        if self._pending:
            self.event(self._pending, r[rd.T])
            self._pending = 0
        n = r[rd.POWER_FAILURES]
        n_long = r[rd.LONG_POWER_FAILURES]
        for i in range(r[rd.PF_LOG_N] - 1, -1, -1):  # the metering module's log, newest first
            end = r[rd.PF_LOG + 2 * i]
            if end > self.newest_end:
                duration = r[rd.PF_LOG + 2 * i + 1]
                self._failure(end - duration, end, duration, 0)
                self._write(self.power, end, 0, duration, 0)
                self.newest_end = end
        if n == self.failures and n_long == self.long_failures:
            return
        if self.failures >= 0 and n >= self.failures and n_long >= self.long_failures:
            # the long ones are logged from the module's log above, when it arrives; a short
            # one carries its number (aux) so that it is not logged twice
            t = r[rd.T]
            first = self.failures + 1
            for number in range(first, first + (n - self.failures) - (n_long - self.long_failures)):
                self._failure(t, t, 0, number)
        # else: the first reading ever, or another metering module (its counters start anew)
        self.failures = n
        self.long_failures = n_long
        self._write(self.state, r[rd.T], 0, n, n_long)

    def _failure(self, down, up, duration, number):
        """Power down and up of one failure, the part of them not written before a cut."""
        code = self.last_code
        # a long failure is known by its times, a short one by its number (its time is that of
        # the reading that showed it, later after a restart)
        same = self._last_aux == number and (number or self._last_t == (up if code == _POWER_UP
                                                                        else down))
        if same and code == _POWER_UP:
            return
        if not (same and code == _POWER_DOWN):
            self.event(_POWER_DOWN, down, duration, number)
        self.event(_POWER_UP, up, duration, number)

    def link(self, code, detail, t):
        """An event of the link guard (comms.link.guard EV_*) that happened at meter time t."""
        if code == lg.EV_CLOCK_SET:
            self.event(_CLOCK_OLD, t - detail, detail)
            self.event(_CLOCK_NEW, t, detail)
        elif code == lg.EV_REFUSED_READING or code == lg.EV_REFUSED_CAPTURE:
            self._noisy(_LINK_REFUSAL + detail, t, detail)
        elif code < len(_LINK_CODES) and _LINK_CODES[code]:
            self._noisy(_LINK_CODES[code], t, detail)

    def _noisy(self, code, t, value):
        """An event a damaged link or a hostile peer could repeat at will: at most one per code
        per minute reaches the log (and the flash)."""
        i = code - 225 if code >= 230 else code - 46  # 46-50: 0-4; 230-255: 5-30
        last = self._quiet[i]
        if last and 0 <= t - last < _QUIET_S:
            return
        self._quiet[i] = t if t else 1
        self.event(code, t, value)

    def refused(self, diagnostic, why):
        """A refused association (comms.dlms.server on_refuse: ACSE diagnostic, why -1 the
        ciphering failed, -2 the counter was not above the last accepted)."""
        if why == -2:
            code = _REPLAY_ATTACK
        elif why == -1:
            code = _DECIPHERING_FAILURE
        elif diagnostic == _ACSE_AUTHENTICATION_FAILURE or diagnostic == _ACSE_UNKNOWN_TITLE:
            code = _AUTHENTICATION_FAILURE
        else:
            return  # not a security event (an unknown context or mechanism)
        self._noisy(code, self.clock.utc(), diagnostic)
