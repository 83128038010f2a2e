"""P1 figures: telegram build time in the firmware, telegram size, wire time, CPU share at 1/s."""
import os
import subprocess
import time

from meterkast import firmware_dir
from meterkast.emu.emulator import Emulator, micropython_command

LINE_BPS = 11520  # 115200 baud 8N1



def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(emit):
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % firmware_dir())
    out = subprocess.run([micropython_command(), "-m", "hal.unix.p1_bench"], capture_output=True,
                         text=True, env=env, check=True, timeout=120,
                         cwd=str(firmware_dir())).stdout.split()
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
