# meterkast tests: a hostile metering module on the real internal link (docs/link.md)
# MIT license
#
# MicroPython. The emulator runs it in place of firmware/main.py for the metering process
# (Emulator(..., modules="two", metering_main=this file)); it gets the metering module's options
# (--ctl, --link, --start, --speed, --seed, ...). It builds its frames itself, from docs/link.md
# alone, and writes them to the link line at a steady pace: every tick (STEP meter seconds, sent
# every STEP * 1000 / speed ms) the frames of an honest meter (identity, status, reading, one
# capture of a repetition cycle), and, in phases, every lie a metering module can tell:
#
#   fuzz       garbage bytes, frames with flipped bits, random bodies (bad and good CRCs),
#              wrong lengths, truncated and unknown frames, fields out of range
#   readings   registers going backwards, 10 MW of power, energy jumps of megawatt-hours
#   captures   off the quarter hour, in the future, times not rising, registers below the
#              previous capture, above the newest reading, grown faster than the rating allows;
#              each (but the one off the quarter hour) then held and repeated like an honest one
#   replays    earlier frames, byte for byte
#   flood      a few hundred frames back to back
#   swap       an identity with another supplier and serial, readings of that module, then the
#              first identity again
#
# Honest readings go on between the lies, so the comms module has something true to serve.
# Everything is deterministic (a seeded LCG). Stdout, one JSON object a line, for the host test:
#   {"ev":"plan",...}            start, first quarter hour, tick, phase times (meter epoch)
#   {"ev":"honest","t":..,"reg":[4],"imp_w":..,"exp_w":..}   every honest reading sent
#   {"ev":"honest_capture","index":..,"t":..,"reg":[4]}      every honest capture made
#   {"ev":"foreign","t":..,"reg":[4],"honest":[4],...}       readings of the swapped-in module
#                                  (and what the honest one, unplugged, would carry meanwhile)
#   {"ev":"attack","what":..,"t":..}                          every attack, when it is sent
#   {"ev":"hostile_done","t":..}   the plan is over; honest frames go on until "stop"
# The environment variable HOSTILE_PLAN selects another plan: "leap" (honest, then one reading
# whose time and mono both leap a year ahead with a year's worth of energy at the rating).
import os
import struct
import sys
import time

from hal.unix.control import ControlLine
from hal.unix.uart import PtyUart
from util.tz import parse_iso

STEP = 5  # meter seconds a tick
READING = 0x52
CAPTURE = 0x43
IDENTITY = 0x49
STATUS = 0x53
LEN = {READING: 114, CAPTURE: 25, IDENTITY: 39, STATUS: 96}
READING_FMT = "<IIBBIIIIIII3I3I3H3IHII3I3I"
IMPORT_W = 27000  # 9 kW a phase: 39 A at 230 V, within the 5(60) A rating
SUPPLIER = b"HST"
SERIAL = b"H0000001"
FOREIGN_SUPPLIER = b"EVL"
FOREIGN_SERIAL = b"EVIL0001"
WALL_LIMIT_MS = 150000  # stop on our own after this long, whatever happens

# The plan, in meter seconds after the first quarter hour Q0 (each a multiple of STEP)
FUZZ = (60, 300)
READ_ATTACKS = (300, 600)
REPLAYS = (600, 780)
FLOOD = 800
SWAP = 1620
FOREIGN = (1625, 1700)
SWAP_BACK = 1705
DONE = 1980


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc_table()


def crc(b, start, end):
    c = 0xFFFF
    for i in range(start, end):
        c = (c >> 8) ^ _T[(c ^ b[i]) & 0xFF]
    return c ^ 0xFFFF


class Lcg:
    def __init__(self, seed):
        self.s = (seed * 2654435761 + 12345) & 0x7FFFFFFF

    def next(self):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return self.s >> 7

    def below(self, n):
        return self.next() % n

    def bytes(self, n):
        return bytes(self.below(256) for _ in range(n))


