"""meterkast console on the internal link (docs/link.md): frames built by the firmware's own
encoder are found among garbage and damage, decoded by the firmware's own receiver, shown field
by field (plain and JSON), counted; and `meterkast run --link-monitor` shows a running meter's
link, reading for reading what its metering module reported."""
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from array import array
from datetime import datetime, timezone
from pathlib import Path

from meterkast import firmware_module
from meterkast.console.live import run_console
from meterkast.console.view import LiveView, Stats, frame_line
from meterkast.emu.emulator import Emulator
from meterkast.line.endpoints import PtyEndpoint
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import LineMonitor
from meterkast.wire.frames import FrameDecoder

L = firmware_module("contract.link")
R = firmware_module("contract.reading")
EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def meter_seconds(iso):
    return int((datetime.fromisoformat(iso) - EPOCH).total_seconds())


def unix(iso):
    return int(datetime.fromisoformat(iso).timestamp())


T_READING = meter_seconds("2026-07-01T10:14:58+00:00")
T_CAPTURE = meter_seconds("2026-07-01T10:00:00+00:00")
PF_ENDS = (meter_seconds("2026-06-30T08:02:00+00:00"), meter_seconds("2026-06-12T21:00:00+00:00"))


def record(k=0, tariff=1):
    """A reading record (contract/reading.py layout) with every field set."""
    r = array("i", bytes(4 * R.FIELDS))
    r[R.T] = T_READING + k
    r[R.SEQ] = 7 + k
    r[R.STATUS] = R.STATUS_DST
    r[R.TARIFF] = tariff
    r[R.IMPORT_W] = 1234 + k
    r[R.EXPORT_W] = 56
    r[R.IMPORT_T1_WH] = 1234567
    r[R.IMPORT_T2_WH] = 2345679 + k
    r[R.EXPORT_T1_WH] = 345
    r[R.EXPORT_T2_WH] = 0
    for p in range(3):
        r[R.PHASE_IMPORT_W + p] = 400 + p
        r[R.PHASE_EXPORT_W + p] = 10 + p
        r[R.VOLTAGE_DV + p] = 2301 + p
        r[R.CURRENT_MA + p] = 1800 + p
        r[R.SAGS + p] = p
        r[R.SWELLS + p] = 2 * p
    r[R.FREQUENCY_MHZ] = 50012
    r[R.POWER_FAILURES] = 4
    r[R.LONG_POWER_FAILURES] = 2
    r[R.PF_LOG_N] = 2
    r[R.PF_LOG], r[R.PF_LOG + 1] = PF_ENDS[0], 120
    r[R.PF_LOG + 2], r[R.PF_LOG + 3] = PF_ENDS[1], 3600
    return r


class Frames:
    """The firmware's encoder, one frame at a time."""

    def __init__(self):
        self.enc = L.LinkEncoder(b"MKS", b"E0012345", (1, 4, 2), fw_id=bytes.fromhex("1A2B3C4D"),
                                 phases=3, nominal_dv=2300, imax_ma=60000)
        self.buf = bytearray(L.MAX_FRAME)

    def _take(self, n):
        return bytes(self.buf[:n])

    def identity(self, mono=7):
        return self._take(self.enc.identity(self.buf, 0, mono))

    def status(self, r, health):
        return self._take(self.enc.status(self.buf, 0, r, health))

    def reading(self, r):
        return self._take(self.enc.reading(self.buf, 0, r))

    def capture(self):
        return self._take(self.enc.capture(self.buf, 0))


# Garbage: a sync pair with a wrong header CRC before any link frame (noise: passed on as
# unknown bytes, counted by the decoder), and bytes none of the console's framings take.
G0 = b"\x00\x11noise\xa5\x3c\x01\x02\x03\x04\x05\x06\x07\x08"
G1 = b"\x7e\x00 line noise \x01"
G2 = b"\x02tail"


