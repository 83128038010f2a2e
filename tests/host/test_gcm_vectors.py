"""comms.crypto.gcm against every NIST CAVP AES-128-GCM vector with a 96-bit IV, under MicroPython.

The vectors come from the `cryptography_vectors` package (gcmEncryptExtIV128.rsp and
gcmDecrypt128.rsp, decryption FAIL cases included). They are packed into one file and checked
by tests/fw/gcm_driver.py in a single MicroPython process per implementation; the driver's
count must equal the number of cases in the files, so a silently skipped case fails the test.
"""
import re
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor

import cryptography_vectors
import pytest
from conftest import FIRMWARE, FW_TESTS, run_micropython

GCM_DIR = "ciphers/AES/GCM/"
FILES = ("gcmEncryptExtIV128.rsp", "gcmDecrypt128.rsp")
SUMMARY = re.compile(rb"checked (\d+) E (\d+) D (\d+) F (\d+) failures (\d+)")


def record(op, key, iv, aad, pt, ct, tag, max_len=2048):
    """One case in the driver's format (see tests/fw/gcm_driver.py)."""
    assert len(key) == 16 and len(iv) == 12 and len(pt) == len(ct) <= 4096
    head = struct.pack(">cH16s12sBHH", op, max_len, key, iv, len(tag), len(aad), len(ct))
    return head + aad + pt + ct + tag


def read_rsp(name):
    """Yield (fields, group header) for every case in a CAVP response file."""
    header = {}
    case = None
    with cryptography_vectors.open_vector_file(GCM_DIR + name, "r") as f:
        for line in f:
            line = line.strip()
            if line.startswith("[") and "=" in line:
                k, v = line[1:-1].split("=")
                header[k.strip()] = int(v)
            elif line.startswith("Count = "):
                if case is not None:
                    yield case
                case = ({}, dict(header))
            elif case is not None and "=" in line:
                k, v = line.split("=")
                case[0][k.strip()] = bytes.fromhex(v.strip())  # "PT = " is empty
            elif case is not None and line == "FAIL":
                case[0]["FAIL"] = True
    if case is not None:
        yield case


def count_96bit_cases(name):
    """The number of 96-bit-IV cases, counted independently of read_rsp."""
    n = 0
    iv_bits = None
    with cryptography_vectors.open_vector_file(GCM_DIR + name, "r") as f:
        for line in f:
            m = re.match(r"\[IVlen = (\d+)\]", line)
            if m:
                iv_bits = int(m.group(1))
            elif line.startswith("Count = ") and iv_bits == 96:
                n += 1
    return n


@pytest.fixture(scope="module")
def nist_cases(tmp_path_factory):
    """(path of the packed file, its records, count per kind)."""
    records = []
    kinds = {"E": 0, "D": 0, "F": 0}
    for name in FILES:
        for case, header in read_rsp(name):
            if header["IVlen"] != 96:
                continue
            assert header["Keylen"] == 128 and len(case["IV"]) == 12
            tag = case["Tag"]
            assert len(tag) * 8 == header["Taglen"] and 4 <= len(tag) <= 16
            if name.startswith("gcmEncrypt"):
                op = "E"
            else:
                op = "F" if case.get("FAIL") else "D"
            pt = bytes(len(case["CT"])) if op == "F" else case["PT"]
            records.append(
                record(op.encode(), case["Key"], case["IV"], case["AAD"], pt, case["CT"], tag)
            )
            kinds[op] += 1
    path = tmp_path_factory.mktemp("gcm") / "nist.bin"
    path.write_bytes(b"".join(records))
    return path, records, kinds


def run_driver(impl, path, env=None):
    proc = run_micropython(FW_TESTS / "gcm_driver.py", impl, path, env=env, timeout=300)
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr).decode(errors="replace")[-3000:]
    m = SUMMARY.search(out)
    assert m, out.decode(errors="replace")[-3000:]
    used = re.search(rb"impl (\w+)", out).group(1).decode()
    checked, e, d, f, failures = map(int, m.groups())
    return used, checked, {"E": e, "D": d, "F": f}, failures, out.decode(errors="replace")


def test_every_96bit_nist_vector_on_both_implementations(nist_cases):
    path, _, kinds = nist_cases
    expected = sum(count_96bit_cases(name) for name in FILES)
    assert sum(kinds.values()) == expected
    assert expected >= 5000 and kinds["F"] > 1000  # both files, FAIL cases included
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda impl: run_driver(impl, path), ("viper", "bytecode")))
    for impl, (used, checked, counts, failures, out) in zip(("viper", "bytecode"), results):
        assert used == impl
        assert failures == 0, out[-3000:]
        assert checked == expected and counts == kinds, (impl, checked, counts, kinds)


def test_bytecode_fallback_without_a_native_emitter(nist_cases, tmp_path):
    """A port without viper fails to compile comms/crypto/ghash.py; gcm must still work, in bytecode."""
    _, records, _ = nist_cases
    (tmp_path / "comms").mkdir()
    (tmp_path / "comms" / "__init__.py").write_text("")
    pkg = tmp_path / "comms" / "crypto"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    shutil.copy(FIRMWARE / "comms" / "crypto" / "gcm.py", pkg / "gcm.py")
    # what the compiler says about @micropython.viper when the native emitter is left out
    broken = "import micropython\n\n\n@micropython.unknown\ndef f():\n    pass\n"
    (pkg / "ghash.py").write_text(broken)
    subset = tmp_path / "subset.bin"
    subset.write_bytes(b"".join(records[::50]))  # which implementation is picked is the point
    env = {"MICROPYPATH": "%s:%s" % (tmp_path, FW_TESTS)}
    used, checked, _, failures, out = run_driver("auto", subset, env=env)
    assert used == "bytecode"
    assert failures == 0 and checked == len(records[::50]), out[-2000:]