class Framer:
    """Frames as docs/link.md section 2 has them; one sequence counter for all of them."""

    def __init__(self):
        self.seq = 0

    def frame(self, typ, body, ln=None, version=1, seq=None, fcs_ok=True):
        if seq is None:
            seq = self.seq
            self.seq = (self.seq + 1) & 0xFFFF
        n = len(body)
        f = bytearray(12 + n)
        f[0] = 0xA5
        f[1] = 0x3C
        f[2] = typ
        f[3] = version
        f[4] = (n if ln is None else ln) & 0xFF
        f[5] = seq & 0xFF
        f[6] = (seq >> 8) & 0xFF
        c = crc(f, 0, 7)
        f[7] = c & 0xFF
        f[8] = c >> 8
        f[9 : 9 + n] = body
        c = crc(f, 0, 9 + n)
        if not fcs_ok:
            c ^= 0x1234
        f[9 + n] = c & 0xFF
        f[10 + n] = c >> 8
        f[11 + n] = 0x5A
        return f


def reading_body(t, mono, wh, captures, status=0, tariff=1, imp_w=IMPORT_W, exp_w=0,
                 phase_w=None, current_ma=None):
    if phase_w is None:
        phase_w = imp_w // 3
    if current_ma is None:
        current_ma = phase_w * 1000 // 230
    return struct.pack(READING_FMT, t, mono, status, tariff, imp_w, exp_w, wh[0], wh[1], wh[2],
                       wh[3], captures, phase_w, phase_w, phase_w, 0, 0, 0, 2301, 2298, 2305,
                       current_ma, current_ma, current_ma, 50012, 0, 0, 0, 0, 0, 0, 0, 0)


def capture_body(index, t, status, wh):
    return struct.pack("<IIBIIII", index, t, status, wh[0], wh[1], wh[2], wh[3])


def identity_body(supplier, serial, mono, phases=3, ring=96):
    return struct.pack("<3s16s3B4sBHIHI", supplier, serial + bytes(16 - len(serial)), 1, 0, 0,
                       b"HST1", phases, 2300, 60000, ring, mono)


def status_body(t, mono, captures, status=0, health=0):
    return struct.pack("<IIBBHI", t, mono, status, 0, health, captures) + bytes(80)


def jl(**kw):
    """One JSON line on stdout (values: int, str or lists of ints)."""
    parts = []
    for k in sorted(kw):
        v = kw[k]
        if isinstance(v, str):
            parts.append('"%s":"%s"' % (k, v))
        elif isinstance(v, (list, tuple)):
            parts.append('"%s":[%s]' % (k, ",".join("%d" % x for x in v)))
        else:
            parts.append('"%s":%d' % (k, v))
    sys.stdout.write("{" + ",".join(parts) + "}\n")


