"""Soak: telegrams and frames through a faulty line; every corrupted one is flagged, none is
accepted with wrong values.

In-process: 20,000 P1 telegrams (real firmware output plus variations), 5,000 encrypted P1 frames
and 5,000 HDLC frames go through the fault-injecting PacedPipe, unpaced, with fixed seeds. The
fault log says which units were hit; the decoder must accept exactly the others, byte for byte.
End to end: `meterkast run --p1-faults` with the real firmware, read from its pty, checked against
the firmware's own --report readings and the sent side of the capture.
"""
import json
import os
import signal
import subprocess
import sys
import time

from meterkast.console.view import Stats
from meterkast.keys.file import Keys, new_keys, write_keys
from meterkast.line.capture import Capture
from meterkast.wire.frames import FrameDecoder
from serial_support import KEYS, encrypted_frames, hdlc_frames, soak, variations

# BER 1e-4 on every bit, dropped bytes, some line noise, short bursts and a break now and then.
FAULTS = "ber=1e-4,drop=1e-4,insert=2e-5,burst=2e-6:16,break=150@97,seed=%d"


def test_plain_p1_soak_twenty_thousand_telegrams_zero_false_accepts():
    units = variations(20000, seed=1)
    r = soak(units, FAULTS % 6)
    print(r.summary())
    assert r.false_accepts == []
    assert len(r.corrupted) > 2000, "the faults must actually hit a good share of telegrams"
    # Accepted are exactly the untouched telegrams, in order: every corrupted one was flagged
    # (or lost as unknown bytes), and no intact one was lost to a neighbour's corruption.
    assert r.accepted == sorted(set(range(len(units))) - r.corrupted)
    flagged = [f for f in r.frames if f.ok is False]
    assert len(flagged) >= 0.9 * len(r.corrupted), "corrupted telegrams are reported, not silently lost"
    assert {f.problem for f in flagged} <= {"crc", "syntax", "truncated"}


def test_encrypted_p1_soak_tags_catch_every_corruption_and_counters_show_the_gaps():
    plain = variations(5000, seed=3)
    units = encrypted_frames(plain)
    decoder = FrameDecoder(KEYS)
    r = soak(units, FAULTS % 7, decoder=decoder)
    print(r.summary())
    assert r.false_accepts == []
    assert len(r.corrupted) > 500
    assert r.accepted == sorted(set(range(len(units))) - r.corrupted)
    for f in r.frames:
        if f.kind == "p1-encrypted" and f.ok:
            assert f.telegram.raw == plain[f.frame_counter - 1000]
        if f.tag_ok is False:
            assert f.telegram is None
            assert not any(k[0].isdigit() for k in f.as_json())
    stats = Stats()
    for f in r.frames:
        stats.add(f)
    missing = (r.accepted[-1] - r.accepted[0] + 1) - len(r.accepted)
    assert stats.fc_gaps == missing and stats.fc_back == 0
    assert stats.problems["tag"] > 0


def test_hdlc_soak_fcs_catches_every_corruption():
    units = hdlc_frames(5000)
    r = soak(units, FAULTS % 8, interval=0.02, flags=True)
    print(r.summary())
    assert r.false_accepts == []
    assert len(r.corrupted) > 200
    intact = set(range(len(units))) - r.corrupted
    assert intact <= set(r.accepted) <= intact | r.edge_only
    assert {f.problem for f in r.frames if f.ok is False} <= {"fcs", "hcs", "truncated"}


