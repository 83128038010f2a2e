"""The firmware type-checks against MicroPython's own stubs: board code against rp2 and esp32,
the unix HAL against unix (configs in typecheck/, stubs installed by `make venv`)."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PORTS = ("rp2", "esp32", "unix")


def mypy(port, *args, cache=None):
    stubs = ROOT / ".venv" / "typings" / port
    assert (stubs / "stdlib" / "VERSIONS").is_file(), "no %s stubs in %s: run 'make venv'" % (port, stubs)
    cmd = [sys.executable, "-m", "mypy", "--config-file", "typecheck/mypy-%s.ini" % port]
    if cache:
        cmd += ["--cache-dir", str(cache)]
    p = subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=ROOT, timeout=300)
    return p.returncode, p.stdout + p.stderr


@pytest.mark.parametrize("port", PORTS)
def test_firmware_has_no_type_errors(port):
    code, out = mypy(port)
    assert code == 0 and "Success: no issues found" in out, out


PROBE = """\
import asyncio
import time

import machine


async def probe() -> None:
    await asyncio.sleep_ms(5)  # MicroPython's asyncio, not CPython's
    d: int = time.ticks_diff(time.ticks_ms(), time.ticks_ms())
    uart = machine.UART(1, baudrate=115200, invert=machine.UART.INV_TX)
    uart.nonexistent()
    machine.WDT(timeout="8 s")
"""


@pytest.mark.parametrize("port", PORTS)
def test_the_stubs_are_the_ones_checked(port, tmp_path):
    """A planted misuse is reported and MicroPython-only APIs are known: the configs really
    check against the port's stubs (CPython's typeshed would not know asyncio.sleep_ms)."""
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    code, out = mypy(port, str(probe), cache=tmp_path / "cache")
    assert code == 1, out
    assert "sleep_ms" not in out and "ticks_" not in out, out
    if port == "unix":
        assert 'Module has no attribute "WDT"' in out, "the unix port has no machine.WDT"
        assert '"type[UART]" has no attribute "INV_TX"' in out, out
    else:
        assert '"UART" has no attribute "nonexistent"' in out, out
        assert 'No overload variant of "WDT"' in out or 'Argument "timeout" to "WDT"' in out, out


CONTRACT_PROBE = """\
from contract.hal import TxLine


class NoTxDone:
    def write(self, buf, n):
        return n


def line(x: NoTxDone) -> TxLine:
    return x
"""


@pytest.mark.parametrize("port", PORTS)
def test_the_hal_contract_is_held_to(port, tmp_path):
    """firmware/contract/hal.pyi is a real contract: a line without txdone() is refused, and
    every port's config checks its back end against it (typecheck/hal_*_conformance.py)."""
    probe = tmp_path / "probe.py"
    probe.write_text(CONTRACT_PROBE)
    code, out = mypy(port, str(probe), cache=tmp_path / "cache")
    assert code == 1 and '"TxLine"' in out and "txdone" in out, out
    ini = (ROOT / "typecheck" / ("mypy-%s.ini" % port)).read_text()
    assert ("hal_unix_conformance.py" if port == "unix" else "hal_board_conformance.py") in ini
