"""meterkast host tools: run the emulated meter, inspect its serial ports, read it as a head-end."""
import importlib
import sys
import types
from pathlib import Path

__version__ = "0.1.0"


def firmware_dir() -> Path:
    """The firmware tree that `meterkast run` boots: the package's own copy in an installed
    wheel (meterkast/firmware), else the checkout's firmware/ directory."""
    here = Path(__file__).resolve()
    installed = here.parent / "firmware"
    if (installed / "main.py").is_file():
        return installed
    for parent in here.parents:
        candidate = parent / "firmware"
        if (candidate / "main.py").is_file():
            return candidate
    raise RuntimeError("cannot find the firmware: neither meterkast/firmware (an installed "
                       "wheel) nor firmware/ beside host_tools/ (a checkout)")


def scenarios_dir() -> Path:
    """The household scenarios (seeds/scenarios in a checkout, meterkast/scenarios installed)."""
    here = Path(__file__).resolve()
    installed = here.parent / "scenarios"
    if installed.is_dir():
        return installed
    return here.parents[2] / "seeds" / "scenarios"


_FIRMWARE_MODULES = {}


def firmware_module(name):
    """A firmware module that runs under CPython too (e.g. contract.link, contract.reading),
    imported from the firmware tree for a host tool; loaded once per process.

    firmware/ is on sys.path only while it loads, with a stand-in `micropython` module that
    gives `const`. Afterwards the firmware's top-level names (util, contract, ...) and the
    stand-in leave sys.modules again, and whatever the host had under those names comes back:
    the firmware's generic package names never shadow a host module, nor the other way round.
    """
    mod = _FIRMWARE_MODULES.get(name)
    if mod is not None:
        return mod
    fw = firmware_dir()
    tops = {p.stem for p in fw.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    tops.add("micropython")

    def ours(key):
        return key.split(".")[0] in tops

    saved = {k: m for k, m in sys.modules.items() if ours(k)}
    for k in saved:
        del sys.modules[k]
    shim = types.ModuleType("micropython")
    shim.const = lambda x: x  # type: ignore[attr-defined]
    sys.modules["micropython"] = shim
    sys.path.insert(0, str(fw))
    try:
        mod = importlib.import_module(name)
    finally:
        sys.path.remove(str(fw))
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
    _FIRMWARE_MODULES[name] = mod
    return mod
