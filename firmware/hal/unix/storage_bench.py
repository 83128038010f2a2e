# meterkast bench: register-store commits and profile appends on LittleFS, under MicroPython
# MIT license
#
# Run by `meterkast bench storage` (micropython -m hal.unix.storage_bench IMAGE); prints the
# median and 90th percentile register persist time and the median profile append, in us.
import sys
import time

from hal.unix.flash import mount
from metering.events import PowerFailures, VoltageEvents
from metering.profile import QuarterHourProfile
from metering.registers import EnergyRegisters
from metering.store import RegisterStore


def commits(image):
    root, _ = mount(image, "/bench")
    s = RegisterStore(root)
    r = EnergyRegisters()
    f = PowerFailures()
    v = VoltageEvents()
    times = []
    for i in range(300):
        r.add(0, 123456789)
        t0 = time.ticks_us()
        s.save(1000 + i, i, 0, r, f, v)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    p = QuarterHourProfile(root)
    caps = []
    for i in range(300):
        t0 = time.ticks_us()
        p.append(900 * i, 0, r.wh)
        caps.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    caps.sort()
    print(times[len(times) // 2], times[9 * len(times) // 10], caps[len(caps) // 2])


if __name__ == "__main__":
    commits(sys.argv[1])
