"""Metrology figures: window-DSP throughput under MicroPython (viper and bytecode) against the
real-time need, the emulator's cost per meter second for each front-end, and the accuracy
table's worst error as a fraction of the class-1 limit.

Real-time need of the waveform front-end: 2 channels x 128 samples x 50 Hz x 3 phases =
38,400 samples/s (6,400 samples/s per channel: firmware/metering/README.md). The throughput
counts every sample of both channels through the kernel and the window closes (the whole
per-cycle computation), on this host; a board is slower by the ratio of their interpreters (an RP2040 runs MicroPython roughly 20-50x slower than this host, so the
viper ratio is the one that matters there).
"""
import os
import subprocess

from meterkast import firmware_dir
from meterkast.bench.reference import judge_point, run_bench
from meterkast.emu.emulator import micropython_command

REAL_TIME_SAMPLES = 2 * 128 * 50 * 3


def _micropython(module):
    env = dict(os.environ)
    env["MICROPYPATH"] = "%s:.frozen" % firmware_dir()
    proc = subprocess.run([micropython_command(), "-m", module], capture_output=True, text=True,
                          timeout=300, env=env, cwd=str(firmware_dir()))
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-500:])
    return proc.stdout.split("\n")


def run(emit):
    for line in _micropython("hal.unix.dsp_bench"):
        w = line.split()
        if not w:
            continue
        if w[0] == "dsp":
            rate = int(w[2])
            emit("metrology_dsp_samples_per_s_%s" % w[1], rate, "samples/s")
            emit("metrology_dsp_realtime_ratio_%s" % w[1], rate / REAL_TIME_SAMPLES, "x")
        elif w[0] == "emu":
            us = int(w[3])
            name = w[1] + ("_full_rate" if w[2] == "1" and w[1] == "waveform" else
                           ("_representative" if w[1] == "waveform" else ""))
            emit("metrology_emulated_%s_per_meter_s" % name, us / 1000, "ms")
            emit("metrology_emulated_%s_max_speed" % name, 1e6 / us if us else 0, "x")
    worst = {}
    for row in run_bench("accuracy"):
        ratio, _ = judge_point(row)
        worst[row["frontend"]] = max(worst.get(row["frontend"], 0.0), ratio)
    for kind in sorted(worst):
        emit("metrology_accuracy_worst_%s" % kind, worst[kind], "of class-1 limit")
