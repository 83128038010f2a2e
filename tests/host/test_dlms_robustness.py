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
from meterkast.dlms.hdlc import LLC_REQUEST, build_frame, fcs
from meterkast.dlms.security import CounterState, Keys

FRAMES = 10_000
SEED = 20240312
KEYS = Keys(SYSTEM_TITLE, EK, AK, CLIENT_TITLE)
PROFILE = bytes((1, 0, 99, 1, 0, 255))
SERVER = b"\x03"


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


def templates():
    """Client frames of a real session's kinds, to mutate."""
    c1, c16 = b"\x03", b"\x21"
    aarq = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400401e5dffff")
    get = b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00"
    get_sel = b"\xc0\x01\xc1\x00\x07" + PROFILE + b"\x02\x01\x02" + axdr.entry_descriptor(1, 3)
    dbx = b"\xdb\x08" + CLIENT_TITLE + b"\x1e\x30\x00\x00\x00\x05" + bytes(range(25))
    out = [
        build_frame(SERVER, c16, 0x93),
        build_frame(SERVER, c1, 0x93, bytes.fromhex("818012050180060180070400000001080400000001")),
        build_frame(SERVER, c16, 0x53),
        build_frame(SERVER, c16, 0x11),
        build_frame(SERVER, c16, 0x31),
    ]
    for ns in range(8):
        for info in (aarq, get, get_sel, dbx, b"\x62\x03\x80\x01\x00"):
            out.append(
                build_frame(
                    SERVER,
                    c16 if ns & 1 else c1,
                    0x10 | (ns << 1) | ((ns + 1) & 7) << 5,
                    LLC_REQUEST + info,
                    segmented=ns == 5,
                )
            )
    return out


def refcs(frame):
    """Recompute HCS and FCS of a (mutated) frame so it passes the HDLC checks."""
    body = bytearray(frame[1:-1])
    if len(body) < 7:
        return frame
    length = len(body)
    body[0] = 0xA0 | (body[0] & 0x08) | (length >> 8)
    body[1] = length & 0xFF
    p = 2
    while p < length - 2 and not body[p] & 1:
        p += 1
    p += 2  # source address (one byte) and control
    if p + 2 < length - 2:
        body[p + 1 : p + 3] = fcs(body[: p + 1])
    body[-2:] = fcs(body[:-2])
    return b"\x7e" + bytes(body) + b"\x7e"


def garbage(rng, tpl):
    kind = rng.randrange(7)
    if kind == 0:  # line noise
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    f = bytearray(rng.choice(tpl))
    if kind in (1, 2):  # bit errors, then a valid or an invalid FCS
        for _ in range(rng.randrange(1, 4)):
            f[rng.randrange(1, len(f) - 1)] ^= 1 << rng.randrange(8)
        return refcs(bytes(f)) if kind == 2 else bytes(f)
    if kind == 3:  # truncated, or two frames glued together
        return bytes(f[: rng.randrange(1, len(f))]) + (
            bytes(rng.choice(tpl)) if rng.random() < 0.5 else b""
        )
    if kind == 4:  # valid HDLC, random control and random information
        info = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 120)))
        ctrl = rng.randrange(256)
        if rng.random() < 0.5:
            info = LLC_REQUEST + info
            ctrl &= 0xFE
        return build_frame(
            SERVER, rng.choice((b"\x03", b"\x21", b"\x11")), ctrl, info, rng.random() < 0.1
        )
    if kind == 5:  # a believable header announcing a long frame that never comes
        n = rng.randrange(7, 0x7FF)
        return bytes((0x7E, 0xA0 | (n >> 8), n & 0xFF)) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 40))
        )
    return b"\x7e" * rng.randrange(1, 20)  # flag fill


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
        tpl = templates()
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
    with P3Harness(tmp_path, rows=4, inactivity=1) as h:
        port = serial.serial_for_url(h.url, baudrate=115200, timeout=0.05)
        try:
            link = HdlcClient(port, client_sap=1, timeout=2.0, retries=0)
            link.connect()
            a = Association.management(link, KEYS, counters)
            a.open()
            assert a.get_value(8, CLOCK, 2)
            import time

            time.sleep(1.6)
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
