"""End to end: `meterkast run` firmware on a pty and on TCP, telegrams parsed by dsmr_parser."""
import datetime as dt
import os
import subprocess
import sys
import time

import pytest
from helpers import meter, parse_v5, read_raw_telegrams, wh

UTC = dt.timezone.utc


def _by_time(readings):
    return {r["t"]: r for r in readings}


def _check_against_report(telegrams, emu):
    """Every telegram value equals what the firmware reported for that second."""
    readings = _by_time(emu.readings())
    checked = 0
    for t in telegrams:
        ts = int(t.P1_MESSAGE_TIMESTAMP.value.timestamp())
        r = readings[ts]
        assert wh(t.ELECTRICITY_USED_TARIFF_1.value) == r["reg"][0]
        assert wh(t.ELECTRICITY_USED_TARIFF_2.value) == r["reg"][1]
        assert wh(t.ELECTRICITY_DELIVERED_TARIFF_1.value) == r["reg"][2]
        assert wh(t.ELECTRICITY_DELIVERED_TARIFF_2.value) == r["reg"][3]
        assert wh(t.CURRENT_ELECTRICITY_USAGE.value) == r["imp_w"]
        assert wh(t.CURRENT_ELECTRICITY_DELIVERY.value) == r["exp_w"]
        assert int(t.ELECTRICITY_ACTIVE_TARIFF.value) == r["tar"]
        assert t.P1_MESSAGE_HEADER.value == "50"
        checked += 1
    return checked


def test_pty_sixty_seconds_every_telegram_valid():
    """A 60 s real-time run: one telegram a second, every one parses with its CRC right."""
    with meter(p1="pty", start="2026-06-01T11:59:50Z", duration=62) as emu:
        raw = read_raw_telegrams(emu.port("p1"), 60, timeout=75)
        assert emu.wait(20) == 0
    assert len(raw) == 60
    parsed = [parse_v5(x) for x in raw]  # raises InvalidChecksumError on any bad CRC
    times = [int(p.P1_MESSAGE_TIMESTAMP.value.timestamp()) for p in parsed]
    assert times == list(range(times[0], times[0] + 60)), "one telegram per meter second"
    assert _check_against_report(parsed, emu) == 60


def test_energy_grows_by_the_integral_of_power():
    with meter(p1="pty", start="2026-06-01T14:00:00Z", speed=1000, duration=4 * 3600) as emu:
        assert emu.wait(120) == 0
    rs = emu.readings()
    assert len(rs) == 4 * 3600 + 1
    imp = sum(r["imp_w"] for r in rs[1:]) / 3600
    exp = sum(r["exp_w"] for r in rs[1:]) / 3600
    d_imp = (rs[-1]["reg"][0] + rs[-1]["reg"][1]) - (rs[0]["reg"][0] + rs[0]["reg"][1])
    d_exp = (rs[-1]["reg"][2] + rs[-1]["reg"][3]) - (rs[0]["reg"][2] + rs[0]["reg"][3])
    tolerance = 1 + len(rs) * 0.5 / 3600  # Wh carry plus W rounding of the reported power
    assert imp > 100 and exp > 100, "a June afternoon has both PV export and evening import"
    assert abs(d_imp - imp) <= tolerance
    assert abs(d_exp - exp) <= tolerance
    for a, b in zip(rs, rs[1:]):
        assert all(y >= x for x, y in zip(a["reg"], b["reg"])), "registers never go back"


def test_tcp_like_ser2net_with_reconnects():
    with meter(p1="tcp:127.0.0.1:0", start="2026-01-15T12:00:00Z", duration=30) as emu:
        url = emu.port("p1")
        first = [parse_v5(x) for x in read_raw_telegrams(url, 2, timeout=10)]
        second = [parse_v5(x) for x in read_raw_telegrams(url, 2, timeout=10)]  # reconnect
        assert len(first) == 2 and len(second) == 2
        assert second[0].P1_MESSAGE_TIMESTAMP.value > first[-1].P1_MESSAGE_TIMESTAMP.value
        assert _check_against_report(first + second, emu) == 4
        emu.stop()


