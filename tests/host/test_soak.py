"""The soak campaigns of `meterkast soak` (meterkast.soak), small: the same code as the full
runs, each in well under a minute, and proof that each campaign exercised what it claims."""
import subprocess
import sys

import pytest
from meterkast import soak
from meterkast.keys.ivscan import p1_headers
from meterkast.soak.p3_fuzz import P3Fuzzer
from meterkast.wire.frames import encrypted_frame


def figures(result):
    return {name: value for name, value, unit in result["figures"]}


def test_kill_campaign_small(tmp_path):
    r = soak.kill_campaign(tmp_path, kills=20, seed=7)
    f = figures(r)
    print(r["figures"])
    assert r["failures"] == []
    assert f["kill_campaign_kills"] == 20
    assert f["kill_campaign_kills_running"] > 0, "kills hit a firmware that had booted"
    assert f["kill_campaign_kills_before_first_telegram"] >= 5, "a quarter during boot"
    assert f["kill_campaign_kills_running"] + f["kill_campaign_kills_before_boot"] == 20
    assert f["kill_campaign_p1_frames"] > 20 and f["kill_campaign_p1_frames_verified"] > 0
    assert f["kill_campaign_p3_reads_ok"] > 0 and f["kill_campaign_p3_ciphered_apdus"] > 10
    assert f["kill_campaign_iv_reuse"] == 0 and r["ledger"].reused == []
    assert f["kill_campaign_profile_entries"] > 0 and f["kill_campaign_profile_bad_entries"] == 0
    assert f["kill_campaign_max_energy_lost"] <= f["kill_campaign_loss_bound"]


def test_line_campaign_small():
    r = soak.line_campaign(telegrams=20_000, seed=3)
    f = figures(r)
    print(r["figures"])
    assert r["failures"] == []
    for mode in ("plain", "encrypted"):
        assert f["console_telegrams_%s" % mode] == 20_000
        assert f["console_false_accepts_%s" % mode] == 0
        assert f["console_hit_by_faults_%s" % mode] > 2000, "the faults hit a good share"
        assert f["console_accepted_%s" % mode] + f["console_hit_by_faults_%s" % mode] == 20_000
        assert f["console_bit_flips_%s" % mode] > 0 and f["console_bursts_%s" % mode] > 0
        assert f["console_break_lost_bytes_%s" % mode] > 0


def test_p3_fuzz_campaign_small_through_the_emulator(tmp_path):
    r = soak.p3_campaign(tmp_path, frames=2000, seed=5, baudrate=115200)
    f = figures(r)
    print(r["figures"], r.get("kinds"))
    assert r["failures"] == []
    assert f["p3_fuzz_frames_sent"] == 2000
    assert f["p3_fuzz_bytes_taken_in"] > f["p3_fuzz_bytes_sent"] > 100_000
    assert f["p3_fuzz_crashes"] == 0 and f["p3_fuzz_bytes_overrun"] == 0
    assert f["p3_fuzz_frames_taken_by_meter"] > 500 and f["p3_fuzz_frames_dropped_by_meter"] > 100
    assert f["p3_fuzz_replays_accepted"] == 0
    assert f["p3_fuzz_heap_growth"] <= 1024
    assert f["p3_fuzz_p1_frames_during"] > 5 and f["p3_fuzz_p1_frames_bad"] == 0
    assert f["p3_fuzz_management_read_after"] == 1
    assert set(r["kinds"]) == {k for k, _ in P3Fuzzer.KINDS}, "every kind was sent"


def test_iv_ledger_sees_a_reused_counter_and_lets_a_retransmission_pass():
    ledger = soak.IvLedger()
    title = b"MKS\x00\x00\x00\x00\x01"
    a = encrypted_frame(b"/MKS5\r\n\r\n!0000\r\n", title, 7, bytes(16))
    b = encrypted_frame(b"/MKS5\r\n\r\n!1111\r\n", title, 7, bytes(16))
    stream = a + b[:20]  # the second one cut short by a kill: its IV was used all the same
    heads = p1_headers(stream)
    assert [(t, c) for t, c, _ in heads] == [(title, 7), (title, 7)]
    for t, c, data in heads:
        ledger.add("p1", t, c, data)
    assert ledger.reused == [("p1", title, 7)]
    ledger.add("management", title, 9, b"apdu", retransmit_ok=True)
    ledger.add("management", title, 9, b"apdu", retransmit_ok=True)
    assert len(ledger.reused) == 1
    ledger.add("management", title, 9, b"other", retransmit_ok=True)
    assert len(ledger.reused) == 2


def test_power_cut_check_flags_registers_restored_ahead_or_backwards():
    check = soak.PowerCutCheck()
    check.run([{"ev": "persist", "reg": [10, 0, 0, 0]}, {"ev": "r", "t": 1, "reg": [11, 0, 0, 0]}])
    check.run([{"ev": "persist", "reg": [11, 0, 0, 0]}])  # a state the meter had shown: fine
    assert not +check.violations
    check.run([{"ev": "persist", "reg": [12, 0, 0, 0]}])  # never shown
    check.run([{"ev": "persist", "reg": [9, 0, 0, 0]}])  # backwards
    assert check.violations["restored_ahead"] == 2 and check.violations["registers_backwards"] == 1


def test_meterkast_soak_prints_figures_and_fails_on_a_bad_size():
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "soak", "--only", "line",
                        "--size", "0.002", "--quiet"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "console_false_accepts_plain: 0 telegrams" in lines
    assert "console_telegrams_encrypted: 2000 telegrams" in lines
    assert all(len(line.split(" ")) == 3 and line.split(" ")[0].endswith(":") for line in lines)
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "soak", "--size", "huge"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "--size" in p.stderr


@pytest.mark.parametrize("size,kills,telegrams,frames", [
    ("full", 1000, 1_000_000, 100_000), ("small", 20, 20_000, 2_000),
    ("0.1", 100, 100_000, 10_000)])
def test_sizes(size, kills, telegrams, frames):
    assert soak.sizes(size) == {"kills": kills, "line": telegrams, "p3": frames}


@pytest.mark.parametrize("length_error", [4, 256])
def test_a_header_hit_in_title_and_length_does_not_swallow_the_next_frame(length_error):
    """Found by the full line campaign: bit errors in both the system title and the length of
    one encrypted frame's header hid the next, intact frame from the console."""
    from meterkast.keys.file import Keys
    from meterkast.wire.frames import FrameDecoder

    title, ek, ak = b"MKS\x00\x00\x00\x00\x01", bytes(range(16)), bytes(range(16, 32))
    telegram = b"/MKS5\r\n\r\n1-0:1.8.1(00000%d.000*kWh)\r\n!0000\r\n"
    a = bytearray(encrypted_frame(telegram % 1, title, 1, ek, ak))
    b = encrypted_frame(telegram % 2, title, 2, ek, ak)
    a[3] ^= 0x02  # the title
    n = int.from_bytes(a[11:13], "big") + length_error
    a[11:13] = n.to_bytes(2, "big")
    out = FrameDecoder(Keys(title, ek, ak)).feed(bytes(a) + b + b"\x00" * 300)
    assert [f.frame_counter for f in out if f.kind == "p1-encrypted" and f.tag_ok] == [2]
