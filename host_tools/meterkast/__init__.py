"""meterkast host tools: run the emulated meter, inspect its serial ports, read it as a head-end."""
from pathlib import Path

__version__ = "0.1.0"


def firmware_dir() -> Path:
    """The firmware tree that `meterkast run` boots (the repository's firmware/ directory)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "firmware"
        if (candidate / "main.py").is_file():
            return candidate
    raise RuntimeError("cannot find the firmware/ directory next to host_tools/")