def _run(tmp_path, *extra, duration=600, speed=50):
    link = tmp_path / "ttyP1"
    cmd = [sys.executable, "-m", "meterkast.cli", "run", "--p1", "pty:%s" % link,
           "--start", "2026-01-20T07:00:00Z", "--speed", str(speed), "--duration", str(duration),
           "--capture", str(tmp_path / "line.capture"), "--report", str(tmp_path / "report.jsonl"),
           *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("p1: "), proc.stderr.read()
    return proc, link


def _enough(frames, kind, accepted=40, flagged=3):
    return (sum(1 for f in frames if f.kind == kind and f.ok) >= accepted
            and sum(1 for f in frames if f.ok is False) >= flagged)


def _read_frames(path, seconds, keys=None, until=None):
    """Frames read for `seconds`, or until until(frames) holds (a slow machine needs longer)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    dec = FrameDecoder(keys)
    frames = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not (until and until(frames)):
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                time.sleep(0.02)
                continue
            frames += dec.feed(data)
    finally:
        os.close(fd)
    return frames


def _finish(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, proc.stderr.read()


def _readings(tmp_path):
    out = {}
    with open(tmp_path / "report.jsonl") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("ev") == "r":
                out[ev["t"]] = ev
    return out


def _check_values(t, readings):
    """The telegram says what the firmware measured for that second, to the Wh and W."""
    r = readings[int(t.timestamp.timestamp())]
    f = t.fields
    def wh(k):
        return round(f[k] * 1000)
    assert [wh("1-0:1.8.1"), wh("1-0:1.8.2"), wh("1-0:2.8.1"), wh("1-0:2.8.2")] == r["reg"]
    assert (wh("1-0:1.7.0"), wh("1-0:2.7.0")) == (r["imp_w"], r["exp_w"])
    assert int(f["0-0:96.14.0"]) == r["tar"]


def test_end_to_end_soak_through_meterkast_run_p1_faults(tmp_path):
    proc, link = _run(tmp_path, "--p1-faults", "ber=3e-5,drop=3e-5,insert=1e-5,seed=11")
    try:
        frames = _read_frames(link, 40.0, until=lambda fs: _enough(fs, "p1"))
    finally:
        _finish(proc)
    readings = _readings(tmp_path)
    cap = Capture.load(tmp_path / "line.capture")
    sent = cap.stream("}", "p1")
    assert sent and cap.stream(">", "p1") != sent, "the faults changed what was delivered"
    accepted = [f for f in frames if f.kind == "p1" and f.ok]
    flagged = [f for f in frames if f.ok is False]
    print("end to end: %d accepted, %d flagged" % (len(accepted), len(flagged)))
    assert len(accepted) >= 40 and len(flagged) >= 3
    for f in accepted:
        assert f.raw in sent, "an accepted telegram is byte for byte one the meter sent"
        _check_values(f.telegram, readings)


def test_end_to_end_encrypted_p1_through_faults(tmp_path):
    keys_file = tmp_path / "keys.json"
    write_keys(str(keys_file), new_keys(serial=1))
    keys = Keys.load(str(keys_file))
    proc, link = _run(tmp_path, "--keys", str(keys_file), "--p1-faults", "ber=3e-5,drop=3e-5,seed=12")
    try:
        frames = _read_frames(link, 40.0, keys, until=lambda fs: _enough(fs, "p1-encrypted"))
    finally:
        _finish(proc)
    readings = _readings(tmp_path)
    cap = Capture.load(tmp_path / "line.capture")
    sent = [f for f in FrameDecoder(keys).feed(cap.stream("}", "p1")) if f.ok]
    sent_counters = {f.frame_counter: f.raw for f in sent}
    verified = [f for f in frames if f.kind == "p1-encrypted" and f.ok]
    failed = [f for f in frames if f.kind == "p1-encrypted" and f.ok is False]
    print("end to end encrypted: %d verified, %d failed" % (len(verified), len(failed)))
    assert len(verified) >= 40 and len(failed) >= 3
    stats = Stats()
    for f in frames:
        stats.add(f)
    for f in verified:
        assert sent_counters[f.frame_counter] == f.raw
        _check_values(f.telegram, readings)
    counters = [f.frame_counter for f in verified]
    assert counters == sorted(set(counters))
    lost = sum(1 for c in sent_counters if counters[0] < c < counters[-1] and c not in counters)
    assert stats.fc_gaps == lost > 0
