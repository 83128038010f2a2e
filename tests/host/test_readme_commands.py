"""Every `meterkast` command line the README shows is one the command accepts: its subcommand
exists and its options parse (they are not run here; the end-to-end tests run them)."""
import shlex
from pathlib import Path

import pytest
from meterkast.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def readme_commands():
    out = []
    fenced = False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        line = line.strip()
        if not fenced or not line.startswith("meterkast ") or "[" in line:  # [..]: a synopsis
            continue
        out.append(line.split(" #")[0].split(" | ")[0].strip())
    return out


def test_the_readme_shows_commands():
    assert len(readme_commands()) >= 20


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_parses(line):
    parser = build_parser()
    try:
        args = parser.parse_args(shlex.split(line)[1:])
    except SystemExit as exc:
        pytest.fail("the README's command does not parse (exit %s): %s" % (exc.code, line))
    assert args._module.__name__.startswith("meterkast.commands.")
