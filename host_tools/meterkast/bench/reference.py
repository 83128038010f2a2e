"""Run the firmware's reference test bench (firmware/hal/unix/reference_bench.py) under the real
MicroPython and judge its rows against the IEC 62053-21 class-1 limits.

Used by `meterkast accuracy`, `meterkast bench metrology` and the tests, so all three apply the
same acceptance rule: every error within HALF the class-1 limit.
"""
import json
import os
import subprocess

from meterkast import firmware_dir
from meterkast.emu.emulator import micropython_command
from meterkast.errors import CliError

FRONTENDS = ("waveform", "ic")
BENCHES = ("accuracy", "distortion", "starting", "no_load", "conservation")
MARGIN = 0.5  # the acceptance rule: half the class-1 limit


def run_bench(what, frontends=FRONTENDS, timeout=600, script=None):
    """Rows (dicts) printed by the bench `what` for each front-end."""
    if what not in BENCHES:
        raise CliError("unknown bench %r; known: %s" % (what, ", ".join(BENCHES)))
    env = dict(os.environ)
    env["MICROPYPATH"] = "%s:.frozen" % firmware_dir()
    cmd = [micropython_command()]
    cmd += ["-c", script] if script else ["-m", "hal.unix.reference_bench", what]
    cmd += list(frontends)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=str(firmware_dir()))
    if proc.returncode != 0:
        raise CliError("reference bench %s failed (exit %d): %s" % (
            what, proc.returncode, proc.stderr.strip().splitlines()[-1:] or ""))
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def judge_point(row):
    """(ratio, ok) for a load-point row: the worst of |error| / limit and, for an influence
    point, |change from its reference point| / allowed change; ok when ratio <= MARGIN."""
    ratio = abs(row["error_pct"]) / row["limit_pct"]
    if "reference" in row:
        ratio = max(ratio, abs(row["variation_pct"]) / row["variation_limit_pct"])
    return ratio, ratio <= MARGIN


def judge_starting(row):
    return row["first_pulse_s"] is not None and row["first_pulse_s"] <= row["limit_s"] and all(
        e > 0 for e in row["phase_mws"])


def judge_no_load(row):
    return row["pulses"] <= 1


def judge_conservation(row):
    """Registers within 1 Wh of the integral, register by register, and the pulse count within
    one pulse (1 Wh) of |integral| / 1 Wh."""
    return all(abs(d) < 1.0 for d in row["difference_wh"]) and abs(
        row["pulses"] - row["reference_pulses"]) <= 1
