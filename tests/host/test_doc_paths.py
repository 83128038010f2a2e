"""Every file or folder the user's guide, the docs and the requirements name exists: a path in
backticks that starts at a top-level folder of the project must be there."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "seeds" / "REQUIREMENTS.md", *sorted((ROOT / "docs").glob("*.md")),
        ROOT / "firmware" / "metering" / "README.md"]
TOPS = ("firmware/", "host_tools/", "tests/", "seeds/", "docs/")
_PATH = re.compile(r"`((?:%s)[\w./*-]*)" % "|".join(re.escape(t) for t in TOPS))


def named_paths():
    for doc in DOCS:
        for m in _PATH.finditer(doc.read_text()):
            path = m.group(1).split("::")[0].rstrip(".,:;")
            if "*" not in path and "<" not in path:
                yield doc.relative_to(ROOT), path


def test_every_named_path_exists():
    missing = sorted({(str(d), p) for d, p in named_paths() if not (ROOT / p).exists()})
    assert not missing, "paths named in the docs that do not exist: %s" % missing
    assert len(list(named_paths())) > 50  # the check reads the docs at all
