# meterkast: fakes for the P3 tests: clock, quarter-hour profile, readings, keys file
# MIT license
import json
import time
from array import array

from contract import reading as rd
from util import tz
from hal.unix.p3bench.ram_flash import PowerCut, RamFlash  # noqa: F401


class FakeClock:
    def __init__(self, start_utc):
        self._start = start_utc
        self._t0 = time.ticks_ms()

    def utc(self):
        return self._start + time.ticks_diff(time.ticks_ms(), self._t0) // 1000

    def mono(self):
        return time.ticks_diff(time.ticks_ms(), self._t0) // 1000

    def set_utc(self, t):
        """What a P3 SET of the clock does to this clock (DlmsServer.offer_clock)."""
        if not tz.in_range(t):
            return "outside the meter's time range"
        self._start += t - self.utc()
        return None


class FakeProfile:
    """The metrology profile API over a RAM table: [t, status, i1, i2, e1, e2] per row."""

    def __init__(self, rows, capacity, bad=()):
        self.capacity = capacity
        self._rows = rows  # flat array('i'), 6 per row, oldest first
        self._n = len(rows) // 6
        self._bad = bad

    def drop_oldest(self):
        """What a full ring does at a capture: every index moves down by one."""
        self._rows = self._rows[6:]
        self._n -= 1

    def entries_in_use(self):
        return self._n

    def read(self, index, out):
        if index < 0 or index >= self._n:
            return False
        if index in self._bad:
            return False
        o = index * 6
        for k in range(6):
            out[k] = self._rows[o + k]
        return True


def day_rows(last_t, count):
    """`count` quarter-hour rows ending at last_t with a plausible household's cumulative
    registers: import on tariff 1 (low: nights, weekends) or 2, solar export at midday."""
    lt = tz.LocalTime()
    rows = array("i", [0] * (6 * count))
    i1, i2, e1, e2 = 1234567, 2345678, 345678, 456789
    first = last_t - 900 * (count - 1)
    for k in range(count):
        t = first + 900 * k
        local = lt.local(t)
        hour = (local // 3600) % 24
        weekday = tz.weekday(local // 86400)
        low = hour < 7 or hour >= 23 or weekday >= 5
        use = 40 + (k * 37) % 90 + (120 if 17 <= hour < 21 else 0)
        sun = 0
        if 10 <= hour < 16:
            sun = 60 + (k * 53) % 140
        net = use - sun
        if net >= 0:
            if low:
                i1 += net
            else:
                i2 += net
        else:
            if low:
                e1 -= net
            else:
                e2 -= net
        o = 6 * k
        rows[o] = t
        rows[o + 1] = rd.STATUS_DST if lt.is_summer(t) else 0
        rows[o + 2] = i1
        rows[o + 3] = i2
        rows[o + 4] = e1
        rows[o + 5] = e2
    return rows


def make_readings(clock, profile_rows):
    q = rd.ReadingQueue()
    off = q.write_slot()
    b = q.buf
    n = len(profile_rows) // 6
    o = 6 * (n - 1)
    b[off + rd.T] = clock.utc()
    b[off + rd.STATUS] = profile_rows[o + 1] if n else 0
    b[off + rd.TARIFF] = 2
    b[off + rd.IMPORT_W] = 1234
    b[off + rd.EXPORT_W] = 0
    b[off + rd.IMPORT_T1_WH] = (profile_rows[o + 2] if n else 0) + 17
    b[off + rd.IMPORT_T2_WH] = (profile_rows[o + 3] if n else 0) + 23
    b[off + rd.EXPORT_T1_WH] = profile_rows[o + 4] if n else 0
    b[off + rd.EXPORT_T2_WH] = profile_rows[o + 5] if n else 0
    q.commit()
    return q


def load_keys(path):
    with open(path) as f:
        doc = json.load(f)
    m = doc["management"]

    def h(s):
        return bytes(int(s[i : i + 2], 16) for i in range(0, len(s), 2))

    return {
        "system_title": h(doc["system_title"]),
        "ek": h(m["ek"]),
        "ak": h(m["ak"]),
        "client_system_title": h(m["client_system_title"]),
    }


def mount_ram(flash, point, fresh=False):
    import vfs

    try:
        vfs.umount(point)
    except OSError:
        pass
    if fresh:
        vfs.VfsLfs2.mkfs(flash)
    vfs.mount(vfs.VfsLfs2(flash), point)
    return point


def unmount_cut(point):
    """After a PowerCut: unmount with the power still off, so nothing more reaches the flash
    (the mount may already be gone)."""
    import vfs

    try:
        vfs.umount(point)
    except Exception:
        pass


def build_server(storage, rows=96, start="2024-03-12T10:07:00Z", keys=None, capacity=960):
    """A DlmsServer on fakes: (server, profile, clock)."""
    from comms.dlms.server import DlmsServer

    clock = FakeClock(tz.parse_iso(start))
    last = (clock.utc() // 900) * 900
    data = day_rows(last, rows) if rows else array("i")
    profile = FakeProfile(data, capacity)
    readings = make_readings(clock, data)
    identity = {"equipment_id": "MKS0000000000001", "logical_device_name": "MKS-NG0000000001"}
    return DlmsServer(clock, readings, profile, identity, keys, storage), profile, clock
