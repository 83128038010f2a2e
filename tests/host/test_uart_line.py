"""The emulated line: fault SPECs, reproducible faults at the rates asked for, 7E1, pacing,
`meterkast uart` as a null-modem (pty <-> TCP) with capture, disconnects, and replay."""
import io
import os
import socket
import subprocess
import sys
import time

import pytest
from meterkast.errors import CliError
from meterkast.line.capture import Capture, CaptureWriter
from meterkast.line.endpoints import PtyEndpoint
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import Framing, Line, PacedPipe


def cli(*args, timeout=30):
    return subprocess.run([sys.executable, "-m", "meterkast.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def start_cli(*args):
    proc = subprocess.Popen([sys.executable, "-m", "meterkast.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc


# -- fault SPECs ------------------------------------------------------------------------------
def test_fault_spec_parses_every_key():
    s = FaultSpec.parse("ber=1e-4,drop=2e-4,insert=1e-5,burst=1e-6:32,break=200@30,"
                        "disconnect=2.5@60,seed=7,dir=out")
    assert (s.ber, s.drop, s.insert, s.burst, s.burst_len) == (1e-4, 2e-4, 1e-5, 1e-6, 32)
    assert (s.break_ms, s.break_every, s.disconnect_s, s.disconnect_every) == (200, 30.0, 2.5, 60.0)
    assert (s.seed, s.direction) == (7, "out")
    assert FaultSpec.parse(s.describe()).describe() == s.describe()
    assert not FaultSpec.parse("none").active and not FaultSpec.parse("").active
    assert s.applies_to("out") and not s.applies_to("in")


@pytest.mark.parametrize("spec", ["ber", "ber=2", "nois=1e-3", "break=200", "break=-1@3",
                                  "burst=1e-3:0", "dir=up", "seed=x"])
def test_bad_fault_spec_is_a_one_line_error(spec):
    with pytest.raises(CliError):
        FaultSpec.parse(spec)
    p = cli("uart", "pty", "pty", "--faults", spec)
    assert p.returncode == 2 and "SPEC" in p.stderr and len(p.stderr.strip().splitlines()) == 1


def _through(spec, data, direction="out", chunk=64, framing="8N1", rate=11520.0):
    f = Framing(framing)
    inj = FaultInjector(FaultSpec.parse(spec), direction, f.data_bits, f.parity != "N", f.stop_bits)
    out = bytearray()
    t = 0.0
    for i in range(0, len(data), chunk):
        out += inj.apply(data[i:i + chunk], t, 1 / rate)
        t += len(data[i:i + chunk]) / rate
    return bytes(out), inj


def test_faults_are_reproducible_per_seed_and_independent_per_direction():
    data = bytes(range(256)) * 400
    a, _ = _through("ber=1e-3,drop=1e-3,insert=1e-3,burst=1e-4,seed=5", data)
    b, _ = _through("ber=1e-3,drop=1e-3,insert=1e-3,burst=1e-4,seed=5", data, chunk=1000)
    c, _ = _through("ber=1e-3,drop=1e-3,insert=1e-3,burst=1e-4,seed=6", data)
    d, _ = _through("ber=1e-3,drop=1e-3,insert=1e-3,burst=1e-4,seed=5", data, direction="in")
    assert a == b, "same seed, same faults, whatever the chunking"
    assert a != c and a != d and a != data


def test_fault_rates_match_the_spec():
    data = bytes(1_000_000)
    out, inj = _through("ber=1e-4,seed=1", data, chunk=4096)
    n = inj.counts
    assert 0.85e3 < n["bit_flips"] < 1.15e3  # 1e7 bits on the wire x 1e-4
    # Flips of the start or stop bit lose the character: 2 of the 10 bits.
    assert abs(n["framing_errors"] / n["bit_flips"] - 0.2) < 0.05
    assert len(data) - len(out) == n["framing_errors"]
    assert sum(1 for b in out if b) == n["bit_flips"] - n["framing_errors"]
    out, inj = _through("drop=1e-3,insert=5e-4,seed=2", data, chunk=4096)
    assert 850 < inj.counts["dropped"] < 1150 and 400 < inj.counts["inserted"] < 600
    assert len(out) == len(data) - inj.counts["dropped"] + inj.counts["inserted"]


def test_a_break_loses_exactly_the_bytes_on_the_wire_during_it():
    # 11520 B/s: a 100 ms break every 2 s swallows 1152 characters each time.
    delivered = bytearray()
    inj = FaultInjector(FaultSpec.parse("break=100@2"), "out")
    text = io.StringIO()
    cap = CaptureWriter(text, t0=0.0)
    pipe = PacedPipe(11520, delivered.extend, faults=inj, capture=cap, line="p1", pace=False)
    data = bytes([0x55]) * 11520 * 5  # 5 s of back-to-back bytes: breaks at 2 s and 4 s
    pipe.push(data, now=0.0)
    pipe.pump()
    assert inj.counts["break_lost"] == 2 * 1152
    assert len(delivered) == len(data) - 2 * 1152
    events = [(r.t, r.text) for r in Capture.parse(text.getvalue()).records if r.dir == "!"]
    assert events == [(2.0, "out break 100 ms"), (4.0, "out break 100 ms")]


def test_a_paced_line_counts_its_break_schedule_from_its_own_start():
    # Paced, line time is the monotonic clock: the breaks still come `every` seconds after the
    # line started, not at multiples of whatever the clock read, so a run meets them at the
    # same moments every time.
    delivered = bytearray()
    inj = FaultInjector(FaultSpec.parse("break=100@2"), "out")
    text = io.StringIO()
    cap = CaptureWriter(text, t0=0.0)
    start = time.monotonic() + 7.345  # a clock reading, not a multiple of 2 s
    pipe = PacedPipe(11520, delivered.extend, faults=inj, capture=cap, line="p1", origin=start)
    data = bytes([0x55]) * 11520 * 3  # 3 s of back-to-back bytes: one break, 2 s in
    pipe.push(data, now=start)
    pipe.pump(now=start + 3.1)  # past the last byte (the line time is summed in floats)
    # one break of 1152 characters (one either way: its edges fall on a character boundary, and
    # line time summed in floats may put them on either side); counted from the clock's own
    # zero, the breaks would fall wherever its multiples of 2 s are, not 2 s into the line
    lost = inj.counts["break_lost"]
    assert not pipe.queue and abs(lost - 1152) <= 1, lost
    assert len(delivered) == len(data) - lost
    events = [(round(r.t - start, 6), r.text) for r in Capture.parse(text.getvalue()).records
              if r.dir == "!"]
    assert events == [(2.0, "out break 100 ms")]


def test_7e1_cannot_carry_bit_7():
    got = bytearray()
    pipe = PacedPipe(960, got.extend, framing=Framing("7E1"), pace=False)
    pipe.push(bytes(range(256)))
    pipe.pump()
    assert bytes(got) == bytes(i & 0x7F for i in range(256))
    assert pipe.bit7_lost == 128
    assert Framing("7E1").bits_per_char == Framing("8N1").bits_per_char == 10
    assert Framing("8E1").bits_per_char == 11
    # Under 7E1 a flipped data or parity bit is a parity error; the character still arrives.
    out, inj = _through("ber=1e-3,seed=3", bytes(200_000), framing="7E1")
    assert inj.counts["parity_errors"] > 0 and inj.counts["framing_errors"] > 0
    assert max(out) < 0x80


# -- pacing -----------------------------------------------------------------------------------
def _pty_pair():
    master, slave = os.openpty()
    import tty

    tty.setraw(slave)
    return master, slave


def test_line_never_delivers_faster_than_the_baud_rate():
    """9600 baud 8N1 is 960 B/s: 1,500 bytes take 1.56 s, and at no moment has the reader more
    than the line could have carried since the first byte went out."""
    master, slave = _pty_pair()
    ep = PtyEndpoint()
    line = Line("t", master, ep, baudrate=9600)
    reader = os.open(ep.path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    line.start()
    try:
        t0 = time.monotonic()
        os.write(slave, b"\xa5" * 1500)
        got = 0
        worst = 0.0
        while got < 1500 and time.monotonic() - t0 < 10:
            try:
                got += len(os.read(reader, 4096))
            except BlockingIOError:
                time.sleep(0.005)
                continue
            elapsed = time.monotonic() - t0
            worst = max(worst, got - 960 * elapsed)
        wall = time.monotonic() - t0
    finally:
        line.stop()
        line.join(2)
        os.close(reader)
        ep.close()
        for fd in (master, slave):
            os.close(fd)
    assert got == 1500
    assert worst <= 1.0, "ahead of the line by %.1f bytes" % worst
    assert wall >= 1500 / 960 * 0.98


def test_emulator_p1_never_faster_than_115200_baud(tmp_path):
    from helpers import meter

    with meter(p1="pty", start="2026-03-01T10:00:00Z", speed=100, duration=3000) as emu:
        fd = os.open(emu.port("p1"), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        got, worst, t0 = 0, 0.0, None
        try:
            while t0 is None or time.monotonic() - t0 < 3.0:
                try:
                    n = len(os.read(fd, 65536))
                except BlockingIOError:
                    time.sleep(0.003)
                    continue
                now = time.monotonic()
                if t0 is None:
                    t0 = now - n / 11520  # the first read's bytes were on the wire before it
                got += n
                worst = max(worst, got - 11520 * (now - t0))
        finally:
            os.close(fd)
        emu.stop()
    assert got > 11520 * 3 * 0.3, "the meter kept the line busy"
    # An unpaced line would hand over a whole telegram (800 B) at once; 256 B (22 ms of line)
    # leaves room for the scheduling jitter of a loaded 2-core machine and nothing more.
    assert worst <= 256, "ahead of the line by %.0f bytes" % worst


# -- meterkast uart: null modem, capture, disconnect, replay ----------------------------------
def _ends(proc):
    a = proc.stdout.readline().strip()
    b = proc.stdout.readline().strip()
    assert a.startswith("a: ") and b.startswith("b: "), proc.stderr.read()
    return a[3:].split(" -> ")[-1], int(b.rsplit(":", 1)[1])


def _recv_until(sock, n, timeout, quiet=0.3):
    """At least n bytes (or until timeout / EOF), then whatever follows until the line is quiet."""
    got = b""
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    while time.monotonic() < deadline:
        if len(got) >= n and time.monotonic() - last > quiet:
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        got += chunk
        last = time.monotonic()
    return got


def test_uart_null_modem_pty_to_tcp_both_ways_with_capture(tmp_path):
    cap = tmp_path / "c.capture"
    proc = start_cli("uart", "pty:%s" % (tmp_path / "ttyA"), "tcp:127.0.0.1:0", "--capture",
                     str(cap), "--faults", "ber=1e-3,seed=4,dir=out")
    try:
        pty_path, port = _ends(proc)
        client = socket.create_connection(("127.0.0.1", port), timeout=0.2)
        time.sleep(0.2)  # the line thread accepts the connection
        fd = os.open(str(tmp_path / "ttyA"), os.O_RDWR | os.O_NOCTTY)
        out = bytes(range(256)) * 40
        os.write(fd, out)
        got = _recv_until(client, len(out) - 50, 5)
        client.sendall(b"hello meter")
        back = b""
        deadline = time.monotonic() + 3
        while len(back) < 11 and time.monotonic() < deadline:
            back += os.read(fd, 100)
        client.close()
        os.close(fd)
    finally:
        proc.terminate()
        proc.wait(10)
    assert back == b"hello meter", "dir=out: the other direction is clean"
    assert got != out and abs(len(got) - len(out)) < 50, "faults on the way out"
    c = Capture.load(cap)
    assert c.stream(">", "uart") == got
    assert c.stream("}", "uart") == out
    assert c.stream("<", "uart") == b"hello meter" and c.stream("{", "uart") == b""
    assert c.lines["uart"] == {"baud": 115200, "framing": "8N1", "faults": "ber=0.001,seed=4,dir=out"}
    assert '"out_bit_flips"' in proc.stderr.read()


def test_disconnect_fault_drops_the_tcp_client_and_lets_it_back(tmp_path):
    proc = start_cli("uart", "pty:%s" % (tmp_path / "ttyA"), "tcp:127.0.0.1:0",
                     "--faults", "disconnect=1@2")
    try:
        _, port = _ends(proc)
        fd = os.open(str(tmp_path / "ttyA"), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        client = socket.create_connection(("127.0.0.1", port), timeout=0.1)
        t0 = time.monotonic()
        dropped_at = None
        while time.monotonic() - t0 < 5 and dropped_at is None:
            os.write(fd, b"x" * 50)
            try:
                if client.recv(4096) == b"":
                    dropped_at = time.monotonic() - t0
            except socket.timeout:
                pass
            except ConnectionResetError:
                dropped_at = time.monotonic() - t0
        client.close()
        # While the line is down a new connection is closed at once; afterwards data flows again.
        refused = 0
        while True:
            c = socket.create_connection(("127.0.0.1", port), timeout=0.1)
            os.write(fd, b"y" * 50)
            try:
                data = _recv_until(c, 1, 0.3, quiet=0)
            finally:
                c.close()
            if data:
                back_at = time.monotonic() - t0
                break
            refused += 1
            assert time.monotonic() - t0 < 8
        os.close(fd)
    finally:
        proc.terminate()
        proc.wait(10)
    assert dropped_at is not None and 1.0 < dropped_at < 3.5
    assert refused >= 1 and back_at - dropped_at > 0.7, "closed for the 1 s the line is down"


def test_capture_and_replay_round_trip_byte_for_byte(tmp_path):
    """Capture a real firmware run while a reader reads it; replay the capture into a new pty
    (at 4x) and read the same bytes back."""
    from helpers import meter

    cap = tmp_path / "run.capture"
    seen = bytearray()
    with meter(p1="pty", start="2026-05-01T12:00:00Z", speed=3, duration=600, capture=str(cap)) as emu:
        fd = os.open(emu.port("p1"), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        deadline = time.monotonic() + 30  # 2.5 s from the first byte (boot may be slow)
        while time.monotonic() < deadline:
            try:
                data = os.read(fd, 65536)
                if data and not seen:
                    deadline = time.monotonic() + 2.5
                seen += data
            except BlockingIOError:
                time.sleep(0.01)
        emu.stop()
        time.sleep(0.1)
        try:
            seen += os.read(fd, 65536)
        except (BlockingIOError, OSError):
            pass
        os.close(fd)
    c = Capture.load(cap)
    delivered = c.stream(">", "p1")
    assert len(seen) > 2000 and delivered.startswith(bytes(seen)), "the capture holds what the reader got"
    assert len(delivered) - len(seen) < 2000
    span = c.select(">", "p1")[-1].t - c.select(">", "p1")[0].t
    link = tmp_path / "ttyR"
    proc = start_cli("uart", "--replay", str(cap), "pty:%s" % link, "--replay-speed", "4")
    try:
        assert proc.stdout.readline().startswith("replay: ")
        fd = os.open(str(link), os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        t0 = time.monotonic()
        back = bytearray()
        while len(back) < len(delivered) and time.monotonic() - t0 < 10:
            try:
                back += os.read(fd, 65536)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
        took = time.monotonic() - t0
        os.close(fd)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert bytes(back) == delivered
    assert took > span / 4 * 0.7, "the replay keeps the recorded spacing"


def test_capture_writer_and_reader_agree_on_the_format(tmp_path):
    path = tmp_path / "x.capture"
    w = CaptureWriter(str(path), t0=10.0)
    w.describe_line("p1", 115200, "8N1", "none")
    w.data(10.5, "p1", ">", b"\x00\x7e/")
    w.event(11.0, "p1", "break 200 ms")
    w.data(12.25, "p3", "<", b"\xff")
    w.close()
    text = path.read_text()
    assert "0.500000 p1 > 007E2F\n" in text and "1.000000 p1 ! break 200 ms\n" in text
    c = Capture.load(path)
    assert [(r.t, r.line, r.dir) for r in c.records] == [(0.5, "p1", ">"), (1.0, "p1", "!"),
                                                       (2.25, "p3", "<")]
    assert c.stream(">") == b"\x00\x7e/" and c.line_names() == ["p1", "p3"]
    (tmp_path / "bad.capture").write_text("hello\n")
    p = cli("uart", "--replay", str(tmp_path / "bad.capture"))
    assert p.returncode == 2 and "not a meterkast capture" in p.stderr
