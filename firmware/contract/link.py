# meterkast: the internal link, metering module -> comms module (one way, UART): frames and codec
# MIT license
#
# The wire format is specified in docs/link.md; this module is one implementation of it, used by
# both modules and importable by CPython too (host tools and tests). Summary:
#
#   A5 3C | type | version | len | seq u16 | HCRC u16 | body (len bytes) | FCS u16 | 5A
#
# little-endian; HCRC is CRC-16/X.25 over the 7 bytes before it, FCS over every byte from the
# first sync byte to the end of the body. Four frame types: reading 'R' (every meter second),
# capture 'C' (one per second, repeating the captures the metering module holds), identity 'I'
# (at start and every 60 s), status 'S' (at start, every 10 s and on change).
#
# LinkEncoder (metering side) builds frames into a preallocated buffer. LinkDecoder (comms
# side) takes bytes as they come from a UART, finds frames by sync, header CRC, length, end
# byte and FCS, checks every field against its range, counts what it refuses and never raises.
# ProfileCopy keeps the captures received, confirming each by two identical copies.
# Everything is integer arithmetic; nothing allocates per frame.
from array import array

from util.x25 import crc16

try:
    from micropython import const
except ImportError:  # CPython: const() is only a hint to the MicroPython compiler

    def const(x):  # type: ignore[misc]
        return x


SYNC1 = const(0xA5)
SYNC2 = const(0x3C)
END = const(0x5A)
VERSION = const(1)

READING = const(0x52)  # 'R'
CAPTURE = const(0x43)  # 'C'
IDENTITY = const(0x49)  # 'I'
STATUS = const(0x53)  # 'S'

READING_LEN = const(114)  # body lengths, version 1
CAPTURE_LEN = const(25)
IDENTITY_LEN = const(39)
STATUS_LEN = const(96)
HEADER = const(9)  # sync 2, type, version, len, seq 2, HCRC 2
OVERHEAD = const(12)  # HEADER + FCS 2 + END 1
MAX_FRAME = const(267)  # OVERHEAD + 255
SECOND_MAX = const(322)  # identity + status + reading + capture frames of one second

PERIOD = const(900)  # quarter hour: capture times are multiples of it
RING = const(96)  # captures a metering module holds for repetition by default (one day)
RECENT = const(4)  # the newest captures repeated in the fast cycle
IDENTITY_EVERY = const(60)  # seconds
STATUS_EVERY = const(10)  # seconds
PF_LOG_MAX = const(10)

# Valid bits of the status fields (anything else is refused)
READING_STATUS_MASK = const(0x2F)  # contract.reading STATUS_* bits
CAPTURE_STATUS_MASK = const(0xAF)  # IDIS profile status: PDN, CAD, DST, DNV, CIV, CRE
HEALTH_FLASH_FAULT = const(0x0001)  # a read or write of the register store or profile failed
HEALTH_FRONTEND_FAULT = const(0x0002)  # the measurement front-end failed or does not answer
HEALTH_WATCHDOG_RESET = const(0x0004)  # the last start was a watchdog reset
HEALTH_REGISTERS_LOST = const(0x0008)  # no valid register record at start: counting from zero
HEALTH_PROFILE_DAMAGED = const(0x0010)  # a stored capture could not be read back
HEALTH_MASK = const(0x001F)

_U31 = const(0x7FFFFFFF)  # u32 fields carry 0..2^31-1 (the firmware's 32-bit signed values)
_U16MAX = const(0xFFFE)  # u16 fields carry 0..65534; 0xFFFF marks a value out of range

# Reading record field positions: mirrors contract/reading.py (tests/fw/test_link.py checks)
_R_T = const(0)
_R_SEQ = const(1)
_R_STATUS = const(2)
_R_TARIFF = const(3)
_R_IMPORT_W = const(4)
_R_WH = const(6)
_R_PHASE_IMPORT_W = const(10)
_R_PHASE_EXPORT_W = const(13)
_R_VOLTAGE_DV = const(16)
_R_CURRENT_MA = const(19)
_R_POWER_FAILURES = const(22)
_R_SAGS = const(24)
_R_SWELLS = const(27)
_R_FREQUENCY_MHZ = const(30)
_R_PF_LOG_N = const(31)
_R_PF_LOG = const(32)
READING_FIELDS = const(52)

