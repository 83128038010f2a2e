# meterkast: a ring of quarter-hour entries on flash, the layout both modules keep a profile in
# MIT license
#
# Storage: a ring of segment files <dir>/NNNNNN.bin of 96 entries each, appended one 32-byte entry
# at a time (appends are cheap in LittleFS; rewriting the middle of one big ring file is not).
# When a 42nd segment starts, the oldest is deleted, so at least 40 days (3,840 entries) stay.
# The entry's layout is contract.layout's (ENTRY_*), which the host's `meterkast dump` reads too.
# A torn append (power cut mid-write) leaves a short tail: the next append starts a new segment.
#
# The metering module keeps its quarter-hour register in one (metering.profile), the comms
# module its checked copy in another (comms.link.port), each on its own flash: this file is the
# format they share, not a shared object.
import os
import struct
from binascii import crc32

from micropython import const

from contract.layout import ENTRY_BODY, ENTRY_SIZE, SEGMENT_ENTRIES  # noqa: F401
from contract.layout import ENTRY_FMT as _FMT
from contract.layout import PROFILE_DIR

PERIOD = const(900)
MAX_SEGMENTS = const(41)
CAPACITY = const(3936)  # SEGMENT_ENTRIES * MAX_SEGMENTS


class QuarterHourStore:
    def __init__(self, root, name=PROFILE_DIR):
        self.dir = root + "/" + name
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        self.capacity = CAPACITY
        self._segments = []  # [segment number, entries] oldest first
        self._entry = bytearray(ENTRY_SIZE)
        self._cache = bytearray(SEGMENT_ENTRIES * ENTRY_SIZE)
        self._cache_seg = -1
        self._cache_len = 0
        self.seq = 0  # entry number of the next append
        self._last_seq = 0  # entry number of the entry read last
        self.newest_t = -1  # timestamp of the newest readable entry
        self._torn = False
        self._scan()

    def _path(self, n):
        return "%s/%06d.bin" % (self.dir, n)

    def _scan(self):
        segs = []
        for entry in os.ilistdir(self.dir):
            name = entry[0]
            if name.endswith(".bin") and len(name) == 10:
                try:
                    n = int(name[:6])
                except ValueError:
                    continue
                size = os.stat(self._path(n))[6]
                segs.append([n, size // ENTRY_SIZE, size])
        segs.sort()
        if segs and segs[-1][2] % ENTRY_SIZE:
            self._torn = True
        self._segments = [[s[0], s[1]] for s in segs]
        # The entry sequence continues from the newest readable entry.
        out = [0] * 6
        for i in range(self.entries_in_use() - 1, -1, -1):
            if self.read(i, out):
                self.seq = self._last_seq + 1
                self.newest_t = out[0]
                break

    def entries_in_use(self):
        n = 0
        for s in self._segments:
            n += s[1]
        return n

    def _locate(self, index):
        for s in self._segments:
            if index < s[1]:
                return s[0], index
            index -= s[1]
        return -1, 0

    def read(self, index, out):
        """Entry `index` (0 = oldest) into out[0..5] = t, status, imp T1, imp T2, exp T1, exp T2.

        Returns False when the entry is damaged (checksum) or missing; out is then untouched.
        """
        seg, k = self._locate(index)
        if seg < 0:
            return False
        if seg != self._cache_seg:
            try:
                with open(self._path(seg), "rb") as f:
                    self._cache_len = f.readinto(self._cache) or 0
            except OSError:
                self._cache_len = 0
            self._cache_seg = seg
        off = k * ENTRY_SIZE
        if off + ENTRY_SIZE > self._cache_len:
            return False
        c = self._cache
        if crc32(memoryview(c)[off : off + ENTRY_BODY]) != struct.unpack_from("<I", c, off + ENTRY_BODY)[0]:
            return False
        v = struct.unpack_from(_FMT, c, off)
        for i in range(6):
            out[i] = v[i]
        self._last_seq = v[6]
        return True

    def last_seq(self):
        """Entry number (since the first capture) of the entry read() returned last."""
        return self._last_seq

    def append(self, t, status, wh):
        b = self._entry
        struct.pack_into(_FMT, b, 0, t, status, wh[0], wh[1], wh[2], wh[3], self.seq)
        struct.pack_into("<I", b, ENTRY_BODY, crc32(memoryview(b)[:ENTRY_BODY]))
        segs = self._segments
        if not segs or segs[-1][1] >= SEGMENT_ENTRIES or self._torn:
            n = segs[-1][0] + 1 if segs else 0
            segs.append([n, 0])
            self._torn = False
            while len(segs) > MAX_SEGMENTS:
                old = segs.pop(0)
                try:
                    os.remove(self._path(old[0]))
                except OSError:
                    pass
        last = segs[-1]
        with open(self._path(last[0]), "ab") as f:
            f.write(b)
        last[1] += 1
        if self._cache_seg == last[0]:
            self._cache_seg = -1
        self.seq += 1
        self.newest_t = t
