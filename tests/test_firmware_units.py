"""Run every firmware unit test under the real MicroPython, MicroPython's own way.

Each `tests/fw/test_*.py` is a standalone MicroPython script. When `test_x.py.exp` exists the
output must match it exactly; otherwise the script must end by printing `OK`. A script that
cannot run on this port prints `SKIP`, which fails here: CI has every piece, so nothing may skip.
"""
import pytest
from conftest import FW_TESTS, run_micropython

SCRIPTS = sorted(FW_TESTS.glob("test_*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_firmware_unit(script):
    proc = run_micropython(script, timeout=300)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, "exit %d\n%s\n%s" % (proc.returncode, out, err)
    assert out.strip() != "SKIP", "%s skipped on the unix port" % script.name
    exp = script.with_name(script.name + ".exp")
    if exp.exists():
        assert out == exp.read_text(), "output differs from %s" % exp.name
    else:
        lines = out.strip().splitlines()
        assert lines and lines[-1] == "OK", out[-2000:]