# LinkDecoder.capture / ProfileCopy entry: index, t, status, wh x 4
CAP_INDEX = const(0)
CAP_T = const(1)
CAP_STATUS = const(2)
CAP_WH = const(3)
CAP_FIELDS = const(7)

# LinkDecoder.identity (the text fields are in .supplier, .serial, .fw_id)
ID_FW_MAJOR = const(0)
ID_FW_MINOR = const(1)
ID_FW_PATCH = const(2)
ID_PHASES = const(3)
ID_NOMINAL_DV = const(4)
ID_IMAX_MA = const(5)
ID_RING = const(6)
ID_MONO = const(7)
ID_FIELDS = const(8)

# LinkDecoder.status (the power-failure log goes into .reading, PF_LOG_N and PF_LOG)
ST_T = const(0)
ST_MONO = const(1)
ST_STATUS = const(2)
ST_HEALTH = const(3)
ST_CAPTURES = const(4)
ST_FIELDS = const(5)


def body_len(typ, version):
    """Body length of a known (type, version), -1 for an unknown one."""
    if version != VERSION:
        return -1
    if typ == READING:
        return READING_LEN
    if typ == CAPTURE:
        return CAPTURE_LEN
    if typ == IDENTITY:
        return IDENTITY_LEN
    if typ == STATUS:
        return STATUS_LEN
    return -1


def _put16(b, o, v):
    if v < 0 or v > _U16MAX:
        v = 0xFFFF
    b[o] = v & 0xFF
    b[o + 1] = (v >> 8) & 0xFF


def _put32(b, o, v):
    # A negative value goes out as its two's complement, >= 2^31: refused by every receiver.
    b[o] = v & 0xFF
    b[o + 1] = (v >> 8) & 0xFF
    b[o + 2] = (v >> 16) & 0xFF
    b[o + 3] = (v >> 24) & 0xFF


def _put8(b, o, v):
    b[o] = v if 0 <= v <= 0xFF else 0xFF


def _u16(b, o):
    return b[o] | (b[o + 1] << 8)


def _u31(b, o):
    """A u32 field, or -1 when it is outside 0..2^31-1 (top bit set)."""
    if b[o + 3] & 0x80:
        return -1
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def _ok31(b, o, n):
    """True when the n u32 fields from o are all in 0..2^31-1."""
    for k in range(n):
        if b[o + 4 * k + 3] & 0x80:
            return False
    return True


def _ok16(b, o, n):
    for k in range(n):
        if b[o + 2 * k] == 0xFF and b[o + 2 * k + 1] == 0xFF:
            return False
    return True


def _wrap(b, o, typ, ln, seq):
    """Header at b[o:o+9]; returns the body offset."""
    b[o] = SYNC1
    b[o + 1] = SYNC2
    b[o + 2] = typ
    b[o + 3] = VERSION
    b[o + 4] = ln
    b[o + 5] = seq & 0xFF
    b[o + 6] = (seq >> 8) & 0xFF
    c = crc16(b, o, o + 7)
    b[o + 7] = c & 0xFF
    b[o + 8] = c >> 8
    return o + HEADER


def _seal(b, o, ln):
    """FCS and end byte of the frame at b[o:]; returns the offset after it."""
    e = o + HEADER + ln
    c = crc16(b, o, e)
    b[e] = c & 0xFF
    b[e + 1] = c >> 8
    b[e + 2] = END
    return e + 3


