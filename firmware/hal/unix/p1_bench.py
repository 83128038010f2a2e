# meterkast bench: the P1 telegram builder's time per telegram under MicroPython
# MIT license
#
# Run by `meterkast bench p1` (micropython -m hal.unix.p1_bench, MICROPYPATH=firmware); prints
# the telegram size and the median, 10th and 90th percentile build times in microseconds.
import time

from comms.p1.telegram import TelegramBuilder
from contract import reading as rd
from util.tz import to_seconds


def build_times():
    r = rd.new_reading()
    r[rd.T] = to_seconds(2026, 7, 1, 10, 15, 0)
    r[rd.TARIFF] = 2
    for i in range(4):
        r[rd.IMPORT_T1_WH + i] = 12345678 - 1000 * i
    for i in range(3):
        r[rd.VOLTAGE_DV + i] = 2300 + i
        r[rd.CURRENT_MA + i] = 4500
        r[rd.PHASE_IMPORT_W + i] = 1000
    r[rd.IMPORT_W] = 3000
    r[rd.PF_LOG_N] = 2
    b = TelegramBuilder("MKS0000000000001")
    times = []
    n = 0
    for _ in range(2000):
        r[rd.T] += 1
        t0 = time.ticks_us()
        n = b.build(r)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    print(n, times[len(times) // 2], times[len(times) // 10], times[9 * len(times) // 10])


if __name__ == "__main__":
    build_times()
