"""Lint: ruff (pinned in pyproject.toml) over the host tools, the tests and the firmware, with
the rules pyproject.toml selects (MicroPython code keeps its own import order)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean():
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "host_tools", "tests", "firmware"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_ruff_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n")
    ruff = Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "--config",
                           str(ROOT / "pyproject.toml"), str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "F401" in proc.stdout, proc.stdout
