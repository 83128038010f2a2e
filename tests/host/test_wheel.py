"""`pip install` of the built wheel gives a `meterkast` that carries its firmware and scenarios
as package data and works from any directory, not only from a checkout."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd, cwd, timeout=600):
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, "%s\n%s\n%s" % (" ".join(map(str, cmd)), p.stdout[-3000:],
                                              p.stderr[-3000:])
    return p.stdout


def test_the_installed_wheel_runs_the_meter_from_anywhere(tmp_path):
    src = tmp_path / "src"  # a copy: building never writes into the checkout
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("host_tools", "firmware", "seeds"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", wheels, src], tmp_path)
    wheel = next(wheels.glob("meterkast-*.whl"))
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp_path)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
          wheel], tmp_path)
    shutil.rmtree(src)  # nothing of the sources is left to fall back on
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([venv / "bin" / "python", "-c",
                  "import meterkast; print(meterkast.firmware_dir()); print(meterkast.scenarios_dir())"],
                 elsewhere).split()
    assert all(Path(w).is_relative_to(venv) for w in where), where
    out = _run([venv / "bin" / "meterkast", "run", "--duration", "3", "--start",
                "2026-06-01T12:00:00Z", "--scenario", "solar"], elsewhere, timeout=120)
    assert out.startswith("p1: /dev/pts/"), out
    out = _run([venv / "bin" / "meterkast", "accuracy"], elsewhere, timeout=300)
    assert "result: PASS" in out, out
    assert sorted(p.name for p in elsewhere.iterdir()) == [], "nothing written where it ran"


def test_the_wheel_lists_every_host_package():
    """A host subpackage left out of pyproject.toml's list would be missing from the wheel."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    pkg = ROOT / "host_tools"
    found = {".".join(p.parent.relative_to(pkg).parts) for p in pkg.rglob("__init__.py")
             if "__pycache__" not in p.parts}
    assert found and found <= listed, sorted(found - listed)
