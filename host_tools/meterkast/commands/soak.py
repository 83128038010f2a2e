"""meterkast soak: the soak campaigns at full size, as `name: value unit` lines.

kills  1,000 SIGKILLs of a live meter with keys (encrypted P1, P3 management reads): no IV
       ever reused, registers never back or ahead, profile clean
line   1,000,000 telegrams, plain and again encrypted, through a faulty line: no false accept
p3     100,000 fuzzed frames into P3: no crash, heap flat, P1 undisturbed, a read afterwards

The logic is meterkast.soak; tests/host/test_soak.py runs the same campaigns small.
"""
import sys
import tempfile

from meterkast.errors import CliError

HELP = "run the soak campaigns (power cuts, faulty line, P3 fuzz) and print `name: value unit`"


def add_arguments(p):
    p.add_argument("--size", default="full",
                   help="full (1,000 kills, 1,000,000 telegrams, 100,000 frames), small "
                        "(20, 20,000, 2,000) or a scale of the full size, e.g. 0.1")
    p.add_argument("--only", action="append", choices=("kills", "line", "p3"),
                   help="run only this campaign (repeatable)")
    p.add_argument("--seed", type=int, default=1, help="seed of every random choice (default 1)")
    p.add_argument("--p3-baud", type=int, metavar="BAUD",
                   help="P3 line speed for the fuzz (default 115200 up to 10,000 frames, "
                        "921600 above: the firmware takes fuzz faster than 115200 carries it)")
    p.add_argument("--workdir", metavar="DIR",
                   help="keep keys, flash states and counters here (default: a temporary "
                        "directory, removed afterwards)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _emit(name, value, unit):
    if isinstance(value, float):
        value = ("%.4g" % value) if abs(value) < 1000 else "%.0f" % value
    print("%s: %s %s" % (name, value, unit), flush=True)


def main(args):
    from meterkast import soak

    try:
        size = soak.sizes(args.size)
    except ValueError:
        raise CliError("--size must be full, small or a positive number, not %r" % args.size)
    chosen = args.only or list(soak.CAMPAIGNS)
    progress = None if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="meterkast-soak-")
        workdir = tmp.name
    failed = []
    try:
        for name in soak.CAMPAIGNS:
            if name not in chosen:
                continue
            kw = {}
            if name == "p3":
                kw["baudrate"] = args.p3_baud or (115200 if size["p3"] <= 10_000 else 921600)
            try:
                result = soak.run(name, workdir, size, seed=args.seed, progress=progress, **kw)
            except Exception as exc:  # a broken campaign must not hide the others' figures
                print("soak %s failed: %s: %s" % (name, type(exc).__name__, exc), file=sys.stderr)
                failed.append(name)
                continue
            for figure in result["figures"]:
                _emit(*figure)
            for text in result["failures"]:
                print("soak %s FAILED: %s" % (name, text), file=sys.stderr)
            if result["failures"]:
                failed.append(name)
    finally:
        if tmp is not None:
            tmp.cleanup()
    if failed:
        print("soak: failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1
    return 0
