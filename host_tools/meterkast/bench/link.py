"""Link figures: the internal link between the metering and the comms module (docs/link.md).

* Frame sizes and line use, from the firmware's encoder under MicroPython
  (firmware/hal/unix/link_bench.py): the bytes and frames it emits over a simulated day (86,400
  calls of second(), a capture added at each of the 96 quarter hours), against the line's
  11,520 B/s (115200 baud, 8N1).
* CPU per frame on each end, measured in the same MicroPython run: the encoder per meter second
  (all frames of that second), the comms end per frame (the decoder alone, and the comms
  module's link port: decoder, link guard, reading queue and clock, as the firmware runs it),
  and both against the meter second (1,000,000 us) as a share of one core.
* The heap each module holds after a collection at the end of an accelerated day with every
  port and keys in use (its `mem` event), as two processes and as one (a single board).
* The CPU share of the firmware processes of an idle meter at 1 telegram/s (real time, P1
  drained by a reader), per process from /proc/<pid>/schedstat (time on a CPU, ns; without it
  /proc/<pid>/stat's clock ticks: 10 ms in 15 s is 0.07 %).
"""
import json
import os
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from meterkast import firmware_dir
from meterkast.bench.board import KEYS, START
from meterkast.emu.emulator import Emulator, micropython_command
from meterkast.keys.file import write_keys

LINE_BPS = 11520  # 115200 baud, 8N1: 10 bits a byte
METER_SECOND_US = 1_000_000
DAY = 86400
SPEED = 8000
FRAMES = ("reading", "capture", "identity", "status")
WARMUP_S = 4.0
WINDOW_S = 15.0


def micropython_figures():
    """The JSON object firmware/hal/unix/link_bench.py prints."""
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % firmware_dir())
    proc = subprocess.run([micropython_command(), "-m", "hal.unix.link_bench"], capture_output=True,
                          text=True, env=env, cwd=str(firmware_dir()), timeout=300)
    if proc.returncode != 0:
        raise RuntimeError("link bench failed under MicroPython:\n" + proc.stdout + proc.stderr)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["checks_ok"]:
        raise RuntimeError("the comms end did not believe the simulated day: %s" % out)
    return out


def heap_after_day(workdir, modules):
    """{process name: live heap} from the `mem` events of an accelerated day."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True)
    keys = workdir / "keys.json"
    write_keys(str(keys), KEYS, force=True)
    emu = Emulator(modules=modules, p1="pty", p3="pty", keys=keys, state=workdir / "state",
                   start=START, speed=SPEED, duration=DAY, report=False)
    emu.start()
    try:
        emu.wait(60 + DAY / SPEED * 4)
    except subprocess.TimeoutExpired:
        emu.kill()
        raise RuntimeError("a day at %dx did not end in time (%s modules)" % (SPEED, modules))
    finally:
        time.sleep(0.1)  # the last stdout lines
        emu.close()
    if emu.returncode() != 0:
        raise RuntimeError("%s modules: exit %s: %s" % (modules, emu.returncode(), emu.stderr[-500:]))
    mem = {e.get("module", "single"): e["live"] for e in emu.events if e.get("ev") == "mem"}
    if set(mem) != set(emu.procs):
        raise RuntimeError("%s modules: mem events from %s only" % (modules, sorted(mem)))
    return mem


def _cpu_seconds(pid):
    """CPU time of a process: nanoseconds on a CPU from /proc/<pid>/schedstat where the kernel
    has it, else utime + stime in clock ticks from /proc/<pid>/stat."""
    try:
        with open("/proc/%d/schedstat" % pid) as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        pass
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Drain(threading.Thread):
    """A P1 reader: takes every byte the meter sends, as a connected home display would."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        self.bytes = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            if select.select([self.fd], [], [], 0.2)[0]:
                try:
                    self.bytes += len(os.read(self.fd, 4096))
                except OSError:
                    pass

    def stop(self):
        self.done.set()
        self.join(2)
        os.close(self.fd)


