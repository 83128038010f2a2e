"""Storage figures: accelerated simulation rate with persistence, flash wear per day, commit time."""
import os
import subprocess
import tempfile
import time

from meterkast import firmware_dir
from meterkast.emu.emulator import Emulator, micropython_command


def run(emit):
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, MICROPYPATH="%s:.frozen" % firmware_dir())
        out = subprocess.run([micropython_command(), "-m", "hal.unix.storage_bench",
                              os.path.join(d, "flash.img")], capture_output=True, text=True,
                             env=env, check=True, timeout=300, cwd=str(firmware_dir())).stdout.split()
    emit("register_persist_median", int(out[0]), "us")
    emit("register_persist_p90", int(out[1]), "us")
    emit("profile_capture_append_median", int(out[2]), "us")
    with tempfile.TemporaryDirectory() as state:
        emu = Emulator(p1="pty", start="2026-06-10T00:00:00Z", speed=1e6, duration=86400,
                       state=state, report=False)
        t0 = time.monotonic()
        emu.start()
        emu.wait(600)
        wall = time.monotonic() - t0
        emu.close()
        flash = next(e for e in emu.events if e.get("ev") == "flash")
    emit("accelerated_meter_seconds_per_wall_second", 86400 / wall, "s/s")
    emit("accelerated_day_wall_time", wall, "s")
    emit("flash_bytes_written_per_meter_day", flash["written"] * 86400 // max(1, flash["meter_s"]), "B")
    emit("flash_block_erases_per_meter_day", flash["erases"] * 86400 // max(1, flash["meter_s"]), "blocks")
