"""Checks of `meterkast run`'s options, done before anything is started or created.

Each function checks one option and raises CliError with one line that names the option and
says how to fix it; none of them changes a file (only `check_state_writable` creates and removes
a probe file, and only in a directory the run is about to write to anyway). `check_run` applies
them all in that order and is what `Emulator.__init__` calls, so a bad option never leaves a
state directory, report, capture, pty link or flash image behind, and never reaches the
firmware as a traceback.

The firmware's limits are repeated here as numbers (tests/host/test_run_inputs.py checks that
they agree with firmware/): the meter's time range (util/tz.py), the fastest emulated clock
(hal/unix/clock.py) and the flash image size (hal/unix/flash.py). The scenario keys and their
types are read from the firmware's own defaults (hal/unix/household.py).
"""
import ast
import json
import math
import os
import re
import tempfile
from datetime import date
from functools import lru_cache
from pathlib import Path

from meterkast import firmware_dir
from meterkast.errors import CliError

# firmware/util/tz.py: UTC seconds since 2000-01-01 that the 32-bit flash time fields hold
UTC_MIN = 0  # 2000-01-01T00:00:00Z
UTC_MAX = 2147471999  # 2068-01-18T23:59:59Z
TIME_RANGE = "2000-01-01T00:00:00Z to 2068-01-18T23:59:59Z"
# firmware/hal/unix/clock.py
MAX_SPEED = 1000000
# firmware/hal/unix/flash.py
BLOCK_SIZE = 4096
BLOCK_COUNT = 256
IMAGE_SIZE = BLOCK_SIZE * BLOCK_COUNT

_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})"
                  r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d*)?(Z|z|[+-]\d{2}:\d{2})?)?")
_ISO_FORM = "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM], e.g. 2026-03-29T00:59:00Z"


def parse_iso(text):
    """Meter-epoch UTC seconds of an ISO 8601 date-time, or None if it is not one.

    The grammar of the firmware's util.tz.parse_iso (which may accept more: what is accepted
    here, the firmware accepts too, with the same value), with real calendar dates.
    """
    m = _ISO.fullmatch(text.strip())
    if not m:
        return None
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    h, mi, sec = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    zone = m[7] or "Z"
    if not (1 <= mo <= 12 and h < 24 and mi < 60 and sec < 61):
        return None
    try:
        days = (date(y, mo, d) - date(2000, 1, 1)).days
    except ValueError:
        return None
    off = 0
    if zone not in ("Z", "z"):
        off = int(zone[1:3]) * 3600 + int(zone[4:6]) * 60
        if zone[0] == "-":
            off = -off
    return days * 86400 + h * 3600 + mi * 60 + sec - off


def check_start(start):
    """--start: an ISO 8601 date-time within the meter's time range; returns its meter-epoch
    seconds (None when not given)."""
    if start is None:
        return None
    t = parse_iso(start)
    if t is None:
        raise CliError("--start %r is not an ISO 8601 date-time: use %s" % (start, _ISO_FORM))
    if not UTC_MIN <= t <= UTC_MAX:
        raise CliError("--start %s is outside the meter's time range %s (its flash records hold "
                       "32-bit times): pick a time in that range" % (start, TIME_RANGE))
    return t


def check_speed(speed):
    """--speed: meter seconds per wall second, a finite number above 0 and at most MAX_SPEED."""
    try:
        x = float(speed)
    except (TypeError, ValueError):
        x = math.nan
    if not 0 < x <= MAX_SPEED:  # false for nan; inf is above the cap
        raise CliError("--speed %s: give a number of meter seconds per wall second above 0 and at "
                       "most %d" % ("%g" % x if x == x else speed, MAX_SPEED))
    return x


def check_duration(duration):
    """--duration: whole meter seconds, at least 1 (None: run until stopped)."""
    if duration is None:
        return None
    if isinstance(duration, bool) or not isinstance(duration, int) or duration < 1:
        raise CliError("--duration %s: give a whole number of meter seconds, at least 1 (leave "
                       "it out to run until stopped)" % (duration,))
    return duration


def _missing_parent(path):
    """The directory that must hold `path` if that is missing (or not a directory), else None."""
    parent = os.path.dirname(os.path.abspath(path))
    return None if os.path.isdir(parent) else (os.path.dirname(path) or parent)


