"""meterkast build (mpy-cross per board) and the parts of meterkast flash that need no device."""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FIRMWARE, run_micropython
from meterkast.errors import CliError
from meterkast.image.build import MARKER, build, module_table
from meterkast.image.flash import config_for

# .mpy header byte 2 is (native architecture << 2) | sub-version (py/persistentcode.h)
ARCH = {"none": 0, "x64": 2, "armv6m": 4, "xtensawin": 10}


def arch_of(path):
    return Path(path).read_bytes()[2] >> 2


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("builds")
    return {t: (base / t, build(t, base / t)) for t in ("rp2", "esp32", "emu")}


def test_tree_main_py_stays_source_everything_else_mpy(builds):
    sources = sorted(p.relative_to(FIRMWARE).as_posix() for p in FIRMWARE.rglob("*.py")
                     if "__pycache__" not in p.parts)
    for target, (out, manifest) in builds.items():
        files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
        assert MARKER in files
        files.remove(MARKER)
        assert files == sorted(manifest["files"])
        assert (out / "main.py").read_bytes() == (FIRMWARE / "main.py").read_bytes()
        single = module_table().files("single")
        expected = sorted(s if s == "main.py" else s[:-3] + ".mpy" for s in sources
                          if not s.startswith("hal/unix/") and module_table().carries("single", s))
        assert "comms/crypto/gcm.mpy" in expected and "metering/metrology.mpy" in expected, single
        assert files == expected, target
        for rel in files:
            if rel.endswith(".mpy"):
                head = (out / rel).read_bytes()[:2]
                assert head == b"M\x06", (rel, head)


def test_native_code_is_built_for_each_board(builds):
    assert arch_of(builds["rp2"][0] / "comms/crypto/ghash.mpy") == ARCH["armv6m"]
    assert arch_of(builds["esp32"][0] / "comms/crypto/ghash.mpy") == ARCH["xtensawin"]
    assert arch_of(builds["emu"][0] / "comms/crypto/ghash.mpy") == ARCH["x64"]
    for target in ("rp2", "esp32"):
        assert arch_of(builds[target][0] / "util/tz.mpy") == ARCH["none"], "bytecode is portable"
    mpy = sum(f["size"] for f in builds["rp2"][1]["files"].values())
    src = sum(f["source_size"] for f in builds["rp2"][1]["files"].values())
    assert mpy < src / 2, "compiled modules are far smaller than their source"


SMOKE = """
import sys
try:
    import comms.crypto.ghash
    print("native ok")
except ValueError as e:
    print("native refused:", e)
import comms.crypto.gcm
print("gcm native", comms.crypto.gcm._native is not None)
from util.tz import parse_iso
print(parse_iso("2026-06-01T12:00:00Z"))
"""


@pytest.mark.parametrize("target,native", [("rp2", False), ("emu", True)])
def test_the_unix_port_loads_the_build(builds, tmp_path, target, native):
    """Bytecode .mpy load anywhere; armv6m native code is refused by the x64 unix port (proof that
    -march was applied) and GCM falls back to its bytecode kernels; the emu build runs natively."""
    script = tmp_path / "smoke.py"
    script.write_text(SMOKE)
    p = run_micropython(script, env={"MICROPYPATH": "%s:.frozen" % builds[target][0]})
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert ("native ok" in out) == native and ("native refused: incompatible .mpy arch" in out) != native, out
    assert "gcm native %s" % native in out
    assert "833630400" in out


def test_build_refuses_to_wipe_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CliError, match="not a meterkast build"):
        build("rp2", tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_build_cli(tmp_path):
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "build", "--board", "esp32", "--out",
                        str(tmp_path / "b")], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "-march=xtensawin" in p.stdout and (tmp_path / "b" / "main.py").is_file()
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "build", "--board", "avr"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_meter_json_for_first_flash_and_update():
    assert config_for({}, "rp2", None, 12) == {"serial": 12}
    assert config_for({}, "rp2", "pico2", 12) == {"serial": 12, "board": "pico2"}
    assert config_for({}, "emu", None, 5) == {"serial": 5, "board": "emu"}
    # an update keeps the identity and any settings made on the device
    kept = {"serial": 12, "board": "pico", "p3": False}
    assert config_for(kept, "rp2", None, None) == kept
    assert config_for(kept, "rp2", None, 13)["serial"] == 13
    assert config_for(kept, "rp2", None, None, 1)["phases"] == 1
    with pytest.raises(CliError, match="--serial"):
        config_for({}, "rp2", None, None)
    with pytest.raises(CliError, match="does not run the esp32 build"):
        config_for({}, "esp32", "pico", 1)
    with pytest.raises(CliError, match="give --model"):
        config_for(kept, "esp32", None, None)


# What a metering module's image may not contain, in any form: crypto, keys, P1, P3, network.
# Looked for in the compiled bytes (module names and qstrs survive mpy-cross): no module of the
# other side is imported ("comms." / "metrology."), and none of its classes or names is there.
NOT_METERING = (b"comms.", b"cryptolib", b"ghash", b"Gcm", b"keystore", b"load_keys",
                b"p1_telegram", b"P1Port", b"Hdlc", b"dlms", b"DLMS", b"socket", b"invocation",
                b"system_title", b"keys.json", b"WLAN", b"STA_IF", b"NetP3", b"wifi.key",
                b"getaddrinfo")
NOT_COMMS = (b"metrology.", b"Metrology", b"Recorder", b"RegisterStore", b"Ade7953",
             b"AdcFrontend")


@pytest.mark.parametrize("target", ["rp2", "esp32"])
def test_each_module_image_carries_only_its_own_code(tmp_path, target):
    images = {m: build(target, tmp_path / m, module=m) for m in ("metering", "comms", "single")}
    files = {m: set(man["files"]) for m, man in images.items()}
    assert "metering/metrology.mpy" in files["metering"] and "contract/link.mpy" in files["metering"]
    assert not [f for f in files["metering"] if f.startswith("comms/")]
    assert "comms/crypto/gcm.mpy" in files["comms"] and "contract/link.mpy" in files["comms"]
    assert not [f for f in files["comms"] if f.startswith("metering/")]
    assert "hal/board/net.mpy" in files["comms"] and "hal/board/net.mpy" not in files["metering"]
    assert files["metering"] | files["comms"] | {"hal/memlink.mpy"} == files["single"]
    metering = b"".join((tmp_path / "metering" / f).read_bytes() for f in files["metering"])
    comms = b"".join((tmp_path / "comms" / f).read_bytes() for f in files["comms"])
    for word in NOT_METERING:
        assert word not in metering, "the metering image contains %r" % word
    for word in NOT_COMMS:
        assert word not in comms, "the comms image contains %r" % word
    # the probes find what is there
    assert all(any(w in comms for w in (word,)) for word in (b"cryptolib", b"P1Port", b"Hdlc",
                                                             b"WLAN", b"NetP3", b"getaddrinfo"))
    assert b"Metrology" in metering and b"Recorder" in metering
