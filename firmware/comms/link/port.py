# meterkast: the comms module's end of the internal link: bytes in, checked values out
# MIT license
#
# The only way anything of the metering module reaches comms: bytes from the link UART (or, on a
# single board, from an in-memory channel carrying the same bytes). They go through the link
# decoder (contract.link: framing, CRCs, ranges, the two-copy confirmation of captures) and the
# guard (comms.link.guard: physics and history). What both believe becomes comms' own state:
#
#   readings  a contract.reading.ReadingQueue owned by comms: P1 and the DLMS registers read it
#   profile   comms' own durable copy of the quarter-hour profile (a util.qhstore ring on comms'
#             flash), appended strictly in capture order; P3 serves it
#   clock     comms.link.clock: the time of the newest believed reading, run on by comms' ticks
#
# Captures go to the guard in index order: from the oldest the metering module still holds
# (the reading's capture count minus the ring) once a reading was believed, each as soon as the
# profile copy has confirmed it. The guard's per-register offsets and the metering module it
# knows are kept on comms' flash ("link.st", CRC'd), so a restart of the comms module neither
# forgets a module swap nor serves a register below what it served before. The guard's events
# are reported as they are logged ({"ev":"link",...}) and stay readable in its ring; with an
# event log (comms.events) they go to the standard event log too, as do the power failures the
# believed readings show.
import struct
import sys
from array import array
from binascii import crc32

from comms.link import guard as lg
from contract.link import CAP_FIELDS, CAPTURE, READING, RING, ST_CAPTURES, LinkDecoder, ProfileCopy
from contract.reading import FIELDS
from micropython import const

_CONFIRMED = const(2)
_STATE = "/link.st"
_STATE_FMT = "<4s4i3s16si"  # magic, offsets, supplier, serial, swaps; then crc32
_STATE_SIZE = const(48)
_MAGIC = b"MKL1"
_RX_CHUNK = const(256)
_TICK_MS = const(1000)
EVENT_NAMES = ("", "refused_reading", "refused_capture", "module_swap", "link_silent",
               "link_back", "module_restart", "crc_errors", "value_errors", "frames_lost",
               "firmware", "capture_gap", "rebase", "clock_set")