def check_output_file(path, option):
    """--report FILE, --capture FILE: a file that can be created in an existing directory."""
    if path is None or hasattr(path, "write") or hasattr(path, "data"):
        return  # not given, or an open file / writer object from a test
    path = str(path)
    missing = _missing_parent(path)
    if missing is not None:
        raise CliError("%s %s: directory %s does not exist: create it or write somewhere else"
                       % (option, path, missing))
    if os.path.isdir(path):
        raise CliError("%s %s is a directory: give a file name" % (option, path))
    target = path if os.path.exists(path) else os.path.dirname(os.path.abspath(path))
    if not os.access(target, os.W_OK):
        raise CliError("%s %s: no permission to write there: write somewhere else"
                       % (option, path))


def check_port(spec, name):
    """--p1/--p3 SPEC: a valid SPEC; for pty:LINK, a link that can be made where it is asked."""
    if spec is None:
        return
    from meterkast.line.endpoints import parse_spec

    kind, arg = parse_spec(spec, "--" + name)
    if kind == "tcp-wrapper" and name != "p3":
        raise CliError("--%s %s: the IEC 62056-47 wrapper is a P3 (DLMS) framing: use "
                       "tcp:HOST:PORT here" % (name, spec))
    if kind == "pty" and arg:
        missing = _missing_parent(arg)
        if missing is not None:
            raise CliError("--%s %s: directory %s does not exist: create it or put the link "
                           "elsewhere" % (name, spec, missing))
        if os.path.exists(arg) and not os.path.islink(arg):
            raise CliError("--%s %s: %s exists and is not a symlink: pick another link path"
                           % (name, spec, arg))
        if not os.access(os.path.dirname(os.path.abspath(arg)), os.W_OK):
            raise CliError("--%s %s: no permission to make a link there: pick another link path"
                           % (name, spec))


@lru_cache(maxsize=None)
def household_defaults():
    """The firmware's household settings and their defaults (hal/unix/household.py _DEFAULT):
    the keys a scenario file may set."""
    source = (firmware_dir() / "hal" / "unix" / "household.py").read_text()
    for node in ast.parse(source).body:
        targets = [getattr(t, "id", None) for t in getattr(node, "targets", ())]
        if isinstance(node, ast.Assign) and targets == ["_DEFAULT"]:
            return ast.literal_eval(node.value)
    raise RuntimeError("no _DEFAULT in the firmware's household.py")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return (_is_int(v) or isinstance(v, float)) and math.isfinite(v)


_APPLIANCE = ("[name, phase 0-2, watts, minutes, runs per day, earliest hour, latest hour, "
              "pf x1000]")


def _scenario_problem(params, defaults):
    """What is wrong with a scenario's settings (one sentence), or None."""
    if not isinstance(params, dict):
        return "holds a JSON %s, not an object of household settings" % type(params).__name__
    for key, value in params.items():
        if key.startswith("_"):
            continue  # "_about" and other comments
        if key not in defaults:
            return "unknown key %r (known: %s; keys starting with _ are comments)" % (
                key, ", ".join(sorted(defaults)))
        default = defaults[key]
        if default is None or isinstance(default, float):
            if not (_is_number(value) or (default is None and value is None)):
                return "%r must be a number%s, not %s" % (
                    key, " or null" if default is None else "", json.dumps(value))
        elif _is_int(default):
            if not _is_int(value):
                return "%r must be a whole number, not %s" % (key, json.dumps(value))
        elif key == "appliances":
            if not isinstance(value, list):
                return "'appliances' must be a list of rows %s" % _APPLIANCE
            for i, row in enumerate(value):
                if not (isinstance(row, list) and len(row) == 8 and isinstance(row[0], str)
                        and all(_is_int(x) for x in row[1:])):
                    return "appliances row %d is %s: each row is %s" % (
                        i, json.dumps(row), _APPLIANCE)
                if not 0 <= row[1] <= 2:
                    return "appliances row %d: phase %d is not 0, 1 or 2" % (i, row[1])
        elif isinstance(default, list):
            if not (isinstance(value, list) and all(_is_int(x) for x in value)):
                return "%r must be a list of whole numbers (one per phase), not %s" % (
                    key, json.dumps(value))
    merged = dict(defaults)
    merged.update({k: v for k, v in params.items() if not k.startswith("_")})
    phases = merged["phases"]
    if phases not in (1, 2, 3):
        return "'phases' must be 1, 2 or 3, not %s" % json.dumps(phases)
    if merged["nominal_dv"] < 1:
        return "'nominal_dv' (nominal voltage in 0.1 V) must be above 0"
    for key, value in params.items():
        if isinstance(defaults.get(key), list) and key != "appliances" and len(value) != phases:
            return "%r has %d entries but 'phases' is %d: give one per phase" % (
                key, len(value), phases)
    return None


