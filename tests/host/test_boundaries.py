"""Architecture rules, enforced: what metrology may import, and that nothing can disconnect supply."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"


def imports_of(path):
    tree = ast.parse(path.read_text(), str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import inside a package
                pkg = path.parent.relative_to(FIRMWARE).as_posix().replace("/", ".")
                names.add(pkg + ("." + node.module if node.module else ""))
            elif node.module:
                names.add(node.module)
    return names


def _firmware_files(sub):
    return sorted((FIRMWARE / sub).rglob("*.py"))


FORBIDDEN_FOR_METROLOGY = re.compile(
    r"^(comms|cryptolib|ucryptolib|hashlib|hmac|ssl|tls|socket|hal|machine|termios|select)(\.|$)"
)


def test_metrology_imports_nothing_from_comms_crypto_or_hardware():
    files = _firmware_files("metering")
    assert len(files) >= 5
    for f in files:
        for name in imports_of(f):
            assert not FORBIDDEN_FOR_METROLOGY.match(name), "%s imports %s" % (f.relative_to(ROOT), name)


def test_contract_and_util_depend_on_nothing_of_the_meter():
    for sub in ("contract", "util"):
        for f in _firmware_files(sub):
            for name in imports_of(f):
                assert name.split(".")[0] not in ("comms", "metering", "hal", "meter"), (f, name)


# The emulator's benches that time comms' own cipher and DLMS server with test keys (the GCM
# bench, the P3 bench's firmware-side client); no meter loads them and no board image carries
# them (hal/unix is never built).
CRYPTO_BENCHES = ("hal/unix/gcm_bench.py", "hal/unix/p3bench/client.py")


def test_only_comms_touches_crypto_and_keys():
    for f in FIRMWARE.rglob("*.py"):
        rel = f.relative_to(FIRMWARE).as_posix()
        if rel.startswith("comms/") or rel in CRYPTO_BENCHES:
            continue
        for name in imports_of(f):
            assert not re.match(r"^(cryptolib|ucryptolib)$", name), (rel, name)
            assert not re.match(r"^comms\.(crypto|p1\.crypt|dlms\.security)", name), (
                rel, name)


def test_the_rule_checker_catches_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from comms.crypto.gcm import Gcm\nimport cryptolib\nfrom util.tz import LocalTime\n")
    names = imports_of(bad)
    assert names == {"comms.crypto.gcm", "cryptolib", "util.tz"}
    assert sorted(n for n in names if FORBIDDEN_FOR_METROLOGY.match(n)) == ["comms.crypto.gcm", "cryptolib"]


DISCONNECT = re.compile(r"disconnect[_ ]?control|breaker|relay|\bcontactor|cut[_ ]?off|load[_ ]?switch",
                        re.IGNORECASE)


def test_no_disconnect_command_exists_anywhere():
    """The metering module cannot switch supply: no breaker, relay or disconnect object or command."""
    offenders = []
    for base in (FIRMWARE, ROOT / "host_tools"):
        for f in base.rglob("*.py"):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if DISCONNECT.search(code):
                    offenders.append("%s:%d: %s" % (f.relative_to(ROOT), i, line.strip()))
    assert not offenders, "\n".join(offenders)
    # DLMS: no object of the disconnect control class (70) and no OBIS 0.0.96.3.10.255.
    for f in (FIRMWARE / "comms").rglob("*.py"):
        text = f.read_text()
        assert "96, 3, 10" not in text and "96.3.10" not in text, f


def test_control_commands_have_no_disconnect():
    """The emulator's control line knows stop, clock and stats only."""
    text = (FIRMWARE / "meter.py").read_text()
    commands = set(re.findall(r'words\[0\] == "(\w+)"', text))
    assert commands == {"stop", "clock", "stats"}


def test_comms_imports_nothing_from_metrology():
    """Comms takes readings and captures as data (the one-way queue, later the link), never
    metrology's objects or code."""
    files = _firmware_files("comms")
    assert len(files) >= 10
    for f in files:
        for name in imports_of(f):
            assert name.split(".")[0] != "metering", "%s imports %s" % (f.relative_to(ROOT), name)


# What a metering module has no business touching: the command line and environment (where
# the emulator names the keys file), the keys file itself, or the keystore.
KEY_REACH = re.compile(r"\bargv\b|\benviron\b|\bgetenv\b|keys\.json|--keys|keystore|\bkeys_path\b")


def _key_reach(path):
    hits = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if KEY_REACH.search(code):
            hits.append("%s:%d: %s" % (path.relative_to(ROOT) if path.is_relative_to(ROOT) else path,
                                       i, line.strip()))
    return hits


def test_metrology_cannot_reach_the_keys_path():
    hits = [h for sub in ("metering", "contract") for f in _firmware_files(sub) for h in _key_reach(f)]
    assert not hits, "\n".join(hits)


# The composition roots that hand the keys path to the comms module (and nothing else): the
# emulator's and the single board's entry point, and the comms board's.
KEY_HOLDERS = ("main.py", "main_comms.py")
# Bench scripts of the emulator, run on their own with their own arguments; no meter loads them.
STANDALONE = ("hal/unix/link_bench.py", "hal/unix/reference_bench.py", "hal/unix/storage_bench.py",
              "hal/unix/gcm_bench.py", "hal/unix/p3bench/harness.py")


def test_nothing_outside_comms_names_the_keys_path():
    files = [f for f in FIRMWARE.rglob("*.py")
             if not f.relative_to(FIRMWARE).as_posix().startswith("comms/")
             and f.relative_to(FIRMWARE).as_posix() not in KEY_HOLDERS + STANDALONE]
    assert len(files) >= 40 and FIRMWARE / "main_metering.py" in files
    hits = [h for f in files for h in _key_reach(f)]
    assert not hits, "\n".join(hits)


def test_the_key_reach_checker_catches_a_probe(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import sys\n"
                     "path = sys.argv[sys.argv.index('--keys') + 1]\n"
                     "print(open(path).read())\n")
    assert len(_key_reach(probe)) == 1
    probe.write_text("import os\nk = os.getenv('KEYS')\n")
    assert len(_key_reach(probe)) == 1
