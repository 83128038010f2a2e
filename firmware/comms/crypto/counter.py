# meterkast: the invocation (frame) counter: the part of every GCM IV that must never repeat
# MIT license
#
# A GCM IV used twice under one key leaks the XOR of two plaintexts and lets anyone forge tags,
# so the counter may skip values but never hand one out twice: not after a restart, not after
# power is cut in the middle of a flash write.
#
# Writing flash for every frame would wear it out, so the counter reserves: the record holds a
# high-water mark H meaning "every value <= H may already have been used". After a restart
# counting resumes at H + 1, and a new reservation H + reserve is written before the first
# value is handed out; when the values run up to H, the next reservation is written before the
# next value is returned. A restart therefore skips the unused rest of a reservation.
#
# The record lives in two slot files written alternately (even sequence numbers in slot "b",
# odd ones in slot "a"), each 20 bytes: magic, sequence number, H, CRC-32. A kill during a
# write can damage only the slot being written; the other one still holds the previous record,
# whose H covers every value handed out so far (values above it are only handed out after the
# new record is complete). On start:
#   both slots valid        the higher H;
#   one valid, the other damaged or missing:
#                           its H plus one more reservation, since the lost record may have
#                           been complete before it was damaged;
#   no "a" slot, and "b" missing, damaged or holding the initial H = 0 record:
#                           a blank device, or one killed while being initialised (slot "b"
#                           is written first): nothing was handed out, start at 1;
#   no valid slot at all    refuse (CounterCorrupt from next()): restarting at 1 would reuse
#                           IVs. A service tool has to write a record above the last value the
#                           head-end saw.
# Deleting both files makes the device blank again. What guards against that (and against a
# copied or rolled-back flash) is the floor: the highest mark ever reserved with these keys, kept
# by whoever holds the keys (the host's record beside the keys file, the board's keystore) and
# given at start. A stored mark below the floor is not trusted: counting resumes above the floor.
# `on_reserve` hears of every new mark after it is on flash and before a value under it is
# handed out, so that record can follow.
import errno
import struct
from binascii import crc32

from micropython import const

_MAGIC = b"MKIC"
_RECORD = const(20)  # magic, seq (u32), high water (u64), CRC-32 of the first 16 bytes


class CounterExhausted(Exception):
    """No value is left below the limit: the key must be replaced before sending again."""


class CounterCorrupt(CounterExhausted):
    """Neither slot holds a valid record on a used device: no value is known to be fresh."""


def _read(path):
    """(seq, high) of a valid record, None if the file is missing, False if it is damaged."""
    try:
        with open(path, "rb") as f:
            data = f.read(_RECORD + 1)
    except OSError as e:
        return None if e.errno == errno.ENOENT else False
    if len(data) != _RECORD or data[:4] != _MAGIC:
        return False
    if crc32(data[:16]) & 0xFFFFFFFF != struct.unpack(">I", data[16:])[0]:
        return False
    return struct.unpack(">IQ", data[4:16])


class InvocationCounter:
    """Strictly increasing counter 1, 2, .. limit, persisted in two small files on flash.

    next() writes flash once every `reserve` values (and allocates then); a restart skips
    the rest of the current reservation, at most `reserve` values (twice that after damage).
    """

    def __init__(self, path, reserve=256, limit=0xFFFFFFFF, floor=0, on_reserve=None):
        if reserve < 1 or limit < 1:
            raise ValueError("reserve and limit must be positive")
        self._reserve = reserve
        self._limit = limit
        self._on_reserve = on_reserve  # called with each new high-water mark, once it is on flash
        self.below_floor = 0  # the stored mark when it was under `floor` (state lost or copied)
        self._slots = (path + ".b", path + ".a")  # indexed by seq & 1
        self._corrupt = False
        b = _read(self._slots[0])
        a = _read(self._slots[1])
        if a is None and (not b or b == (0, 0)):
            # blank, or killed before initialisation was complete: nothing was handed out
            self._seq = 0
            self._high = 0
            self._write(0, 0)
        elif a and b:
            self._seq = max(a[0], b[0])
            self._high = max(a[1], b[1])
        elif a or b:
            self._seq, high = a or b
            self._high = min(high + reserve, limit)
        else:
            self._corrupt = True
            self._seq = 0
            self._high = 0
        if floor > self._high and not self._corrupt:
            # The keys have been used up to `floor` elsewhere (a wiped, new, copied or rolled
            # back state): count on above it, never below.
            self.below_floor = self._high if self._high else -1
            self._high = min(floor, limit)
        self._last = self._high  # every value up to here may have been used before
        if not self._corrupt and self._high < limit:
            self._write(self._seq + 1, min(self._high + reserve, limit))

    @property
    def corrupt(self):
        """Neither slot holds a valid record on a used device: next() refuses every value."""
        return self._corrupt

    @property
    def high_water(self):
        """The persisted reservation: no value above it has been handed out."""
        return self._high

    def peek(self):
        """The value next() returned last, so next() gives peek() + 1.

        Right after a restart this is the point counting resumes from (values up to it may
        have been used before the restart); 0 on a blank device.
        """
        return self._last

    def next(self):
        """The next value; raises CounterExhausted (or CounterCorrupt) rather than repeat."""
        if self._corrupt:
            raise CounterCorrupt("invocation counter record lost")
        v = self._last + 1
        if v > self._limit:
            raise CounterExhausted("invocation counter at its limit")
        if v > self._high:
            self._write(self._seq + 1, min(self._high + self._reserve, self._limit))
        self._last = v
        return v

    def _write(self, seq, high):
        head = _MAGIC + struct.pack(">IQ", seq, high)
        with open(self._slots[seq & 1], "wb") as f:
            f.write(head + struct.pack(">I", crc32(head) & 0xFFFFFFFF))
        self._seq = seq
        self._high = high
        if self._on_reserve is not None:
            self._on_reserve(high)