def idle_cpu_shares(modules):
    """{process name: % of one core} over WINDOW_S wall seconds of a meter at 1x."""
    emu = Emulator(modules=modules, p1="pty", speed=1, duration=None, report=False)
    emu.start()
    drain = _Drain(emu.port("p1"))
    drain.start()
    try:
        time.sleep(WARMUP_S)
        pids = {name: p.pid for name, p in emu.procs.items()}
        c0 = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        w0, b0 = time.monotonic(), drain.bytes
        time.sleep(WINDOW_S)
        c1 = {name: _cpu_seconds(pid) for name, pid in pids.items()}
        w1, b1 = time.monotonic(), drain.bytes
        if not emu.alive():
            raise RuntimeError("the %s-module meter stopped: %s" % (modules, emu.stderr[-500:]))
    finally:
        drain.stop()
        emu.stop()
    if b1 - b0 < WINDOW_S * 100:
        raise RuntimeError("%s modules: P1 sent %d bytes in %.0f s" % (modules, b1 - b0, w1 - w0))
    return {name: 100 * (c1[name] - c0[name]) / (w1 - w0) for name in pids}


def run(emit):
    mp = micropython_figures()
    sizes, frames, nbytes = mp["sizes"], mp["frames"], mp["bytes"]
    seconds = mp["seconds"]
    for name in FRAMES:
        emit("link_frame_bytes_%s" % name, sizes[name], "B")
    emit("link_line_bytes_per_second", LINE_BPS, "B/s")
    day_bytes = sum(nbytes.values()) * DAY // seconds
    emit("link_bytes_per_day", day_bytes, "B")
    for name in FRAMES:
        emit("link_bytes_per_day_%s" % name, nbytes.get(name, 0) * DAY // seconds, "B")
    per_s = sum(nbytes.values()) / seconds
    emit("link_bytes_per_second_avg", per_s, "B/s")
    emit("link_line_share", per_s / LINE_BPS, "ratio")
    emit("link_second_bytes_max", mp["second_max"], "B")
    emit("link_second_wire_time_max", mp["second_max"] * 1000 / LINE_BPS, "ms")
    fps = sum(frames.values()) / seconds
    emit("link_frames_per_second_avg", fps, "frames/s")

    enc = mp["encode"]
    enc_us = enc["total_us"] / enc["calls"]
    emit("link_encode_us_per_meter_second", enc_us, "us")
    emit("link_encode_us_per_meter_second_median", enc["median_us"], "us")
    emit("link_encode_us_per_meter_second_p90", enc["p90_us"], "us")
    emit("link_encode_cpu_share", 100 * enc_us / METER_SECOND_US, "% of one core")
    n = mp["decode_frames"]
    dec_us = mp["decode"]["total_us"] / n
    port_us = mp["port"]["total_us"] / n
    emit("link_decode_us_per_frame", dec_us, "us")
    emit("link_decode_guard_us_per_frame", port_us, "us")
    port_s = mp["port"]["total_us"] / mp["decode_seconds"]
    emit("link_decode_guard_us_per_meter_second", port_s, "us")
    emit("link_decode_guard_cpu_share", 100 * port_s / METER_SECOND_US, "% of one core")

    tmp = Path(tempfile.mkdtemp(prefix="bench-link-"))
    try:
        two = heap_after_day(tmp / "two", "two")
        emit("module_heap_live_metering", two["metering"], "B")
        emit("module_heap_live_comms", two["comms"], "B")
        emit("module_heap_live_single", heap_after_day(tmp / "single", "single")["single"], "B")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    two = idle_cpu_shares("two")
    emit("idle_cpu_share_metering", two["metering"], "% of one core")
    emit("idle_cpu_share_comms", two["comms"], "% of one core")
    emit("idle_cpu_share_two_modules", two["metering"] + two["comms"], "% of one core")
    emit("idle_cpu_share_single", idle_cpu_shares("single")["single"], "% of one core")