class LinkEncoder:
    """Metering side: frames for the link, built into caller buffers or into self.buf.

    supplier: 3 bytes A-Z; serial: 1..16 bytes 0x21..0x7E; version: (major, minor, patch);
    fw_id: 4 bytes identifying the metrology software; phases 1 or 3; nominal_dv and imax_ma:
    the meter's rating (Un in 0.1 V, Imax in mA); ring: captures held for repetition.
    Bad arguments raise ValueError here, once; building frames never raises or allocates.
    """

    def __init__(self, supplier, serial, version, fw_id=b"\x00\x00\x00\x00", phases=3,
                 nominal_dv=2300, imax_ma=60000, ring=RING):
        if len(supplier) != 3 or any(not 0x41 <= c <= 0x5A for c in supplier):
            raise ValueError("supplier: 3 letters A-Z")
        if not 1 <= len(serial) <= 16 or any(not 0x21 <= c <= 0x7E for c in serial):
            raise ValueError("serial: 1 to 16 printable ASCII characters, no spaces")
        if len(version) != 3 or any(not 0 <= v <= 255 for v in version):
            raise ValueError("version: (major, minor, patch), each 0..255")
        if len(fw_id) != 4:
            raise ValueError("fw_id: 4 bytes")
        if phases not in (1, 3):
            raise ValueError("phases: 1 or 3")
        if not 1 <= nominal_dv <= _U16MAX or not 1 <= imax_ma <= _U31:
            raise ValueError("rating out of range")
        if not 1 <= ring <= _U16MAX:
            raise ValueError("ring: 1..65534 captures")
        ident = bytearray(IDENTITY_LEN)
        ident[0:3] = bytes(supplier)
        ident[3 : 3 + len(serial)] = bytes(serial)
        ident[19] = version[0]
        ident[20] = version[1]
        ident[21] = version[2]
        ident[22:26] = bytes(fw_id)
        ident[26] = phases
        _put16(ident, 27, nominal_dv)
        _put32(ident, 29, imax_ma)
        _put16(ident, 33, ring)
        self._ident = ident  # identity body without mono (bytes 35..38)
        self.buf = bytearray(SECOND_MAX)
        self.seq = 0  # sequence number of the next frame
        self.seconds = 0  # calls to second() so far
        self.ring = ring
        self._caps = array("i", bytes(4 * CAP_FIELDS * ring))
        self._held = 0
        self._newest = -1  # slot of the newest capture
        self._rc = 0  # fast cycle: offset from the newest of the next even capture frame
        self._fc = 0  # full cycle: offset from the newest of the next odd capture frame
        self._k = 0  # capture frames sent so far
        self._last = array("i", [-1] * 5)  # status, health, pf_log_n, pf_log[0], pf_log[1] sent

    def captures(self):
        """Captures made so far as far as the link knows: newest index + 1 (0 = none)."""
        if self._held == 0:
            return 0
        return self._caps[self._newest * CAP_FIELDS + CAP_INDEX] + 1

    def add_capture(self, index, t, status, wh):
        """Hold a capture (profile entry number, time, IDIS status, 4 registers) for sending.

        Indices must rise (the profile's entry numbers); an older or repeated one is ignored
        and False returned. At start the metering module adds its newest `ring` stored
        captures, oldest first, so a restart loses none of them.
        """
        if self._held and index <= self._caps[self._newest * CAP_FIELDS + CAP_INDEX]:
            return False
        slot = (self._newest + 1) % self.ring
        c = self._caps
        o = slot * CAP_FIELDS
        c[o + CAP_INDEX] = index
        c[o + CAP_T] = t
        c[o + CAP_STATUS] = status
        for k in range(4):
            c[o + CAP_WH + k] = wh[k]
        self._newest = slot
        if self._held < self.ring:
            self._held += 1
        self._rc = 0
        self._fc += 1  # the full cycle keeps pointing at the same capture
        if self._fc >= self._held:
            self._fc = 0
        return True

    def _next_seq(self):
        s = self.seq
        self.seq = (s + 1) & 0xFFFF
        return s

    def reading(self, b, o, r):
        """Reading frame for reading record r (contract.reading layout) at b[o:]; end offset."""
        p = _wrap(b, o, READING, READING_LEN, self._next_seq())
        _put32(b, p, r[_R_T])
        _put32(b, p + 4, r[_R_SEQ])
        _put8(b, p + 8, r[_R_STATUS])
        _put8(b, p + 9, r[_R_TARIFF])
        for k in range(6):  # import W, export W, 4 registers
            _put32(b, p + 10 + 4 * k, r[_R_IMPORT_W + k])
        _put32(b, p + 34, self.captures())
        for k in range(3):
            _put32(b, p + 38 + 4 * k, r[_R_PHASE_IMPORT_W + k])
            _put32(b, p + 50 + 4 * k, r[_R_PHASE_EXPORT_W + k])
            _put16(b, p + 62 + 2 * k, r[_R_VOLTAGE_DV + k])
            _put32(b, p + 68 + 4 * k, r[_R_CURRENT_MA + k])
        _put16(b, p + 80, r[_R_FREQUENCY_MHZ])
        _put32(b, p + 82, r[_R_POWER_FAILURES])
        _put32(b, p + 86, r[_R_POWER_FAILURES + 1])
        for k in range(3):
            _put32(b, p + 90 + 4 * k, r[_R_SAGS + k])
            _put32(b, p + 102 + 4 * k, r[_R_SWELLS + k])
        return _seal(b, o, READING_LEN)

    def capture(self, b, o):
        """The next capture frame of the repetition cycle at b[o:]; o when none is held.

        Even capture frames walk the newest RECENT captures (newest first, restarted by every
        new capture), odd ones walk all held captures from the newest to the oldest.
        """
        held = self._held
        if held == 0:
            return o
        if self._k & 1 == 0:
            j = self._rc
            self._rc = (j + 1) % (held if held < RECENT else RECENT)
        else:
            j = self._fc
            self._fc = (j + 1) % held
        self._k += 1
        c = self._caps
        s = ((self._newest - j) % self.ring) * CAP_FIELDS
        p = _wrap(b, o, CAPTURE, CAPTURE_LEN, self._next_seq())
        _put32(b, p, c[s + CAP_INDEX])
        _put32(b, p + 4, c[s + CAP_T])
        _put8(b, p + 8, c[s + CAP_STATUS])
        for k in range(4):
            _put32(b, p + 9 + 4 * k, c[s + CAP_WH + k])
        return _seal(b, o, CAPTURE_LEN)

    def identity(self, b, o, mono):
        """Identity frame at b[o:]; mono is the meter second since start."""
        p = _wrap(b, o, IDENTITY, IDENTITY_LEN, self._next_seq())
        src = self._ident
        for k in range(35):
            b[p + k] = src[k]
        _put32(b, p + 35, mono)
        return _seal(b, o, IDENTITY_LEN)

    def status(self, b, o, r, health):
        """Status frame from reading record r and the HEALTH_* bits at b[o:]."""
        p = _wrap(b, o, STATUS, STATUS_LEN, self._next_seq())
        _put32(b, p, r[_R_T])
        _put32(b, p + 4, r[_R_SEQ])
        _put8(b, p + 8, r[_R_STATUS])
        n = r[_R_PF_LOG_N]
        _put8(b, p + 9, n)
        _put16(b, p + 10, health)
        _put32(b, p + 12, self.captures())
        for k in range(2 * PF_LOG_MAX):
            _put32(b, p + 16 + 4 * k, r[_R_PF_LOG + k] if k < 2 * n else 0)
        last = self._last
        last[0] = r[_R_STATUS]
        last[1] = health
        last[2] = n
        last[3] = r[_R_PF_LOG]
        last[4] = r[_R_PF_LOG + 1]
        return _seal(b, o, STATUS_LEN)

    def _status_changed(self, r, health):
        last = self._last
        return (last[0] != r[_R_STATUS] or last[1] != health or last[2] != r[_R_PF_LOG_N]
                or last[3] != r[_R_PF_LOG] or last[4] != r[_R_PF_LOG + 1])

    def second(self, r, health=0):
        """Every frame due this meter second into self.buf; returns its length.

        Order: identity (first second, then every IDENTITY_EVERY), status (first second,
        every STATUS_EVERY and whenever the status, health or power-failure log changed),
        reading, capture (when any is held).
        """
        b = self.buf
        k = self.seconds
        o = 0
        if k % IDENTITY_EVERY == 0:
            o = self.identity(b, o, r[_R_SEQ])
        if k % STATUS_EVERY == 0 or self._status_changed(r, health):
            o = self.status(b, o, r, health)
        o = self.reading(b, o, r)
        o = self.capture(b, o)
        self.seconds = k + 1
        return o


