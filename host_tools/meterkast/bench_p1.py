"""P1 figures: telegram build time in the firmware, telegram size, wire time, CPU share at 1/s."""
import os
import subprocess
import tempfile
import time

from meterkast import firmware_dir
from meterkast.emulator import Emulator, micropython_command

LINE_BPS = 11520  # 115200 baud 8N1

_SCRIPT = """
import time
from comms.p1.telegram import TelegramBuilder
from contract import reading as rd
from util.tz import to_seconds
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
for i in range(2000):
    r[rd.T] += 1
    t0 = time.ticks_us()
    n = b.build(r)
    times.append(time.ticks_diff(time.ticks_us(), t0))
times.sort()
print(n, times[len(times) // 2], times[len(times) // 10], times[9 * len(times) // 10])
"""


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(emit):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(_SCRIPT)
    try:
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % firmware_dir())
        out = subprocess.run([micropython_command(), f.name], capture_output=True, text=True,
                             env=env, check=True, timeout=120).stdout.split()
    finally:
        os.unlink(f.name)
    size, median, p10, p90 = (int(x) for x in out)
    emit("p1_telegram_build_median", median, "us")
    emit("p1_telegram_build_p90", p90, "us")
    emit("p1_telegram_size", size, "B")
    emit("p1_telegram_wire_time_115200", size * 1000 / LINE_BPS, "ms")
    emit("p1_telegram_wire_share_of_1s_slot", size / LINE_BPS, "ratio")
    # The whole firmware at 1 telegram/s: CPU time of the MicroPython process over 20 s.
    emu = Emulator(p1="pty", speed=1, report=False).start()
    try:
        time.sleep(3)  # past start-up
        c0, w0 = _cpu_seconds(emu.proc.pid), time.monotonic()
        time.sleep(20)
        c1, w1 = _cpu_seconds(emu.proc.pid), time.monotonic()
    finally:
        emu.stop()
    emit("firmware_cpu_share_at_1_telegram_per_s", 100 * (c1 - c0) / (w1 - w0), "% of one core")
