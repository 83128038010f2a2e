"""meterkast build: compile the firmware with mpy-cross into a tree ready to copy to a board.

`main.py` (and `boot.py`, if there is one) stay source: the board runs them by file name.
Every other module becomes `.mpy`, compiled with the board's `-march` so the viper/native
kernels (comms/crypto/ghash.py) run natively; bytecode-only modules carry no architecture and load
on any MicroPython >= 1.23. Unix-only modules (`hal/unix`) are left out.

Targets: rp2 (armv6m: RP2040 and the ARM cores of the RP2350), esp32 (xtensawin) and emu
(the board emulator, the unix port on this machine).
"""






from pathlib import Path

from meterkast.image.build import (
    MODULES,
    TARGETS,
    build,
)

HELP = "compile the firmware with mpy-cross into a deployable tree (build/BOARD)"


def add_arguments(p):
    p.add_argument("--board", required=True, choices=TARGETS, help="build target")
    p.add_argument("--module", choices=MODULES, default="single",
                   help="which image: both modules on one board (single, default), or the "
                        "metering or the comms module's own board")
    p.add_argument("--out", metavar="DIR", help="output folder (default build/BOARD[-MODULE])")


def main(args):
    default = args.board if args.module == "single" else "%s-%s" % (args.board, args.module)
    out = Path(args.out or Path("build") / default)
    manifest = build(args.board, out, module=args.module)
    files = manifest["files"]
    mpy = sum(f["size"] for name, f in files.items() if name.endswith(".mpy"))
    src = sum(f["source_size"] for name, f in files.items() if name.endswith(".mpy"))
    print("%s: %d files, the %s image for %s (-march=%s), %d bytes of .mpy from %d bytes of "
          "source" % (out, len(files), args.module, args.board, manifest["march"], mpy, src))
    return 0

