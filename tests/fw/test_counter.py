# comms.crypto.counter under the real MicroPython, on LittleFS in RAM (the meter's flash file system):
# values never repeat across restarts, damaged slot files, and power cuts during flash writes.
import os

import vfs

from comms.crypto.counter import CounterCorrupt, CounterExhausted, InvocationCounter
from hal.unix.p3bench.fakes import unmount_cut
from hal.unix.p3bench.ram_flash import PowerCut, RamFlash  # noqa: F401

MOUNT = "/ic_flash"
PATH = MOUNT + "/ic_p1"
SLOT_A = PATH + ".a"
SLOT_B = PATH + ".b"


def mount(flash, fresh=False):
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    if fresh:
        vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), MOUNT)


def slot(path):
    with open(path, "rb") as f:
        return f.read()


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def blank_and_restarts():
    mount(RamFlash(), fresh=True)
    c = InvocationCounter(PATH)
    assert c.peek() == 0 and c.high_water == 256
    assert [c.next() for _ in range(3)] == [1, 2, 3]
    assert c.peek() == 3
    c = InvocationCounter(PATH)  # a restart skips the rest of the reservation
    assert c.peek() == 256 and c.high_water == 512
    assert c.next() == 257
    c = InvocationCounter(PATH, reserve=4)
    values = [c.next() for _ in range(20)]
    assert values == list(range(513, 533)), values
    assert c.high_water == 532
    # a reservation is written only when the values reach it: count the sequence numbers
    seqs = sorted(int.from_bytes(slot(p)[4:8], "big") for p in (SLOT_A, SLOT_B))
    assert seqs[1] == seqs[0] + 1
    c = InvocationCounter(PATH, reserve=4)
    assert c.next() == 533


def damaged_slots():
    # Every way a kill can leave the slot being written: truncated to any length, or garbled.
    # The next value must still be above everything handed out, and the counter must not refuse.
    for k in range(21):
        for which in (0, 1):
            mount(RamFlash(), fresh=True)
            c = InvocationCounter(PATH, reserve=8)
            used = [c.next() for _ in range(30)]  # several reservations, both slots written
            newest = SLOT_A if slot(SLOT_A)[7] > slot(SLOT_B)[7] else SLOT_B
            victim = newest if which == 0 else (SLOT_B if newest == SLOT_A else SLOT_A)
            data = slot(victim)
            if k < 20:
                put(victim, data[:k])
            else:
                put(victim, data[:10] + bytes([data[10] ^ 0x40]) + data[11:])
            c = InvocationCounter(PATH, reserve=8)
            v = c.next()
            assert v > max(used), (k, which, v, used[-1])
            assert c.peek() == v
            c = InvocationCounter(PATH, reserve=8)  # and the repaired pair works on
            assert c.next() > v


def lost_record():
    mount(RamFlash(), fresh=True)
    c = InvocationCounter(PATH)
    c.next()
    for a, b in ((b"", b""), (b"MKIC", None), (b"x" * 20, b"y" * 20)):
        put(SLOT_A, a)
        if b is None:
            remove(SLOT_B)
        else:
            put(SLOT_B, b)
        c = InvocationCounter(PATH)
        assert c.peek() == 0
        for _ in range(2):
            try:
                c.next()
                raise AssertionError("handed out a value without a valid record")
            except CounterCorrupt as e:
                assert isinstance(e, CounterExhausted)
    # a record in slot "b" beyond the initial one, but slot "a" gone: used, so skip ahead
    mount(RamFlash(), fresh=True)
    c = InvocationCounter(PATH, reserve=4)
    used = [c.next() for _ in range(9)]
    remove(SLOT_A)
    assert InvocationCounter(PATH, reserve=4).next() > max(used)


def limit():
    mount(RamFlash(), fresh=True)
    c = InvocationCounter(PATH, reserve=4, limit=10)
    assert [c.next() for _ in range(10)] == list(range(1, 11))
    assert c.high_water == 10
    for _ in range(2):
        try:
            c.next()
            raise AssertionError("went past the limit")
        except CounterExhausted:
            pass
    c = InvocationCounter(PATH, reserve=4, limit=10)
    try:
        c.next()
        raise AssertionError("went past the limit after a restart")
    except CounterExhausted:
        pass
    mount(RamFlash(), fresh=True)
    c = InvocationCounter(PATH, reserve=256, limit=3)  # a reservation larger than the range
    assert [c.next() for _ in range(3)] == [1, 2, 3]
    try:
        c.next()
        raise AssertionError("went past the limit")
    except CounterExhausted:
        pass


def power_cuts():
    # Cut the power at every program/erase step of a life of boots and frames; after each cut
    # the meter boots again and must continue above every value it handed out.
    cut = 0
    while True:
        flash = RamFlash()
        mount(flash, fresh=True)
        flash.steps_left = cut
        used = [0]
        try:
            for boot in range(3):
                c = InvocationCounter(PATH, reserve=3)
                for _ in range(5):
                    v = c.next()
                    assert v > used[-1]
                    used.append(v)
        except (PowerCut, OSError):
            unmount_cut(MOUNT)
            flash.steps_left = -1
            mount(flash)
            c = InvocationCounter(PATH, reserve=3)
            v = c.next()
            assert v > used[-1], (cut, v, used)
            cut += 1
            continue
        assert cut > 10, cut  # the life above did reach the flash many times
        return cut


def floor_and_reservations():
    """A state below the keys' record (wiped, new, copied, rolled back) counts on above it, and
    every reservation is announced once it is on flash, before any value under it is used."""
    mount(RamFlash(), fresh=True)
    heard = []
    c = InvocationCounter(PATH, reserve=4, on_reserve=heard.append)
    assert c.below_floor == 0
    assert [c.next() for _ in range(6)] == [1, 2, 3, 4, 5, 6]
    assert heard[-1] == 8 and heard[-2] == 4, heard
    announced = max(heard)
    remove(SLOT_A)
    remove(SLOT_B)  # wiped: without a floor this would start at 1 again
    c = InvocationCounter(PATH, reserve=4, floor=announced, on_reserve=heard.append)
    assert c.below_floor == -1  # a blank state under a floor
    assert c.next() == announced + 1
    old_a = slot(SLOT_A) if os_exists(SLOT_A) else None
    old_b = slot(SLOT_B)
    for _ in range(10):
        c.next()
    top = max(heard)
    # roll the state back to the copy taken earlier: its mark is below the record
    put(SLOT_B, old_b)
    if old_a is None:
        remove(SLOT_A)
    else:
        put(SLOT_A, old_a)
    c = InvocationCounter(PATH, reserve=4, floor=top)
    assert c.below_floor > 0 and c.below_floor < top
    assert c.next() == top + 1
    # a state ahead of the floor is trusted as it is
    c = InvocationCounter(PATH, reserve=4, floor=5)
    assert c.below_floor == 0 and c.next() > top + 1


def os_exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


blank_and_restarts()
floor_and_reservations()
damaged_slots()
lost_record()
limit()
print("power cuts simulated:", power_cuts())
vfs.umount(MOUNT)
print("OK")