def link_stream():
    """(stream, expected frames in order: (type, ok, bytes)), with garbage and damage."""
    f = Frames()
    f.enc.add_capture(41, T_CAPTURE, 0x88, [1234000, 2345000, 300, 0])  # power down, DST
    health = L.HEALTH_FLASH_FAULT | L.HEALTH_WATCHDOG_RESET
    ident, stat = f.identity(), f.status(record(), health)
    r1, c1 = f.reading(record()), f.capture()
    r2 = bytearray(f.reading(record(1)))
    r2[L.HEADER + 20] ^= 0x04  # one bit of the body: FCS mismatch
    r3 = f.reading(record(2))  # the frame before it is lost: a gap of one
    bad_value = f.reading(record(3, tariff=3))  # intact, but no tariff 3: refused whole
    r4 = f.reading(record(4))
    r5 = f.reading(record(5))[:60]  # cut short: no end byte where its length says
    c2 = f.capture()
    r6 = f.reading(record(6))
    parts = [(None, None, G0), ("link_identity", True, ident), ("link_status", True, stat),
             ("link_reading", True, r1), ("link_capture", True, c1), (None, None, G1),
             ("link_rejected", False, bytes(r2)), ("link_reading", True, r3),
             ("link_rejected", False, bad_value), ("link_reading", True, r4),
             ("link_duplicate", None, r4), ("link_rejected", False, r5),
             ("link_capture", True, c2), ("link_reading", True, r6), (None, None, G2)]
    return b"".join(p[2] for p in parts), parts


def decode(stream, chunks):
    dec = FrameDecoder(link=True)
    out = []
    pos = 0
    for n in chunks:
        out += dec.feed(stream[pos:pos + n])
        pos += n
    out += dec.feed(stream[pos:])
    counters = dec.link_counters()
    return out + dec.flush(final=True), counters


def check_frames(frames, parts):
    got = [((f.link or {}).get("type") if f.kind == "link" else f.kind, f.ok, f.raw)
           for f in frames]
    want = [(t or "unknown", ok, raw) for t, ok, raw in parts]
    assert got == want


def check_values(frames):
    js = [json.loads(json.dumps(f.as_json())) for f in frames]
    ident, stat, r1, c1 = js[1:5]
    assert ident == {"type": "link_identity", "supplier": "MKS", "serial": "E0012345",
                     "fw_version": "1.4.2", "fw_id": "1A2B3C4D", "phases": 3, "nominal_dv": 2300,
                     "imax_ma": 60000, "ring": 96, "mono": 7, "seq": 0, "kind": "link",
                     "ok": True, "length": 51}
    assert stat == {"type": "link_status", "time": "2026-07-01T10:14:58+00:00", "mono": 7,
                    "status": 8, "status_flags": ["dst"], "health": 5,
                    "health_flags": ["watchdog_reset", "flash_fault"], "captures": 42,
                    "power_failure_log": [{"end": "2026-06-30T08:02:00+00:00", "duration_s": 120},
                                          {"end": "2026-06-12T21:00:00+00:00", "duration_s": 3600}],
                    "seq": 1, "kind": "link", "ok": True, "length": 108}
    assert r1 == {"type": "link_reading", "time": "2026-07-01T10:14:58+00:00", "mono": 7,
                  "status": 8, "status_flags": ["dst"], "tariff": 1, "import_w": 1234,
                  "export_w": 56, "import_t1_wh": 1234567, "import_t2_wh": 2345679,
                  "export_t1_wh": 345, "export_t2_wh": 0, "captures": 42,
                  "phase_import_w": [400, 401, 402], "phase_export_w": [10, 11, 12],
                  "voltage_dv": [2301, 2302, 2303], "current_ma": [1800, 1801, 1802],
                  "frequency_mhz": 50012, "power_failures": 4, "long_power_failures": 2,
                  "sags": [0, 1, 2], "swells": [0, 2, 4], "seq": 2, "kind": "link", "ok": True,
                  "length": 126}
    assert c1 == {"type": "link_capture", "index": 41, "time": "2026-07-01T10:00:00+00:00",
                  "status": 0x88, "status_flags": ["power_down", "dst"],
                  "import_t1_wh": 1234000, "import_t2_wh": 2345000, "export_t1_wh": 300,
                  "export_t2_wh": 0, "seq": 3, "kind": "link", "ok": True, "length": 37}
    fcs, r3, value, r4, dup, cut, c2, r6 = js[6:14]
    assert fcs == {"type": "link_rejected", "frame_type": "reading", "kind": "link", "ok": False,
                   "error": "FCS mismatch", "length": 126}
    assert (r3["mono"], r3["import_t2_wh"], r3["seq"], r3["missed"]) == (9, 2345681, 5, 1)
    assert value["type"] == "link_rejected" and value["ok"] is False and value["seq"] == 6
    assert "field out of range" in value["error"]
    assert (r4["mono"], r4["seq"], "missed" in r4) == (11, 7, False)
    assert dup["type"] == "link_duplicate" and dup["seq"] == 7 and dup["ok"] is None
    assert cut["error"] == "no end byte where the length says" and cut["length"] == 60
    assert (c2["index"], c2["seq"], c2["missed"]) == (41, 9, 1)
    assert (r6["mono"], r6["import_w"], r6["seq"]) == (13, 1240, 10)
    return js