class LinkPort:
    """uart: readinto(buf) -> n and async wait_rx(ms) (a PtyUart, a board UART, or the comms
    end of a MemoryLink). store: a util.qhstore.QuarterHourStore on comms' flash, or None;
    root: comms' flash root for the guard's state, or None; clock: comms.link.clock.LinkClock;
    rating: (phases, Un in 0.1 V, Imax in mA) from comms' own configuration."""

    def __init__(self, uart, readings, store, root, clock, report, rating=(3, 2300, 60000),
                 events=None):
        self.uart = uart
        self.events = events  # comms.events.EventLog, or None
        self.readings = readings
        self.store = store
        self.clock = clock
        self.report = report
        # A reading may run ahead of comms' clock by 30 s, and by two wall seconds of meter
        # time in an emulator faster than real time (readings come in bursts when metrology
        # catches up).
        self.guard = lg.LinkGuard(rating[0], rating[1], rating[2], lead=30 + 2 * int(clock.speed))
        self.copy = ProfileCopy(RING)
        self.decoder = LinkDecoder(self.copy, self._sink)
        self._c = array("i", bytes(4 * CAP_FIELDS))
        self._wh = array("i", bytes(16))
        self._ev = array("i", bytes(12))
        self._reported = 0
        self._saved = (-1, -1)
        self._state_path = root + _STATE if root is not None else None
        self._state_buf = bytearray(_STATE_SIZE)
        self._buf = bytearray(_RX_CHUNK)
        self.errors = 0
        self.stored = 0  # captures appended to comms' profile
        self._restore()

    # -- what was kept on comms' flash ----------------------------------------------------------
    def _restore(self):
        g = self.guard
        st = self.store
        if st is not None and st.newest_t >= 0:
            row = [0] * 6
            for i in range(st.entries_in_use() - 1, -1, -1):
                if st.read(i, row):
                    g.resume_floor(row[0], row[1], row[2:6])
                    break
        if self._state_path is None:
            return
        b = self._state_buf
        try:
            with open(self._state_path, "rb") as f:
                n = f.readinto(b)
        except OSError:
            return
        body = _STATE_SIZE - 4
        if n != _STATE_SIZE or crc32(memoryview(b)[:body]) != struct.unpack_from("<I", b, body)[0]:
            self.report.log("warning", "link state on the comms flash is damaged: ignored")
            return
        v = struct.unpack_from(_STATE_FMT, b, 0)
        if v[0] == _MAGIC:
            g.restore_module(v[5], v[6], v[7], v[1:5])
            self._saved = (g.swaps, g.offset[0])

    def _save(self):
        g = self.guard
        key = (g.swaps, g.offset[0])
        if self._state_path is None or key == self._saved:
            return
        self._saved = key
        b = self._state_buf
        o = g.offset
        struct.pack_into(_STATE_FMT, b, 0, _MAGIC, o[0], o[1], o[2], o[3], bytes(g.supplier),
                         bytes(g.serial), g.swaps)
        struct.pack_into("<I", b, _STATE_SIZE - 4, crc32(memoryview(b)[:_STATE_SIZE - 4]))
        try:
            with open(self._state_path, "wb") as f:
                f.write(b)
        except OSError as e:
            self.report.log("error", "link state not saved: %s" % e)

    # -- frames ---------------------------------------------------------------------------------
    def _sink(self, typ):
        now = self.clock.mono()
        g = self.guard
        dec = self.decoder
        if typ == CAPTURE:
            g.heard(now)
            c = self._c
            i = dec.capture[0]
            if g.next >= 0 and i - g.next >= g.ring and self.copy.get(i, c) == _CONFIRMED:
                g.take_capture(c, now)  # what the guard waits for has left the sender's ring
            self._captures(now)
            return
        swaps = g.swaps
        ok = g.take(dec, typ, now)
        if g.swaps != swaps:  # another module: its capture indices name other captures
            self.copy.clear()
        if typ == READING and ok:
            q = self.readings
            b = q.buf
            o = q.write_slot()
            r = g.reading
            for k in range(FIELDS):
                b[o + k] = r[k]
            q.commit()
            self.clock.set(r[0])
            if self.events is not None:
                self.events.reading(r)  # power failures not logged yet
            if g.next < 0:
                n = dec.status[ST_CAPTURES]
                if n > 0:
                    g.start_at(n - g.ring if n > g.ring else 0)
            self._captures(now)
        if g.known:
            self._save()

    def _captures(self, now):
        """Hand the guard every confirmed capture it waits for, in order; keep those it takes."""
        g = self.guard
        c = self._c
        while g.next >= 0 and self.copy.get(g.next, c) == _CONFIRMED:
            nxt = g.next
            if g.take_capture(c, now):
                cap = g.capture
                wh = self._wh
                for k in range(4):
                    wh[k] = cap[3 + k]
                if self.store is not None:
                    try:
                        self.store.append(cap[1], cap[2], wh)
                    except OSError as e:
                        self.report.log("error", "comms profile copy: %s" % e)
                self.stored += 1
            elif g.next == nxt:
                return

    def _report_events(self):
        g = self.guard
        first = g.logged - g.held
        if self._reported < first:
            self._reported = first
        ev = self._ev
        while self._reported < g.logged:
            g.event(self._reported - first, ev)
            self._reported += 1
            code = ev[1]
            name = EVENT_NAMES[code] if code < len(EVENT_NAMES) else "event"
            if self.events is not None:  # at the meter time of the event (now is mono)
                clock = self.clock
                t = clock.utc() - (clock.mono() - ev[0]) if clock.valid() else 0
                self.events.link(code, ev[2], t)
            self.report.line('{"ev":"link","what":"%s","detail":%d,"at":%d}' % (name, ev[2], ev[0]))

    def poll(self):
        """Read what the link has and decode it; True when bytes arrived."""
        n = self.uart.readinto(self._buf)
        if n:
            self.feed(self._buf, n)
        return n > 0

    def feed(self, buf, n):
        try:
            self.decoder.feed(buf, n)
        except Exception as e:  # never expected (decoder and guard do not raise): count, go on
            self.errors += 1
            sys.print_exception(e)

    def tick(self):
        """About once a second: the guard's silence and error accounting, events out."""
        self.guard.tick(self.decoder, self.clock.mono())
        self._report_events()

    async def run(self):
        last = -1
        while True:
            while self.poll():
                pass
            now = self.clock.mono()
            if now != last:
                last = now
                self.tick()
            elif self.guard.logged != self._reported:
                self._report_events()
            await self.uart.wait_rx(_TICK_MS)
