"""10,000 random and mutated frames (seeded) into P3: the firmware answers or ignores each one,
never stops, does not leak heap, and a management client reads the meter right afterwards."""

import os
import random
import threading

import pytest
import serial
from dlms_support import AK, CLIENT_TITLE, EK, SYSTEM_TITLE, P3Harness
from meterkast.dlms import axdr
from meterkast.dlms.client import CLOCK, Association
from meterkast.dlms.security import CounterState, Keys
from meterkast.soak.p3_fuzz import garbage, templates  # the soak campaign's P3 fuzz

FRAMES = 10_000
SEED = 20240312
KEYS = Keys(SYSTEM_TITLE, EK, AK, CLIENT_TITLE)
PROFILE = bytes((1, 0, 99, 1, 0, 255))


def management_read(url, counters):
    from meterkast.dlms.hdlc import HdlcClient

    port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
    link = HdlcClient(port, client_sap=1, timeout=3.0)
    try:
        link.connect()
        a = Association.management(link, KEYS, counters)
        a.open()
        clock = a.get_value(8, CLOCK, 2)
        rows = a.get_value(7, PROFILE, 2, 2, axdr.entry_descriptor(1, 0))
        a.release()
        return clock, rows
    finally:
        link.disconnect()
        port.close()


@pytest.fixture
def meter(tmp_path):
    with P3Harness(tmp_path, rows=96, baudrate=None) as h:
        yield h


def test_random_and_mutated_frames(meter, tmp_path):
    # the test talks to the pty master itself (no paced line); a thread drains the answers
    stop = threading.Event()
    received = bytearray()

    def drain():
        import select

        while not stop.is_set():
            r, _, _ = select.select([meter.master], [], [], 0.05)
            if r:
                try:
                    received.extend(os.read(meter.master, 65536))
                except OSError:
                    return

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    link_port = PtyPort(meter.master, received)
    counters = CounterState(str(tmp_path / "hes.ic"))
    try:
        baseline_read = management_read_raw(link_port, counters)
        base = meter.mem()
        before = int(meter.stats()["bytes_in"])
        rng = random.Random(SEED)
        tpl = templates(CLIENT_TITLE)
        sent = 0
        for i in range(FRAMES):
            data = garbage(rng, tpl)
            os.write(meter.master, data)
            sent += len(data)
            if i % 500 == 499:
                assert meter.proc.poll() is None, "the firmware stopped"
        for _ in range(200):  # until the firmware has taken in every byte
            if int(meter.stats()["bytes_in"]) >= before + sent:
                break
        assert int(meter.stats()["bytes_in"]) == before + sent
        after_garbage = meter.mem()
        # the line goes quiet; a management client connects and reads everything
        clock, rows = management_read_raw(link_port, counters)
        assert len(rows) == 96 and rows == baseline_read[1]
        after_read = meter.mem()
        stats = meter.stats()
    finally:
        stop.set()
        t.join(1)
    assert stats["errors"] == "0"  # no internal error caught by the port
    assert int(stats["bad_frames"]) > 1000
    assert len(received) > 10_000  # it answered plenty of the valid-looking frames
    # heap: what stays allocated after a collection does not grow with the garbage
    assert after_garbage <= base + 512, (base, after_garbage)
    assert after_read <= base + 512, (base, after_read)
    print(
        "sent %d bytes of garbage; heap %d -> %d -> %d" % (sent, base, after_garbage, after_read)
    )


class PtyPort:
    """A pyserial-like port over the pty master, fed by the drain thread's buffer."""

    def __init__(self, fd, received):
        self.fd = fd
        self.received = received
        self.mark = 0

    def flush_input(self):
        import time

        time.sleep(0.3)  # let the firmware finish answering the garbage
        self.mark = len(self.received)

    @property
    def in_waiting(self):
        return len(self.received) - self.mark

    def read(self, n):
        import time

        for _ in range(10):
            k = len(self.received) - self.mark
            if k:
                k = min(k, n)
                out = bytes(self.received[self.mark : self.mark + k])
                self.mark += k
                return out
            time.sleep(0.005)
        return b""

    def write(self, data):
        os.write(self.fd, data)
        return len(data)


def management_read_raw(port, counters):
    from meterkast.dlms.hdlc import HdlcClient

    port.flush_input()
    link = HdlcClient(port, client_sap=1, timeout=3.0)
    link.connect()
    a = Association.management(link, KEYS, counters)
    a.open()
    clock = a.get_value(8, CLOCK, 2)
    rows = a.get_value(7, PROFILE, 2, 2, axdr.entry_descriptor(1, 0))
    a.release()
    link.disconnect()
    return clock, rows


def test_inactivity_timeout_drops_the_link(tmp_path):
    """A link with no valid frame for the inactivity time is forgotten: the next I-frame gets
    DM, and a new SNRM starts over."""
    from meterkast.dlms.hdlc import HdlcClient, HdlcError

    counters = CounterState(str(tmp_path / "hes.ic"))
    with P3Harness(tmp_path, rows=4, inactivity=3) as h:  # 3 s: a slow machine's turns fit
        port = serial.serial_for_url(h.url, baudrate=115200, timeout=0.05)
        try:
            link = HdlcClient(port, client_sap=1, timeout=2.0, retries=0)
            link.connect()
            a = Association.management(link, KEYS, counters)
            a.open()
            assert a.get_value(8, CLOCK, 2)
            import time

            time.sleep(3.8)
            with pytest.raises(HdlcError, match="DM"):
                a.get_value(8, CLOCK, 2)
            link.connect()
            a = Association.management(link, KEYS, counters)
            a.open()
            assert a.get_value(8, CLOCK, 2)
            a.release()
            link.disconnect()
        finally:
            port.close()