def check_scenario(path):
    """--scenario: a JSON object whose keys are the firmware's household settings (or comments
    starting with "_"), each of the type of its default, with one list entry per phase."""
    if path is None:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError("--scenario %s cannot be read: %s" % (
            path, getattr(exc, "strerror", None) or exc))
    try:
        params = json.loads(text)
    except ValueError as exc:
        raise CliError("--scenario %s is not valid JSON (%s): fix the file" % (path, exc))
    problem = _scenario_problem(params, household_defaults())
    if problem:
        raise CliError("--scenario %s: %s" % (path, problem))
    return params


def check_state(state, option="--state"):
    """--state DIR: an existing directory, or one that can be created, where files can be made."""
    if state is None:
        return
    given, state = state, os.path.abspath(str(state))
    if os.path.exists(state) and not os.path.isdir(state):
        raise CliError("%s %s is not a directory: give a directory for the meter's flash image "
                       "and clock" % (option, given))
    existing = state
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise CliError("%s %s: %s is not a directory: pick another directory"
                       % (option, given, existing))
    if not os.access(existing, os.W_OK | os.X_OK):
        raise CliError("%s %s is not a writable directory: pick another directory"
                       % (option, given))


def check_state_writable(state, option="--state"):
    """--state DIR: the last check, as the firmware will write there: make and remove a probe
    file in DIR (or in its nearest existing parent), which also catches /proc-like directories
    that permissions alone do not rule out."""
    if state is None:
        return
    existing = os.path.abspath(str(state))
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    try:
        fd, probe = tempfile.mkstemp(prefix=".meterkast-probe-", dir=existing)
    except OSError:
        raise CliError("%s %s is not a writable directory: pick another directory"
                       % (option, state))
    os.close(fd)
    os.unlink(probe)


IMAGES = ("flash.img", "metering.img", "comms.img")  # one board's flash, or each module's


def check_flash_image(state, option="--state"):
    """Every flash image in the state dir (flash.img, metering.img, comms.img): absent, or
    exactly the firmware's image size and either blank (the firmware formats it) or a LittleFS
    file system that mounts (read on the host with littlefs-python). A wrong size or garbage is
    refused with the image left untouched."""
    if state is None:
        return
    for name in IMAGES:
        image = Path(state) / name
        if image.exists():
            _check_image(image, state, option)


def _check_image(image, state, option):
    try:
        data = bytearray(image.read_bytes())
    except OSError as exc:
        raise CliError("%s %s: cannot read %s: %s" % (option, state, image.name, exc.strerror))
    if len(data) != IMAGE_SIZE:
        raise CliError("%s %s: %s is %d bytes, not %d (%d blocks of %d): a truncated or foreign "
                       "image; move it away to start a blank meter" % (
                           option, state, image.name, len(data), IMAGE_SIZE, BLOCK_COUNT,
                           BLOCK_SIZE))
    if data[:2 * BLOCK_SIZE] == b"\xff" * (2 * BLOCK_SIZE):
        return  # erased superblocks: the firmware formats a blank image
    from littlefs import LittleFS, LittleFSError

    fs = LittleFS(block_size=BLOCK_SIZE, block_count=BLOCK_COUNT, mount=False)
    fs.context.buffer = data
    try:
        fs.mount()
    except LittleFSError:
        raise CliError("%s %s: %s is neither blank nor a LittleFS file system: move it away to "
                       "start a blank meter" % (option, state, image.name))


def check_run(p1=None, p3=None, start=None, speed=1.0, duration=None, scenario=None, state=None,
              capture=None, report=None, check_flash=True):
    """Every check of a run, cheapest first; the state-dir probe comes last."""
    check_speed(speed)
    check_start(start)
    check_duration(duration)
    check_port(p1, "p1")
    check_port(p3, "p3")
    check_output_file(report, "--report")
    check_output_file(capture, "--capture")
    check_scenario(scenario)
    check_state(state)
    if check_flash:
        check_flash_image(state)
    check_state_writable(state)