class Hostile:
    def __init__(self, start, seed, plan):
        self.rng = Lcg(seed)
        self.fr = Framer()
        self.plan = plan
        self.start = start
        self.q0 = (start // 900 + 1) * 900
        assert (self.q0 - start) % STEP == 0 and 900 % STEP == 0
        self.t = start
        self.mono = 0
        self.tick = 0
        self.wh = [1234567, 2345678, 345678, 123456]
        self.fwh = [8000000, 7000000, 10, 20]  # the foreign module's registers
        self.rem = 0
        self.ring = []  # captures held for repetition, lies included: (index, t, status, wh)
        self.index = 0  # the next capture index this module hands out
        self.k = 0  # capture frames sent
        self.walk = 0
        self.saved = None  # an earlier tick's bytes, for the replays
        self.out = bytearray()
        self.foreign = False
        self.lie = None

    # -- the honest meter ------------------------------------------------------------------------
    def tariff(self):
        return 1 + (self.t // 900) % 2

    def advance(self):
        self.tick += 1
        self.t += STEP
        self.mono += STEP
        self.rem += IMPORT_W * STEP
        d = self.rem // 3600
        self.rem -= d * 3600
        self.wh[self.tariff() - 1] += d
        self.fwh[self.tariff() - 1] += d

    def honest_capture(self):
        c = (self.index, self.t, 0, list(self.wh))
        self.index += 1
        self.ring.append(c)
        jl(ev="honest_capture", index=c[0], t=c[1], reg=c[3])

    def honest_reading(self):
        jl(ev="honest", t=self.t, reg=self.wh, imp_w=IMPORT_W, exp_w=0, tar=self.tariff())
        return self.fr.frame(READING, reading_body(self.t, self.mono, self.wh, self.index,
                                                   tariff=self.tariff()))

    def next_capture(self):
        """The repetition cycle: even frames the newest, odd ones walk all held captures."""
        if not self.ring:
            return b""
        if self.k & 1 == 0:
            c = self.ring[-1]
        else:
            self.walk = (self.walk + 1) % len(self.ring)
            c = self.ring[len(self.ring) - 1 - self.walk]
        self.k += 1
        return self.fr.frame(CAPTURE, capture_body(c[0], c[1], c[2], c[3]))

    def honest_frames(self, before_reading=None):
        """This tick's honest frames, the reading last but for one capture; before_reading(f)
        may put lies in front of the reading frame f (already numbered)."""
        o = self.out
        if self.tick % 24 == 0:
            o += self.fr.frame(IDENTITY, identity_body(SUPPLIER, SERIAL, self.mono))
        if self.tick % 4 == 0:
            o += self.fr.frame(STATUS, status_body(self.t, self.mono, self.index))
        f = self.honest_reading()
        if before_reading is not None:
            before_reading(f)
        o += f
        o += self.next_capture()

    # -- lies ------------------------------------------------------------------------------------
    def attack(self, what, **kw):
        jl(ev="attack", what=what, t=self.t, **kw)

    def lie_reading(self, what, wh=None, **kw):
        self.attack(what)
        self.out += self.fr.frame(READING, reading_body(self.t, self.mono, wh or self.wh,
                                                        self.index, tariff=self.tariff(), **kw))

    @staticmethod
    def _less(wh):
        """Import T1 below the first capture's."""
        return [wh[0] - 10, wh[1], wh[2], wh[3]]

    @staticmethod
    def _more(wh):
        """Import T2 far above the newest reading's."""
        return [wh[0], wh[1] + 100000, wh[2], wh[3]]

    def lie_capture(self, what, index, t, wh, status=0):
        self.attack(what, index=index)
        self.out += self.fr.frame(CAPTURE, capture_body(index, t, status, wh))

    def fuzz(self, reading_frame):
        """One kind of damage a tick, in turn; reading_frame is this tick's honest reading."""
        rng = self.rng
        o = self.out
        kind = self.tick % 12
        n = 30 + rng.below(170)
        g = bytearray(rng.bytes(n))
        for _ in range(rng.below(4)):
            p = rng.below(n - 1)
            g[p] = 0xA5
            g[p + 1] = 0x3C
        o += g
        self.attack("garbage", n=n)
        seq = reading_frame[5] | (reading_frame[6] << 8)
        if kind == 0:  # the honest reading with one bit flipped, then the right one
            f = bytearray(reading_frame)
            bit = rng.below(8 * len(f))
            f[bit // 8] ^= 1 << (bit % 8)
            o += f
            self.attack("bit_flip", bit=bit)
        elif kind == 1:  # valid header, random body, FCS wrong
            o += self.fr.frame(READING, rng.bytes(114), seq=seq, fcs_ok=False)
            self.attack("bad_fcs")
        elif kind == 2:  # every check right, a random body: values out of range
            self._renumber(reading_frame)
            o += self.fr.frame(READING, rng.bytes(114), seq=seq)
            self.attack("random_reading")
        elif kind == 3:
            self._renumber(reading_frame)
            o += self.fr.frame(CAPTURE, rng.bytes(25), seq=seq)
            self.attack("random_capture")
        elif kind == 4:  # tariff 3
            self._renumber(reading_frame)
            o += self.fr.frame(READING, reading_body(self.t, self.mono, self.wh, self.index,
                                                     tariff=3), seq=seq)
            self.attack("bad_tariff")
        elif kind == 5:  # an undefined status bit
            self._renumber(reading_frame)
            o += self.fr.frame(READING, reading_body(self.t, self.mono, self.wh, self.index,
                                                     status=0x40), seq=seq)
            self.attack("bad_status")
        elif kind == 6:  # a u32 with its top bit set (a negative power)
            self._renumber(reading_frame)
            o += self.fr.frame(READING, reading_body(self.t, self.mono, self.wh, self.index,
                                                     imp_w=0x80000000 | 5000), seq=seq)
            self.attack("negative_power")
        elif kind == 7:  # a lower-case supplier
            self._renumber(reading_frame)
            o += self.fr.frame(IDENTITY, identity_body(b"hst", SERIAL, self.mono), seq=seq)
            self.attack("bad_identity")
        elif kind == 8:  # wrong length for the type, header CRC right
            o += self.fr.frame(READING, rng.bytes(100), seq=seq)
            self.attack("bad_length")
        elif kind == 9:  # a frame cut short: the next frame starts where its body goes on
            o += self.fr.frame(READING, rng.bytes(114), seq=seq)[: 20 + rng.below(90)]
            self.attack("truncated")
        elif kind == 10:  # a type this version does not know
            self._renumber(reading_frame)
            o += self.fr.frame(0x58, rng.bytes(40), seq=seq)
            self.attack("unknown_type")
        else:  # a status frame with a log longer than 10 entries
            self._renumber(reading_frame)
            body = bytearray(status_body(self.t, self.mono, self.index))
            body[9] = 11
            o += self.fr.frame(STATUS, body, seq=seq)
            self.attack("bad_status_frame")

    def _renumber(self, f):
        """An intact frame goes in front of f with f's number: f takes the next one."""
        seq = self.fr.seq
        self.fr.seq = (seq + 1) & 0xFFFF
        f[5] = seq & 0xFF
        f[6] = (seq >> 8) & 0xFF
        c = crc(f, 0, 7)
        f[7] = c & 0xFF
        f[8] = c >> 8
        n = len(f) - 12
        c = crc(f, 0, 9 + n)
        f[9 + n] = c & 0xFF
        f[10 + n] = c >> 8

    def read_attack(self):
        kind = self.tick % 4
        if kind == 0:
            wh = list(self.wh)
            wh[0] -= 1000
            self.lie_reading("backwards", wh)
        elif kind == 1:
            self.lie_reading("power", imp_w=10000000, phase_w=3333333, current_ma=14492753)
        elif kind == 2:
            wh = list(self.wh)
            if self.tick % 8 == 2:
                wh[1] += 5000000
            else:
                wh[2] += 1000000000
            self.lie_reading("jump", wh)

    def flood(self):
        o = self.out
        n = 0
        last = b""
        for i in range(200):
            k = i % 5
            if k == 0:
                last = self.fr.frame(READING, reading_body(self.t, self.mono, self.wh,
                                                           self.index, tariff=self.tariff()))
            elif k == 1:
                last = self.fr.frame(STATUS, status_body(self.t, self.mono, self.index))
            elif k == 2:
                last = self.fr.frame(IDENTITY, identity_body(SUPPLIER, SERIAL, self.mono))
            elif k == 3:
                last = self.next_capture()
            o += last  # k == 4: the previous frame again, a duplicate
            n += 1
        self.attack("flood", frames=n)

    # -- one tick --------------------------------------------------------------------------------
    def step(self):
        self.out = bytearray()
        rel = self.t - self.q0
        if self.plan == "leap":
            self.step_leap(rel)
        else:
            self.step_full(rel)
        return self.out

    def step_full(self, rel):
        wh = self.wh
        # At Q1 the module makes no honest capture: the indices after Q0's go to lies about Q1
        if rel >= 0 and rel % 900 == 0 and rel != 900:
            self.honest_capture()
        if rel == SWAP:
            self.foreign = True
            self.attack("swap")
            self.out += self.fr.frame(IDENTITY, identity_body(FOREIGN_SUPPLIER, FOREIGN_SERIAL,
                                                              self.mono))
        if self.foreign:
            if FOREIGN[0] <= rel <= FOREIGN[1]:
                jl(ev="foreign", t=self.t, reg=self.fwh, honest=self.wh, imp_w=IMPORT_W)
                self.out += self.fr.frame(READING, reading_body(self.t, self.mono, self.fwh, 0,
                                                                tariff=self.tariff()))
            if rel == SWAP_BACK:
                self.foreign = False
                self.attack("swap_back")
                self.out += self.fr.frame(IDENTITY, identity_body(SUPPLIER, SERIAL, self.mono))
            return
        # captures: each lie sent three times, identical, so the comms profile copy confirms it
        q0 = self.q0
        for first, what, t, regs in (
                (100, "capture_off_quarter", q0 + 450, wh),
                (120, "capture_time", q0, self.ring[0][3] if self.ring else wh),
                (140, "capture_future", q0 + 20 * 900, wh),
                (905, "capture_below", q0 + 900, self._less(self.ring[0][3] if self.ring else wh)),
                (920, "capture_above", q0 + 900, self._more(wh)),
                (1560, "capture_jump", q0 + 900, wh)):
            if rel == first:
                self.lie = (what, self.index, t, list(regs))
                if what != "capture_off_quarter":  # held, and repeated like any capture
                    self.ring.append((self.index, t, 0, list(regs)))
            if first <= rel <= first + 2 * STEP:
                self.lie_capture(*self.lie)
            if rel == first + 2 * STEP and what != "capture_off_quarter":
                self.index += 1  # that index is spent (not by the capture off the quarter
                # hour: the link refuses it as a value, the comms module never hears its index)
        if rel == 30:
            self.honest_frames()
            self.saved = bytes(self.out)
            return
        if REPLAYS[0] <= rel < REPLAYS[1] and rel % 15 == 0:
            self.attack("replay", n=len(self.saved))
            self.out += self.saved
        if READ_ATTACKS[0] <= rel < READ_ATTACKS[1]:
            self.read_attack()
        if FUZZ[0] <= rel < FUZZ[1]:
            self.honest_frames(self.fuzz)
        else:
            self.honest_frames()
        if rel == FLOOD:
            self.flood()
        if rel == DONE:
            jl(ev="hostile_done", t=self.t)

    def step_leap(self, rel):
        """Honest, then a reading a year ahead in time and mono, with a year at the rating."""
        if rel >= 0 and rel % 900 == 0:
            self.honest_capture()
        if rel == 300:
            year = 365 * 86400
            wh = list(self.wh)
            wh[0] += 43000 * year // 3600  # below 3 x 230 V x 60 A x 1.05 = 43,470 W
            self.attack("leap", s=year)
            self.out += self.fr.frame(READING, reading_body(self.t + year, self.mono + year, wh,
                                                            self.index, tariff=self.tariff()))
        self.honest_frames()
        if rel == 400:
            jl(ev="hostile_done", t=self.t)


def _options(argv):
    opts = {"--speed": "1", "--seed": "1", "--start": None, "--link": None, "--ctl": None}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in opts and i + 1 < len(argv):
            opts[a] = argv[i + 1]
            i += 2
        else:
            i += 1
    return opts


def main(argv):
    opts = _options(argv)
    speed = float(opts["--speed"])
    start = parse_iso(opts["--start"] or "2024-03-11T21:59:00Z")
    start -= start % STEP
    link = PtyUart(opts["--link"])
    ctl = ControlLine(opts["--ctl"]) if opts["--ctl"] else None
    plan = os.getenv("HOSTILE_PLAN") or "full"
    h = Hostile(start, int(opts["--seed"]), plan)
    tick_ms = max(1, int(STEP * 1000 / speed))
    jl(ev="plan", plan=plan, start=start, q0=h.q0, step=STEP, tick_ms=tick_ms, swap=h.q0 + SWAP,
       swap_back=h.q0 + SWAP_BACK, done=h.q0 + DONE)
    t0 = time.ticks_ms()
    due = t0
    while time.ticks_diff(time.ticks_ms(), t0) < WALL_LIMIT_MS:
        buf = h.step()
        if buf:
            link.write(buf, len(buf))
        h.advance()
        if ctl is not None and ctl.poll() == "stop":
            break
        due = time.ticks_add(due, tick_ms)
        wait = time.ticks_diff(due, time.ticks_ms())
        if wait > 0:
            time.sleep_ms(wait)
    jl(ev="stopped", ticks=h.tick)


if __name__ == "__main__":
    main(sys.argv[1:])