def test_link_frames_among_garbage_and_damage_are_decoded_field_by_field():
    stream, parts = link_stream()
    frames, counters = decode(stream, [])
    check_frames(frames, parts)
    check_values(frames)
    assert counters["header_errors"] == 1 and counters["crc_errors"] == 1
    assert counters["length_errors"] == 1 and counters["value_errors"] == 1
    assert counters["duplicates"] == 1 and counters["seq_gaps"] == 2
    assert counters["frames_missed"] == 2 and counters["frames"] == 8
    assert counters["readings"] == 4 and counters["captures"] == 2
    # Whatever the read boundaries, the same frames with the same bytes
    rng = random.Random(5)
    for chunks in ([1] * len(stream), [rng.randint(1, 40) for _ in range(200)],
                   [rng.randint(1, 300) for _ in range(40)]):
        again, c = decode(stream, chunks)
        check_frames(again, parts)
        assert [f.as_json() for f in again] == [f.as_json() for f in frames] and c == counters


def test_plain_lines_and_the_live_view_of_link_frames():
    stream, _ = link_stream()
    frames, _ = decode(stream, [])
    lines = [frame_line(f) for f in frames]
    assert lines[1] == ("link identity  MKS E0012345  fw 1.4.2 id 1A2B3C4D  3 phases  Un 230.0 V  "
                        "Imax 60.000 A  ring 96  mono 7  seq 0")
    assert lines[2] == ("link status  2026-07-01T10:14:58Z  mono 7  status 0x08 dst  health 0x05 "
                        "watchdog_reset,flash_fault  captures 42  power failures 2: "
                        "2026-06-30T08:02:00Z 120 s, 2026-06-12T21:00:00Z 3600 s  seq 1")
    assert lines[3] == ("link reading  2026-07-01T10:14:58Z  mono 7  status 0x08 dst  T1  +1234 W  "
                        "-56 W  import 1234.567/2345.679 kWh  export 0.345/0.000 kWh  captures 42"
                        "  seq 2")
    assert lines[4] == ("link capture #41  2026-07-01T10:00:00Z  status 0x88 power_down,dst  "
                        "import 1234.000/2345.000 kWh  export 0.300/0.000 kWh  seq 3")
    assert lines[6] == "link reading REJECTED: FCS mismatch (126 B)"
    assert lines[7].endswith("seq 5 (1 missed)")
    assert lines[10].startswith("link reading duplicate of the frame before, dropped  seq 7")
    assert lines[11] == "link reading REJECTED: no end byte where the length says (60 B)"
    assert lines[0].startswith("unknown %d B: 00 11" % len(G0))
    stats = Stats()
    for f in frames:
        stats.add(f)
    assert stats.errors == 3
    assert stats.problems == {"link-fcs": 1, "link-value": 1, "link-length": 1}
    assert any("1 frames missing before seq 5" in n for n in stats.notes)
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=200, force_terminal=False).print(LiveView(stats, "/dev/pts/9"))
    text = buf.getvalue()
    assert lines[13] in text and lines[12] in text  # the newest reading and capture
    assert "link: frames 8" in text and "fcs 1" in text and "errors 3" in text


