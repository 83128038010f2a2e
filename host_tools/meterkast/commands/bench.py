"""meterkast bench: every benchmark figure as `name: value unit` lines.

Each area is a module of `meterkast.bench` that contributes through `run(emit)`. Figures are
measured in the same run as their references (the serial line rate, the host's own crypto,
dsmr_parser), so ratios mean something on any machine.
"""
import importlib
import sys
import time

from meterkast.bench import AREAS
from meterkast.errors import CliError

HELP = "run the benchmarks and print `name: value unit` lines"


def add_arguments(p):
    p.add_argument("areas", nargs="*", help="only these areas (e.g. p1 storage gcm dlms)")


def areas():
    return list(AREAS)


def main(args):
    chosen = args.areas or areas()
    unknown = sorted(set(chosen) - set(areas()))
    if unknown:
        raise CliError("no benchmark area %s; known: %s" % (", ".join(unknown), ", ".join(areas())))
    failed = []

    def emit(name, value, unit):
        if isinstance(value, float):
            value = ("%.4g" % value) if abs(value) < 1000 else "%.0f" % value
        print("%s: %s %s" % (name, value, unit), flush=True)

    for area in chosen:
        t0 = time.monotonic()
        try:
            importlib.import_module("meterkast.bench." + area).run(emit)
        except Exception as exc:  # a broken area must not hide the others' figures
            print("bench %s failed: %s: %s" % (area, type(exc).__name__, exc), file=sys.stderr)
            failed.append(area)
        emit("bench_%s_wall" % area, time.monotonic() - t0, "s")
    return 1 if failed else 0