def test_dst_end_timestamps_and_flag():
    """Across the end of summer time the repeated local hour is told apart by S and W."""
    with meter(p1="pty", start="2026-10-25T00:30:00Z", speed=120, duration=3600) as emu:
        raw = read_raw_telegrams(emu.port("p1"), 1000, timeout=45)
        emu.wait(30)
    assert len(raw) > 100
    flags = set()
    for text in raw:
        t = parse_v5(text)
        stamp = text.split("0-0:1.0.0(")[1][:13]
        utc = t.P1_MESSAGE_TIMESTAMP.value
        expected_flag = "S" if utc < dt.datetime(2026, 10, 25, 1, tzinfo=UTC) else "W"
        assert stamp[-1] == expected_flag, (stamp, utc)
        offset = dt.timedelta(hours=2 if expected_flag == "S" else 1)
        assert (utc + offset).strftime("%y%m%d%H%M%S") == stamp[:12]
        flags.add(stamp[-1])
        r = _by_time(emu.readings())[int(utc.timestamp())]
        assert bool(r["st"] & 0x08) == (expected_flag == "S")
    assert flags == {"S", "W"}


def test_speed_sends_newest_telegram_not_a_backlog():
    """At 500x the port sends what the line can carry, always the newest second."""
    with meter(p1="pty", start="2026-04-01T00:00:00Z", speed=500, duration=3000) as emu:
        t0 = time.monotonic()
        raw = read_raw_telegrams(emu.port("p1"), 10000, timeout=12)
        wall = time.monotonic() - t0
        emu.wait(10)
    stamps = [parse_v5(x).P1_MESSAGE_TIMESTAMP.value for x in raw]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    # Line rate bound: never more telegrams than 11,520 B/s allows.
    total = sum(len(x) for x in raw)
    assert total <= 11520 * wall * 1.05 + 2000
    gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
    assert max(gaps) > 1, "at 500x seconds are skipped, not queued"


def test_bytes_written_into_p1_are_ignored():
    with meter(p1="pty", start="2026-02-01T10:00:00Z", duration=20) as emu:
        fd = os.open(emu.port("p1"), os.O_RDWR | os.O_NOCTTY)
        try:
            for _ in range(20):
                os.write(fd, os.urandom(512) + b"/!\r\n/XYZ5\r\n")
        finally:
            os.close(fd)
        raw = read_raw_telegrams(emu.port("p1"), 5, timeout=15)
        assert emu.alive()
        emu.stop()
    assert len(raw) == 5
    for x in raw:
        parse_v5(x)


def run_cli(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "meterkast.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("spec", ["tcp:nohost", "tcp:127.0.0.1:99999", "tcp::80", "serial", "pty:"])
def test_bad_spec_is_a_clear_error(spec):
    p = run_cli("run", "--p1", spec, "--duration", "1")
    assert p.returncode == 2
    assert "SPEC" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_unknown_option_is_rejected():
    p = run_cli("run", "--frobnicate")
    assert p.returncode == 2 and "unrecognized arguments: --frobnicate" in p.stderr


def test_cli_run_prints_port_and_exits_cleanly(tmp_path):
    p = run_cli("run", "--p1", "pty:%s" % (tmp_path / "ttyP1"), "--duration", "2",
                "--start", "2026-05-05T05:05:05Z")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("p1: %s -> /dev/pts/" % (tmp_path / "ttyP1"))
    assert not (tmp_path / "ttyP1").exists(), "the link is removed on exit"


def test_cli_run_reports_firmware_death(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "meterkast.cli", "run", "--state", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("p1: ")
    time.sleep(1.0)
    out = subprocess.run(["pgrep", "-f", "main.py.*%s" % tmp_path], capture_output=True, text=True)
    pids = [int(x) for x in out.stdout.split()]
    assert pids
    for pid in pids:
        os.kill(pid, 9)
    assert proc.wait(10) != 0
    assert "firmware exited" in proc.stderr.read()


def test_relative_state_and_keys_paths(tmp_path):
    """Paths are taken relative to where the user runs meterkast, not where the firmware lives."""
    assert subprocess.run([sys.executable, "-m", "meterkast.cli", "keys", "new", "--out", "k.json"],
                          cwd=tmp_path, capture_output=True).returncode == 0
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--keys", "k.json", "--duration", "2",
                        "--start", "2026-05-05T05:05:05Z"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    # two modules by default: each MCU's flash image in the state directory
    assert (tmp_path / "k.json.state" / "metering.img").is_file()
    assert (tmp_path / "k.json.state" / "comms.img").is_file()
    p = subprocess.run([sys.executable, "-m", "meterkast.cli", "run", "--state", "m1", "--duration", "2",
                        "--start", "2026-05-05T05:05:05Z", "--modules", "single"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "m1" / "flash.img").is_file()  # the single board's one flash
