# The single-board build at run time, under the real MicroPython: both modules in one
# interpreter, and still neither can reach the other. Everything reachable from the metering
# module (instance attributes, containers, all the way down) holds no comms object, no key
# and no key table; everything reachable from the comms module holds no metrology object, no
# front-end, RTC, household or flash device of the metering side. The link between them is a
# bound method, which MicroPython does not open (no __self__). The walk is checked to find what
# it must (comms objects from the meter, metrology objects from the metering module).
import os
import sys

from hal.unix import build
from main import compose

import time

STATE = "/tmp/mk-graph-%d" % time.ticks_us()
KEYS = STATE + "/keys.json"
EK = bytes(range(16))
AK = bytes(range(16, 32))
MEK = bytes(range(32, 48))
MAK = bytes(range(48, 64))


class FakeUart:
    """A P1 and P3 port that goes nowhere (the unix HAL's ports need a pty)."""

    def write(self, buf, n=None):
        return n

    def txdone(self):
        return True

    def tx_wait_ms(self):
        return 0

    def drain(self, scratch):
        return 0

    def readinto(self, buf):
        return 0

    async def wait_rx(self, ms):
        return False


def _setup():
    try:
        os.mkdir(STATE)
    except OSError:
        pass
    with open(KEYS, "w") as f:
        f.write('{"system_title": "4D4B530000000001", "p1": {"ek": "%s", "ak": "%s"}, '
                '"management": {"ek": "%s", "ak": "%s", "client_system_title": '
                '"4D4B480000000001"}}' % (EK.hex(), AK.hex(), MEK.hex(), MAK.hex()))


def _module_of(o):
    try:
        return type(o).__module__
    except AttributeError:
        return ""


def walk(root, stop):
    """Every object reachable from root through instance attributes and containers, except
    through the objects for which stop(o) is true. Returns (objects, modules of their classes)."""
    seen = {}
    todo = [root]
    mods = set()
    objs = []
    while todo:
        o = todo.pop()
        k = id(o)
        if k in seen:
            continue
        seen[k] = 1
        objs.append(o)
        if stop(o):
            continue
        t = type(o)
        if t in (list, tuple):
            todo.extend(o)
            continue
        if t is dict:
            todo.extend(o.keys())
            todo.extend(o.values())
            continue
        if t in (int, str, bytes, bytearray, bool, float) or o is None:
            continue
        try:
            d = o.__dict__
        except AttributeError:
            continue
        if t is type:
            continue  # a class: its methods are code, not state
        mods.add(_module_of(o))
        todo.extend(d.values())
    return objs, mods


def _holds_key(objs):
    for o in objs:
        if type(o) in (bytes, bytearray):
            for k in (EK, AK, MEK, MAK):
                if len(o) >= 16 and bytes(o).find(k) >= 0:
                    return True
    return False


_setup()
hal = build({"state": STATE, "start": "2026-06-01T00:00:00Z", "speed": 1, "module": "single"})
hal.p1 = FakeUart()
hal.p3 = FakeUart()
meter = compose(hal, {"equipment_id": "MKS0000000000001", "logical_device_name": "MKS-NG0000000001"},
                KEYS, floors={})
assert meter.comms.p1.framer is not None, "P1 is encrypted: the keys are in the comms module"
assert meter.comms.p3.server.security is not None, "P3 has its management keys"

# The probes work: from the meter both modules are reached, with the keys.
everything, mods = walk(meter, lambda o: False)
assert "comms.secure" in mods and "metering.metrology" in mods, mods
assert "hal.unix.clock" in mods and "hal.unix.flash" in mods, mods
assert _holds_key(everything), "the walk finds the keys where they are"

# The metering module reaches nothing of comms.
objs, mods = walk(meter.metering, lambda o: False)
assert "metering.metrology" in mods and "metering.link_tx" in mods, mods
assert "hal.memlink" in mods, "the metering module's TX line"
for m in mods:
    assert not m.startswith("comms"), "the metering module reaches %s" % m
assert not _holds_key(objs), "the metering module reaches key material"

# Comms reaches nothing of metrology, and none of the metering side's hardware.
objs, mods = walk(meter.comms, lambda o: False)
assert "comms.link.port" in mods and "comms.p1.crypt" in mods, mods
for m in mods:
    assert not m.startswith("metering"), "comms reaches %s" % m
    assert m not in ("hal.unix.clock", "hal.unix.household", "hal.unix.frontend_direct",
                     "hal.unix.flash", "hal.unix", "meter"), "comms reaches %s" % m
for name in os.listdir(STATE):
    try:
        os.remove(STATE + "/" + name)
    except OSError:
        pass
try:
    os.rmdir(STATE)
except OSError:
    pass
print("OK")
sys.exit(0)
