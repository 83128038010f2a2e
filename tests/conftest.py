"""Shared pytest fixtures: where the firmware lives and how to run it under the real MicroPython."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware"
FW_TESTS = ROOT / "tests" / "fw"
VECTORS = ROOT / "tests" / "vectors"
sys.path.insert(0, str(ROOT / "tests"))

# tests/fw holds MicroPython scripts, run by test_firmware_units.py, not pytest modules.
collect_ignore_glob = ["fw/*"]


def micropython_exe():
    exe = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which(
        "micropython"
    )
    if not exe:
        raise RuntimeError("the micropython command is missing; run 'make venv'")
    return exe


def run_micropython(script, *args, heapsize=None, timeout=120, stdin=None, env=None, cwd=None):
    """Run a script under the real MicroPython unix port with firmware/ on its path."""
    cmd = [micropython_exe()]
    if heapsize:
        cmd += ["-X", "heapsize=%s" % heapsize]
    cmd += [str(script), *map(str, args)]
    full_env = dict(os.environ)
    full_env["MICROPYPATH"] = "%s:%s:.frozen" % (FIRMWARE, FW_TESTS)
    if env:
        full_env.update(env)
    return subprocess.run(
        cmd,
        input=stdin,
        capture_output=True,
        timeout=timeout,
        env=full_env,
        cwd=cwd or str(ROOT),
    )


@pytest.fixture
def micropython():
    return run_micropython


def pytest_addoption(parser):
    # tests/host/test_flash_board.py runs against the board emulator unless a board is given.
    group = parser.getgroup("board", "flash tests against a real board")
    group.addoption("--board-port", help="serial port of a board's REPL, e.g. /dev/ttyACM0")
    group.addoption("--board-target", default="rp2", choices=["rp2", "esp32"],
                    help="build target of that board (default rp2)")
    group.addoption("--board-p1", help="serial port wired to the board's P1 output (a USB-serial "
                    "adapter on the open-collector line, see docs/board.md)")
