"""The one `meterkast` command. Each subcommand lives in its own module `commands/<name>.py`
that defines `HELP`, `add_arguments(parser)` and `main(args) -> int`."""
import argparse
import importlib
import sys

from meterkast.errors import CliError

COMMANDS = ["run", "console", "keys", "dump", "read", "uart", "flash", "build", "bench", "accuracy",
            "soak"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="meterkast",
        description="Smart meter emulator (MicroPython firmware) and its host tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module("meterkast.commands." + name)
        except ModuleNotFoundError as exc:
            if exc.name != "meterkast.commands." + name:
                raise
            continue
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args._module.main(args) or 0
    except CliError as exc:
        print("meterkast %s: error: %s" % (args.command, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into head
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
