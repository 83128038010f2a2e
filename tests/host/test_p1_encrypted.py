"""Encrypted P1 (E-Meter P1 / Smarty layout): dsmr_parser decrypts and verifies, IVs never repeat."""
import json
import os
import random
import subprocess
import sys
import time

import pytest
import serial
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
from helpers import meter


def frames_from(data):
    """Cut DB 08 <ST> 82 <LEN> ... frames out of a byte stream."""
    out = []
    i = 0
    while True:
        i = data.find(b"\xdb\x08", i)
        if i < 0 or i + 13 > len(data):
            return out
        if data[i + 10] != 0x82:
            i += 1
            continue
        end = i + 13 + int.from_bytes(data[i + 11 : i + 13], "big")
        if end > len(data):
            return out
        out.append(bytes(data[i:end]))
        i = end


def read_frames(url, seconds, emu=None):
    """Frames read for `seconds`, or, given the emulator of a run of fixed length, until it
    ended (then the line's last bytes), however long it took to boot."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
    data = bytearray()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            data += port.read(4096)
            if emu is not None and not emu.alive():
                deadline = min(deadline, time.monotonic() + 0.5)
                emu = None
    finally:
        port.close()
    return frames_from(data)


@pytest.fixture
def keys(tmp_path):
    path = tmp_path / "keys.json"
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "keys", "new", "--out", str(path)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert os.stat(path).st_mode & 0o777 == 0o600
    return path, json.loads(path.read_text())


def parser():
    return TelegramParser(telegram_specifications.MSN)


@pytest.mark.parametrize("modules", ["single", "two"])
def test_dsmr_parser_decrypts_and_verifies_every_frame(keys, tmp_path, modules):
    path, k = keys
    with meter(p1="pty", start="2026-08-01T12:00:00Z", keys=path, state=tmp_path / "st",
               duration=8, modules=modules) as emu:
        frames = read_frames(emu.port("p1"), 40, emu)
        emu.wait(15)
    assert len(frames) >= 5
    readings = {r["t"]: r for r in emu.readings()}
    counters = []
    for f in frames:
        assert f[2:10].hex().upper() == k["system_title"]
        counters.append(int.from_bytes(f[14:18], "big"))
        t = parser().parse(f.hex(), encryption_key=k["p1"]["ek"], authentication_key=k["p1"]["ak"])
        stamp = int(t.P1_MESSAGE_TIMESTAMP.value.timestamp())
        assert int(t.ELECTRICITY_USED_TARIFF_1.value * 1000) == readings[stamp]["reg"][0]
    assert counters == sorted(counters) and len(set(counters)) == len(counters)
    # Tampering: any flipped bit is rejected by dsmr_parser's verification.
    rng = random.Random(7)
    f = frames[0]
    for _ in range(60):
        bad = bytearray(f)
        bit = rng.randrange(len(f) * 8)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(Exception):
            parser().parse(bytes(bad).hex(), encryption_key=k["p1"]["ek"],
                           authentication_key=k["p1"]["ak"])
    wrong = "00" * 16
    with pytest.raises(Exception):
        parser().parse(f.hex(), encryption_key=wrong, authentication_key=k["p1"]["ak"])


def test_console_verifies_real_frames_and_rejects_every_tampered_one(keys, tmp_path):
    from meterkast.keys.file import Keys
    from meterkast.wire.frames import FrameDecoder

    path, k = keys
    with meter(p1="pty", start="2026-08-01T12:00:00Z", keys=path, state=tmp_path / "st",
               duration=5) as emu:
        frames = read_frames(emu.port("p1"), 40, emu)
        emu.wait(15)
    assert len(frames) >= 3
    good = FrameDecoder(Keys.load(str(path))).feed(b"".join(frames))
    assert [f.frame_counter for f in good] == [int.from_bytes(f[14:18], "big") for f in frames]
    assert all(f.ok and f.tag_ok and f.telegram.crc_ok for f in good)
    rng = random.Random(11)
    for _ in range(300):
        bad = bytearray(frames[0])
        bit = rng.randrange(len(bad) * 8)  # anywhere: header, counter, ciphertext, tag
        bad[bit // 8] ^= 1 << (bit % 8)
        dec = FrameDecoder(Keys.load(str(path)))
        out = dec.feed(bytes(bad)) + dec.flush(final=True)
        assert out, "the bytes are reported, not silently dropped"
        assert not any(f.ok for f in out), "a tampered frame is never shown as data"
    wrong = Keys.load(str(path))
    wrong.p1_ek = bytes(16)
    out = FrameDecoder(wrong).feed(frames[0])
    assert out and not out[0].ok and out[0].telegram is None


def test_no_iv_repeats_across_fifty_kills(keys, tmp_path):
    path, k = keys
    rng = random.Random(50)
    seen = {}
    kept = []
    state = tmp_path / "st"
    for i in range(150):  # 50 runs, more while the frames seen are too few (a slow machine)
        if i >= 50 and len(seen) > 100:
            break
        emu = meter(p1="pty", speed=20, keys=path, state=state,
                    start="2026-08-01T12:00:00Z" if i == 0 else None)
        emu.start()
        frames = read_frames(emu.port("p1"), rng.uniform(0.1, 0.9))
        emu.kill()
        emu.close()
        for f in frames:
            iv = f[2:10] + f[14:18]
            assert iv not in seen, "IV reused: run %d and run %d" % (seen[iv], i)
            seen[iv] = i
        kept.extend(frames[:1])
    assert len(seen) > 100
    # Frames from every run still verify under the meter's key.
    for f in kept:
        parser().parse(f.hex(), encryption_key=k["p1"]["ek"], authentication_key=k["p1"]["ak"])


def test_keys_file_errors_are_clear(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"system_title": "XYZ"}')
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--keys", str(bad), "--duration", "1"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "system_title" in p.stderr
    k = tmp_path / "k.json"
    assert subprocess.run([sys.executable, "-m", "meterkast.cli", "keys", "new", "--out", str(k)]).returncode == 0
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "keys", "new", "--out", str(k)],
                       capture_output=True, text=True)
    assert p.returncode == 2 and "exists" in p.stderr
