"""comms.crypto.gcm against `cryptography`'s AESGCM on thousands of random cases, under MicroPython.

Hypothesis draws the cases on the host (derandomized, so CI sees the same ones every run);
`cryptography` computes the expected ciphertext and tag (its 16-byte tag truncated to the
case's length). All cases go through one file and one MicroPython process per implementation.
"""
import random
import re
import struct
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import FW_TESTS, run_micropython
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

CASES = 3800  # drawn; some come out twice and are dropped, leaving > 3000
SUMMARY = re.compile(rb"checked (\d+) E (\d+) D (\d+) F (\d+) failures (\d+)")


def record(op, key, iv, aad, pt, ct, tag, max_len):
    """One case in the driver's format (see tests/fw/gcm_driver.py)."""
    head = struct.pack(">cH16s12sBHH", op, max_len, key, iv, len(tag), len(aad), len(ct))
    return head + aad + pt + ct + tag


def draw_cases(count):
    """Packed cases, without repeats: valid frames, and a tampered copy of every tenth."""
    out = {}

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        key=st.binary(min_size=16, max_size=16),
        iv=st.binary(min_size=12, max_size=12),
        aad=st.integers(0, 64).flatmap(lambda n: st.binary(min_size=n, max_size=n)),
        pt_len=st.integers(0, 2048),
        pt_seed=st.integers(0, 2**32 - 1),
        tag_len=st.integers(4, 16),
        max_len=st.sampled_from((2048, 2048, 512, 16)),  # small buffers: many CTR chunks
        flip=st.integers(0, 2**16 - 1),
    )
    def draw(key, iv, aad, pt_len, pt_seed, tag_len, max_len, flip):
        # hypothesis picks the length and the seed; the bytes themselves are expanded here
        # (drawing 2 KiB byte by byte would dominate the run time)
        pt = random.Random(pt_seed).randbytes(pt_len)
        sealed = AESGCM(key).encrypt(iv, pt, aad)
        ct, tag = sealed[:pt_len], sealed[pt_len : pt_len + tag_len]
        out[record(b"E", key, iv, aad, pt, ct, tag, max_len)] = None
        if len(out) % 11 == 10:
            bad = bytearray(ct + tag)
            bad[flip % len(bad)] ^= 1 << (flip >> 13)
            forged = record(b"F", key, iv, aad, bytes(pt_len), bad[:pt_len], bad[pt_len:], max_len)
            out[forged] = None

    draw()
    return list(out)


@pytest.fixture(scope="module")
def random_cases(tmp_path_factory):
    records = draw_cases(CASES)
    path = tmp_path_factory.mktemp("gcm") / "random.bin"
    path.write_bytes(b"".join(records))
    return path, records


def run_driver(impl, path):
    proc = run_micropython(FW_TESTS / "gcm_driver.py", impl, path, timeout=300)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 0, (out + proc.stderr.decode(errors="replace"))[-3000:]
    m = SUMMARY.search(proc.stdout)
    assert m, out[-3000:]
    return out, tuple(map(int, m.groups()))


def test_random_cases_match_cryptography_on_both_implementations(random_cases):
    path, records = random_cases
    frames = sum(1 for r in records if r[:1] == b"E")
    forgeries = len(records) - frames
    assert frames >= 3000 and forgeries >= 250
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda impl: run_driver(impl, path), ("viper", "bytecode")))
    for impl, (out, (checked, e, d, f, failures)) in zip(("viper", "bytecode"), results):
        assert "impl %s" % impl in out
        assert failures == 0, out[-3000:]
        assert (checked, e, d, f) == (len(records), frames, 0, forgeries), (impl, out[-500:])
