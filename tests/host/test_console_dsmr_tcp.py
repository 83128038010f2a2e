"""Home Assistant's path: dsmr_parser's asyncio TCP reader against `meterkast run --p1 tcp:...`,
through client disconnects and a line that drops the client (a disconnect fault), reconnecting
each time and always getting valid telegrams that say what the firmware measured."""
import asyncio
import json
import signal
import subprocess
import sys
import time

from dsmr_parser.clients import create_tcp_dsmr_reader


async def _session(port, want, timeout, until_dropped=False):
    """Connect, collect `want` telegrams (or stay until the meter side drops us), disconnect."""
    got = []
    transport, protocol = await asyncio.wait_for(
        create_tcp_dsmr_reader("127.0.0.1", port, "5", got.append), timeout)
    deadline = time.monotonic() + timeout
    dropped = False
    try:
        while time.monotonic() < deadline:
            if protocol._closed.is_set():
                dropped = True
                break
            if not until_dropped and len(got) >= want:
                break
            await asyncio.sleep(0.02)
    finally:
        transport.close()
        await asyncio.sleep(0.05)
    return got, dropped


async def _connect_retrying(port, want, timeout):
    """What Home Assistant does after a lost connection: try again until telegrams flow."""
    deadline = time.monotonic() + timeout
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            got, dropped = await _session(port, want, 1.5)
        except (OSError, asyncio.TimeoutError):
            got = []
        if len(got) >= want:
            return got, attempts
        await asyncio.sleep(0.2)
    return [], attempts


def test_dsmr_parser_tcp_reader_reconnects_and_keeps_getting_valid_telegrams(tmp_path):
    report = tmp_path / "report.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "meterkast.cli", "run", "--p1", "tcp:127.0.0.1:0", "--speed", "4",
         "--start", "2026-02-10T18:00:00Z", "--duration", "600", "--report", str(report),
         "--p1-faults", "disconnect=1.5@7"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline().strip()
        assert first.startswith("p1: tcp:127.0.0.1:"), proc.stderr.read()
        port = int(first.rsplit(":", 1)[1])

        async def scenario():
            sessions = []
            for _ in range(3):  # the client goes away and comes back
                got, attempts = await _connect_retrying(port, 2, 15)
                sessions.append(got)
            # Now the meter side drops the client (the disconnect fault at 7 s line time)...
            got, dropped = await _session(port, 0, 12, until_dropped=True)
            sessions.append(got)
            # ... and the client reconnects once the line is back.
            got, attempts = await _connect_retrying(port, 2, 10)
            sessions.append(got)
            return sessions, dropped, attempts

        sessions, dropped, attempts = asyncio.run(scenario())
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert dropped, "the disconnect fault closed the client's connection"
    assert all(len(s) >= 2 for s in sessions[:3]) and len(sessions[4]) >= 2
    readings = {}
    for line in report.read_text().splitlines():
        ev = json.loads(line)
        if ev.get("ev") == "r":
            readings[ev["t"]] = ev
    stamps = []
    for t in [t for s in sessions for t in s]:
        ts = int(t.P1_MESSAGE_TIMESTAMP.value.timestamp())
        r = readings[ts]
        assert round(t.ELECTRICITY_USED_TARIFF_1.value * 1000) == r["reg"][0]
        assert round(t.ELECTRICITY_USED_TARIFF_2.value * 1000) == r["reg"][1]
        assert round(t.CURRENT_ELECTRICITY_USAGE.value * 1000) == r["imp_w"]
        stamps.append(ts)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps), "fresh telegrams each time"