def _serve(chunks):
    """A TCP source that sends chunks and closes: the console's end of stream."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        time.sleep(0.5)  # the console opening the port discards what arrives meanwhile
        for c in chunks:
            conn.sendall(c)
            time.sleep(0.01)
        time.sleep(0.3)
        conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return "socket://127.0.0.1:%d" % server.getsockname()[1]


def test_run_console_json_and_counters_for_a_link_stream():
    stream, parts = link_stream()
    rng = random.Random(9)
    cuts = sorted(rng.sample(range(1, len(stream)), 30))
    url = _serve([stream[a:b] for a, b in zip([0] + cuts, cuts + [len(stream)])])
    out, err = io.StringIO(), io.StringIO()
    stats = Stats()
    bad = run_console(url, as_json=True, out=out, err=err, timeout=20, stats=stats)
    js = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [d.get("type", d["kind"]) for d in js] == [t or "unknown" for t, _, _ in parts]
    assert [d["ok"] for d in js] == [ok for _, ok, _ in parts]
    assert js[3]["import_t1_wh"] == 1234567 and js[3]["time"] == "2026-07-01T10:14:58+00:00"
    assert js[0]["hex"] == G0.hex().upper() and js[-1]["hex"] == G2.hex().upper()
    assert bad == 3
    link = stats.as_json()["link"]
    assert link["bytes"] == len(stream) and link["crc_errors"] == 1 and link["duplicates"] == 1
    assert "end of stream" in err.getvalue()


def test_noise_and_a_faulty_line_never_raise_and_change_nothing_the_decoder_decides():
    """The console's stepwise feeding decides exactly what the firmware's receiver decides on
    the whole stream at once (frames, sequence numbers, every counter); no accepted frame is
    one that was not sent; every byte comes out in exactly one frame or unknown record."""
    f = Frames()
    sent = []
    for k in range(300):
        if k % 40 == 0:
            f.enc.add_capture(k // 40, T_CAPTURE + 900 * (k // 40), 0, [k, 0, 0, 0])
        sent += [f.reading(record(k)), f.capture()]
        if k % 10 == 0:
            sent.append(f.status(record(k), 0))
    rng = random.Random(3)
    alphabet = b"\xa5\x3c\x5a\x52\x43\x01\x00\xffAZ09"  # sync, end, type and version bytes
    stream = b"".join(s + bytes(rng.choice(alphabet) for _ in range(rng.choice((0, 0, 3, 30))))
                      for s in sent)
    for seed, spec in enumerate(("ber=1e-3,drop=3e-4,insert=3e-4", "ber=1e-2",
                                 "burst=1e-3:40,drop=1e-3")):
        inj = FaultInjector(FaultSpec.parse(spec + ",seed=%d" % seed), "out")
        data = bytes(inj.apply(stream, 0.0, 1 / 11520))
        noise = bytes(rng.choice(alphabet) for _ in range(3000)) + rng.randbytes(3000)
        for case in (data, noise + data[:5000] + noise):
            bare_got = []
            bare = L.LinkDecoder(sink=lambda t, b=bare_got: b.append(t))
            bare.feed(case, len(case))
            dec = FrameDecoder(link=True)
            frames = []
            pos = 0
            while pos < len(case):
                n = rng.choice((1, 2, 9, 64, 500, 4096))
                frames += dec.feed(case[pos:pos + n])
                pos += n
            counters = dec.link.counters()
            for name, value in counters.items():
                assert value == getattr(bare, name), name
            accepted = [x for x in frames if x.kind == "link" and x.ok]
            assert [x.raw[2] for x in accepted] == bare_got
            assert all(x.raw in sent for x in accepted)
            frames += dec.flush(final=True)
            assert sum(len(x.raw) for x in frames) == len(case)
        assert bare.crc_errors + bare.length_errors + bare.header_errors > 0  # the line hurt


def _header(typ, version, length, seq):
    h = bytearray([L.SYNC1, L.SYNC2, typ, version, length, seq & 0xFF, seq >> 8])
    c = L.crc16(h, 0, 7)
    return bytes(h + bytes([c & 0xFF, c >> 8]))


def test_a_refused_frame_shorter_than_a_header_is_reported_without_raising():
    """A header of an unknown type that is itself a sync pair, whose bytes 2..10 form another
    valid header: the first is refused at its end, and the decoder then holds the second from
    byte 2 on. The refused frame is those 2 bytes; the rest is judged on its own."""
    first = _header(0xA5, 0x3C, 0x99, 0xC800)
    inner = L.crc16(first, 2, 9)
    tail = bytes([inner & 0xFF, inner >> 8]) + bytes(200)
    stream = Frames().identity() + first + tail
    frames, counters = decode(stream, [])
    assert [(f.kind, f.ok, len(f.raw)) for f in frames] == [
        ("link", True, 51), ("link", False, 2), ("unknown", None, len(stream) - 53)]
    assert frames[1].error == "no end byte where the length says"
    assert frames[1].link["frame_type"] == "0xA5" and counters["length_errors"] == 1


def test_the_firmware_modules_leave_no_names_behind():
    FrameDecoder(link=True)
    for name in ("util", "util.x25", "contract", "contract.link", "micropython"):
        assert name not in sys.modules, name
    assert firmware_module("contract.link") is L


def test_a_line_monitor_passes_one_direction_and_takes_nothing_back():
    ep = PtyEndpoint()
    mon = LineMonitor("link", ep, "out")
    mon.start()
    fd = os.open(ep.path, os.O_RDWR | os.O_NOCTTY)
    try:
        mon.tap("in", b"not this way")
        mon.tap("out", b"\xa5\x3cabc")
        os.write(fd, b"from the watcher")  # read and dropped by the monitor, never an error
        got = b""
        deadline = time.monotonic() + 5
        while (len(got) < 5 or mon.bytes < 5) and time.monotonic() < deadline:
            try:
                os.set_blocking(fd, False)
                got += os.read(fd, 100)
            except BlockingIOError:
                time.sleep(0.02)
        assert got == b"\xa5\x3cabc" and mon.bytes == 5
    finally:
        mon.close()
        os.close(fd)
        ep.close()
    assert not mon.is_alive()
    mon.tap("out", b"after close")  # a late tap is ignored
    assert mon.bytes == 5


def test_run_link_monitor_needs_two_modules_and_prints_its_address(tmp_path):
    exe = str(Path(sys.executable).parent / "meterkast")
    p = subprocess.run([exe, "run", "--modules", "single", "--link-monitor", "pty"],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == ("meterkast run: error: --link-monitor needs --modules two (a single "
                        "board has no link line)\n")
    p = subprocess.Popen([exe, "run", "--link-monitor", "pty", "--state", str(tmp_path / "s"),
                          "--duration", "20", "--speed", "20"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        first = [p.stdout.readline(), p.stdout.readline()]
    finally:
        p.communicate(timeout=60)
    assert first[0].startswith("p1: /dev/pts/") and first[1].startswith("link: /dev/pts/")


def test_the_link_monitor_shows_what_the_metering_module_sent(tmp_path):
    emu = Emulator(p1="pty", modules="two", link_monitor="pty", start="2026-03-02T10:14:00Z",
                   speed=60, duration=240, state=tmp_path / "state")
    out = io.StringIO()
    stop = threading.Event()
    result = {}
    emu.start()
    try:
        def console():
            result["bad"] = run_console(emu.port("link"), as_json=True, out=out, stop=stop,
                                        err=io.StringIO())

        reader = threading.Thread(target=console, daemon=True)
        reader.start()
        assert emu.wait(60) == 0, emu.stderr
        time.sleep(0.5)  # the last frames through the line and the console
        stop.set()
        reader.join(10)
    finally:
        emu.stop()
    js = [json.loads(x) for x in out.getvalue().splitlines()]
    assert result["bad"] == 0 and all(d["kind"] == "link" and d["ok"] for d in js)
    mine = [e for e in emu.events if e.get("module") == "metering"]
    said = {e["t"]: e for e in mine if e.get("ev") == "r"}
    readings = [d for d in js if d["type"] == "link_reading"]
    # of 240 meter seconds (a second the line is still busy with is skipped, and a machine that
    # runs the firmware late makes it catch up in bursts)
    assert len(readings) >= 30, len(readings)
    for d in readings:
        e = said[unix(d["time"])]
        assert [d["import_t1_wh"], d["import_t2_wh"], d["export_t1_wh"], d["export_t2_wh"]] \
            == e["reg"], (d, e)
        assert (d["mono"], d["status"], d["tariff"], d["import_w"], d["export_w"]) \
            == (e["seq"], e["st"], e["tar"], e["imp_w"], e["exp_w"]), (d, e)
    def total(d):
        return d["import_t1_wh"] + d["import_t2_wh"] + d["export_t1_wh"] + d["export_t2_wh"]

    assert total(readings[-1]) > total(readings[0])  # the meter counted
    stored = {e["a"]: e for e in mine if e.get("ev") == "capture"}
    captures = [d for d in js if d["type"] == "link_capture"]
    assert captures and stored
    for d in captures:
        e = stored[unix(d["time"])]
        assert [d["import_t1_wh"], d["import_t2_wh"], d["export_t1_wh"], d["export_t2_wh"]] \
            == e["reg"] and d["status"] == e["b"], (d, e)
    ids = [d for d in js if d["type"] == "link_identity"]
    assert ids and all(d["phases"] == 3 and len(d["fw_id"]) == 8 for d in ids)