class ProfileCopy:
    """The comms module's copy of the quarter-hour captures, by entry index.

    A capture is a candidate after one copy and confirmed when a second, identical copy
    arrives (in another frame). A copy that differs from the candidate replaces it (counted
    in conflicts); one that differs from a confirmed entry is counted and ignored.
    `capacity` must be at least the sender's ring (identity RING field).
    """

    EMPTY = 0
    CANDIDATE = 1
    CONFIRMED = 2

    def __init__(self, capacity=RING):
        self.capacity = capacity
        self.data = array("i", bytes(4 * CAP_FIELDS * capacity))
        self.state = bytearray(capacity)
        self.newest = -1  # highest index seen
        self.confirmed = 0  # entries confirmed so far (also those since overwritten)
        self.copies = 0  # copies received
        self.conflicts = 0
        self.stale = 0  # copies older than the entry in their slot

    def put(self, cap):
        """Take one capture (array: CAP_INDEX, CAP_T, CAP_STATUS, CAP_WH x 4)."""
        index = cap[CAP_INDEX]
        slot = index % self.capacity
        d = self.data
        o = slot * CAP_FIELDS
        st = self.state[slot]
        self.copies += 1
        if index > self.newest:
            self.newest = index
        if st != 0 and d[o] == index:
            same = True
            for k in range(1, CAP_FIELDS):
                if d[o + k] != cap[k]:
                    same = False
            if same:
                if st == 1:
                    self.state[slot] = 2
                    self.confirmed += 1
                return
            self.conflicts += 1
            if st == 2:
                return
        elif st != 0 and d[o] > index:
            self.stale += 1
            return
        for k in range(CAP_FIELDS):
            d[o + k] = cap[k]
        self.state[slot] = 1

    def clear(self):
        """Forget every entry (another metering module: its indices mean other captures)."""
        st = self.state
        for i in range(self.capacity):
            st[i] = 0
        self.newest = -1

    def get(self, index, out):
        """State of entry `index` (EMPTY, CANDIDATE, CONFIRMED); its fields into out."""
        if index < 0:
            return 0
        slot = index % self.capacity
        o = slot * CAP_FIELDS
        st = self.state[slot]
        if st == 0 or self.data[o] != index:
            return 0
        for k in range(CAP_FIELDS):
            out[k] = self.data[o + k]
        return st


