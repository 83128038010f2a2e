"""Inbound bytes are bounded by what a UART and the meter's receive buffer hold, and a client
that holds P3 without an association is hung up on, so the port is free for the next one."""
import json
import socket
import time

from helpers import meter
from meterkast import cli
from meterkast.emu.emulator import RX_LIMIT
from meterkast.keys.file import new_keys, write_keys

START = "2026-03-02T10:00:00Z"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    return s


def closed_by_peer(sock, timeout):
    """True when the other end closes the connection within `timeout` seconds."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except OSError:
            return True
    return False


def make_keys(tmp_path):
    path = tmp_path / "keys.json"
    write_keys(str(path), new_keys(5))
    return str(path)


def read_ok(port, keys, capsys):
    rc = cli.main(["read", "socket://127.0.0.1:%d" % port, "--keys", keys, "--from", "2026-03-02", "--to",
                   "2026-03-02", "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_a_flood_into_p3_is_dropped_and_counted_and_p3_answers_right_after(tmp_path, capsys):
    port = free_port()
    events = []
    keys = make_keys(tmp_path)
    emu = meter(p1="pty", p3="tcp:127.0.0.1:%d" % port, start=START, p3_inactivity=3,
                on_event=events.append, keys=keys)
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "p1", 30)
        s = connect(port)
        blob = bytes(range(256)) * 4096  # 1 MiB of garbage
        t0 = time.monotonic()
        for _ in range(20):
            s.sendall(blob)
        s.close()
        flood_s = time.monotonic() - t0
        line = emu.lines["p3"]
        deadline = time.monotonic() + 10
        while line.to_firmware.overflow < 20 * len(blob) - 4 * RX_LIMIT and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(line.to_firmware.queue) <= RX_LIMIT
        dropped = line.to_firmware.overflow
        assert dropped >= 20 * len(blob) - 4 * RX_LIMIT - 65536, (dropped, flood_s)
        told = [e for e in events if e.get("ev") == "overflow"]
        assert told and told[-1]["line"] == "p3" and told[-1]["dropped"] > 0
        # the flood is gone from the line within what the buffer holds at 11,520 B/s
        t1 = time.monotonic()
        doc = read_ok(port, keys, capsys)
        assert "registers" in doc
        assert time.monotonic() - t1 < 10
        assert emu.alive()
    finally:
        assert emu.stop() == 0


def test_a_client_without_association_is_hung_up_on(tmp_path, capsys):
    port = free_port()
    keys = make_keys(tmp_path)
    emu = meter(p1=None, p3="tcp:127.0.0.1:%d" % port, start=START, p3_inactivity=2, keys=keys)
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
        # busy with garbage: the meter hangs up
        s = connect(port)
        t0 = time.monotonic()
        hung = False
        s.settimeout(0.1)
        while time.monotonic() - t0 < 10:
            try:
                s.sendall(b"\x7e\xa0\x07\x03\x21\x93junk" * 4)
                if s.recv(4096) == b"":
                    hung = True
                    break
            except socket.timeout:
                pass
            except OSError:
                hung = True
                break
            time.sleep(0.1)
        assert hung, "a garbage client kept the port"
        assert time.monotonic() - t0 >= 1.5
        assert emu.wait_event(lambda e: e.get("ev") == "hangup", 5)
        # silent: the port drops it after the inactivity time
        s = connect(port)
        assert closed_by_peer(s, 8), "a silent client kept the port"
        # and the next client is served
        assert "registers" in read_ok(port, keys, capsys)
    finally:
        assert emu.stop() == 0


def test_a_flood_into_p1_is_bounded_too(tmp_path):
    emu = meter(p1="pty", start=START)
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "p1", 30)
        import os

        fd = os.open(emu.port("p1"), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            sent = 0
            for _ in range(2000):
                try:
                    sent += os.write(fd, b"\x00" * 4096)
                except BlockingIOError:
                    time.sleep(0.001)
        finally:
            os.close(fd)
        time.sleep(0.5)
        line = emu.lines["p1"]
        assert len(line.to_firmware.queue) <= RX_LIMIT
        assert line.to_firmware.overflow > 0
        n = len([e for e in emu.events if e.get("ev") == "p1"])
        deadline = time.monotonic() + 20
        while len([e for e in emu.events if e.get("ev") == "p1"]) <= n:
            assert time.monotonic() < deadline, "P1 keeps sending"
            time.sleep(0.05)
    finally:
        assert emu.stop() == 0