_RX = const(640)  # receive buffer: two of the largest frames and room to append


class LinkDecoder:
    """Comms side: feed(buf, n) with bytes from the UART; valid frames land in the arrays.

    reading    contract.reading layout: fields of the newest reading frame, and PF_LOG_N and
               PF_LOG of the newest status frame
    capture    the newest capture frame (CAP_*), also put into `profile` when one is given
    identity   ID_* of the newest identity frame; supplier, serial (NUL padded), fw_id bytes
    status     ST_* of the newest status frame
    sink(type) is called after each accepted frame, while its values are in the arrays.
    Nothing from a refused frame reaches the arrays. feed never raises and never allocates.
    """

    def __init__(self, profile=None, sink=None):
        self.profile = profile
        self.sink = sink
        self.rx = bytearray(_RX)
        self._s = 0  # start of unexamined bytes in rx
        self._e = 0  # end of received bytes in rx
        self.reading = array("i", bytes(4 * READING_FIELDS))
        self.capture = array("i", bytes(4 * CAP_FIELDS))
        self.identity = array("i", bytes(4 * ID_FIELDS))
        self.supplier = bytearray(3)
        self.serial = bytearray(16)
        self.fw_id = bytearray(4)
        self.status = array("i", bytes(4 * ST_FIELDS))
        self.last_type = 0
        self.last_seq = -1
        self._last_fcs = -1
        # counters
        self.bytes = 0  # bytes fed
        self.frames = 0  # frames accepted (all types)
        self.readings = 0
        self.captures = 0
        self.identities = 0
        self.statuses = 0
        self.garbage = 0  # bytes skipped while looking for a sync pair
        self.header_errors = 0  # sync pair found, header CRC wrong
        self.length_errors = 0  # known type with a wrong length, or the end byte missing
        self.crc_errors = 0  # FCS wrong
        self.unknown = 0  # intact frames of a type or version this decoder does not know
        self.value_errors = 0  # intact frames with a field out of its range (refused)
        self.seq_gaps = 0  # sequence gaps seen
        self.frames_missed = 0  # frames inside those gaps
        self.duplicates = 0  # a frame identical to the previous one (dropped)
        self.seq_resets = 0  # sequence went backwards: the metering module restarted

    def feed(self, buf, n):
        """Take buf[0:n]; returns the number of frames accepted."""
        got = 0
        rx = self.rx
        i = 0
        if n > len(buf):
            n = len(buf)
        self.bytes += n if n > 0 else 0
        while i < n:
            if self._e == _RX:
                self._compact()
            e = self._e
            k = _RX - e
            if k > n - i:
                k = n - i
            for j in range(k):
                rx[e + j] = buf[i + j]
            self._e = e + k
            i += k
            got += self._parse()
        return got

    def _compact(self):
        rx = self.rx
        s = self._s
        e = self._e
        for j in range(e - s):
            rx[j] = rx[s + j]
        self._s = 0
        self._e = e - s

    def _parse(self):
        rx = self.rx
        s = self._s
        e = self._e
        got = 0
        while True:
            if e - s < 2:
                if e - s == 1 and rx[s] != SYNC1:
                    s += 1
                    self.garbage += 1
                break
            if rx[s] != SYNC1 or rx[s + 1] != SYNC2:
                s += 1
                self.garbage += 1
                continue
            if e - s < HEADER:
                break
            if crc16(rx, s, s + 7) != _u16(rx, s + 7):
                self.header_errors += 1
                s += 1
                continue
            typ = rx[s + 2]
            ln = rx[s + 4]
            want = body_len(typ, rx[s + 3])
            if want >= 0 and ln != want:
                self.length_errors += 1
                s += 1
                continue
            total = OVERHEAD + ln
            if e - s < total:
                break
            if rx[s + total - 1] != END:
                self.length_errors += 1
                s += 1
                continue
            fcs = _u16(rx, s + HEADER + ln)
            if crc16(rx, s, s + HEADER + ln) != fcs:
                self.crc_errors += 1
                s += 1
                continue
            # An intact frame: it used a sequence number, whatever it holds.
            if self._sequence(_u16(rx, s + 5), fcs):
                if want < 0:
                    self.unknown += 1
                elif self._take(typ, s + HEADER):
                    got += 1
                    self.frames += 1
                    self.last_type = typ
                    if self.sink is not None:
                        self.sink(typ)
                else:
                    self.value_errors += 1
            s += total
        if s == e:
            s = 0
            e = 0
        self._s = s
        self._e = e
        return got

    def _sequence(self, seq, fcs):
        """Track sequence numbers; False for a duplicate of the previous frame."""
        last = self.last_seq
        if last >= 0:
            d = (seq - last) & 0xFFFF
            if d == 0 and fcs == self._last_fcs:
                self.duplicates += 1
                return False
            if d == 0 or d >= 0x8000:
                self.seq_resets += 1
            elif d > 1:
                self.seq_gaps += 1
                self.frames_missed += d - 1
        self.last_seq = seq
        self._last_fcs = fcs
        return True

    def _take(self, typ, p):
        rx = self.rx
        if typ == READING:
            return self._take_reading(rx, p)
        if typ == CAPTURE:
            return self._take_capture(rx, p)
        if typ == IDENTITY:
            return self._take_identity(rx, p)
        return self._take_status(rx, p)

    def _take_reading(self, b, p):
        if (b[p + 8] & ~READING_STATUS_MASK or not 1 <= b[p + 9] <= 2
                or not _ok31(b, p, 2) or not _ok31(b, p + 10, 7) or not _ok31(b, p + 38, 6)
                or not _ok16(b, p + 62, 3) or not _ok31(b, p + 68, 3) or not _ok16(b, p + 80, 1)
                or not _ok31(b, p + 82, 8)):
            return False
        r = self.reading
        r[_R_T] = _u31(b, p)
        r[_R_SEQ] = _u31(b, p + 4)
        r[_R_STATUS] = b[p + 8]
        r[_R_TARIFF] = b[p + 9]
        for k in range(6):
            r[_R_IMPORT_W + k] = _u31(b, p + 10 + 4 * k)
        self.status[ST_CAPTURES] = _u31(b, p + 34)
        for k in range(3):
            r[_R_PHASE_IMPORT_W + k] = _u31(b, p + 38 + 4 * k)
            r[_R_PHASE_EXPORT_W + k] = _u31(b, p + 50 + 4 * k)
            r[_R_VOLTAGE_DV + k] = _u16(b, p + 62 + 2 * k)
            r[_R_CURRENT_MA + k] = _u31(b, p + 68 + 4 * k)
        r[_R_FREQUENCY_MHZ] = _u16(b, p + 80)
        r[_R_POWER_FAILURES] = _u31(b, p + 82)
        r[_R_POWER_FAILURES + 1] = _u31(b, p + 86)
        for k in range(3):
            r[_R_SAGS + k] = _u31(b, p + 90 + 4 * k)
            r[_R_SWELLS + k] = _u31(b, p + 102 + 4 * k)
        self.readings += 1
        return True

    def _take_capture(self, b, p):
        if b[p + 8] & ~CAPTURE_STATUS_MASK or not _ok31(b, p, 2) or not _ok31(b, p + 9, 4):
            return False
        t = _u31(b, p + 4)
        if t % PERIOD:
            return False
        c = self.capture
        c[CAP_INDEX] = _u31(b, p)
        c[CAP_T] = t
        c[CAP_STATUS] = b[p + 8]
        for k in range(4):
            c[CAP_WH + k] = _u31(b, p + 9 + 4 * k)
        self.captures += 1
        if self.profile is not None:
            self.profile.put(c)
        return True

    def _take_identity(self, b, p):
        for k in range(3):
            if not 0x41 <= b[p + k] <= 0x5A:
                return False
        if not 0x21 <= b[p + 3] <= 0x7E:
            return False
        pad = False
        for k in range(4, 19):
            c = b[p + k]
            if c == 0:
                pad = True
            elif pad or not 0x21 <= c <= 0x7E:
                return False
        phases = b[p + 26]
        dv = _u16(b, p + 27)
        ring = _u16(b, p + 33)
        if ((phases != 1 and phases != 3) or not 1 <= dv <= _U16MAX or not 1 <= ring <= _U16MAX
                or not _ok31(b, p + 29, 1) or _u31(b, p + 29) == 0 or not _ok31(b, p + 35, 1)):
            return False
        for k in range(3):
            self.supplier[k] = b[p + k]
        for k in range(16):
            self.serial[k] = b[p + 3 + k]
        for k in range(4):
            self.fw_id[k] = b[p + 22 + k]
        d = self.identity
        d[ID_FW_MAJOR] = b[p + 19]
        d[ID_FW_MINOR] = b[p + 20]
        d[ID_FW_PATCH] = b[p + 21]
        d[ID_PHASES] = phases
        d[ID_NOMINAL_DV] = dv
        d[ID_IMAX_MA] = _u31(b, p + 29)
        d[ID_RING] = ring
        d[ID_MONO] = _u31(b, p + 35)
        self.identities += 1
        return True

    def _take_status(self, b, p):
        n = b[p + 9]
        health = _u16(b, p + 10)
        if (b[p + 8] & ~READING_STATUS_MASK or n > PF_LOG_MAX or health & ~HEALTH_MASK
                or not _ok31(b, p, 2) or not _ok31(b, p + 12, 1 + 2 * PF_LOG_MAX)):
            return False
        for k in range(2 * n, 2 * PF_LOG_MAX):
            if _u31(b, p + 16 + 4 * k) != 0:
                return False
        st = self.status
        st[ST_T] = _u31(b, p)
        st[ST_MONO] = _u31(b, p + 4)
        st[ST_STATUS] = b[p + 8]
        st[ST_HEALTH] = health
        st[ST_CAPTURES] = _u31(b, p + 12)
        r = self.reading
        r[_R_PF_LOG_N] = n
        for k in range(2 * PF_LOG_MAX):
            r[_R_PF_LOG + k] = _u31(b, p + 16 + 4 * k)
        self.statuses += 1
        return True
