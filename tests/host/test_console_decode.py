"""meterkast console: detection and verification of what is on the wire, whatever the read
boundaries; strict acceptance; keys; the slow reader; JSON, plain and live output."""
import io
import json
import random
import socket
import threading
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from meterkast.console.live import frames as read_frames
from meterkast.console.live import run_console
from meterkast.console.view import LiveView, Stats, frame_line, sparkline
from meterkast.dlms.hdlc import build_frame as hdlc_frame
from meterkast.keys.file import Keys
from meterkast.wire.frames import FrameDecoder, encrypted_frame
from meterkast.wire.p1 import Telegram, crc16, make_telegram
from serial_support import AK, EK, KEYS, TITLE, variations

TELEGRAMS = variations(6, seed=5)

# Real frames from a DLMS exchange (reference notes, dlms.md 1.6): SNRM, UA, AARQ, GET.
SNRM = bytes.fromhex("7EA00703219 30F017E".replace(" ", ""))
UA = bytes.fromhex("7EA01E210373C37A818012050180060180070400000001080400000001533B7E")
AARQ = bytes.fromhex(
    "7E A0 37 03 21 10 6E FB E6 E6 00 60 29 A1 09 06 07 60 85 74 05 08 01 01 A6 0A 04 08 75 74 69"
    " 8F 85 CD D9 DB BE 10 04 0E 01 00 00 00 06 5F 1F 04 00 20 52 5F FF FF 33 81 7E")
GET = bytes.fromhex("7EA0190321326FD8E6E600C001C100080000010000FF0200601A7E")


def decode_all(data, keys=None, chunks=None):
    dec = FrameDecoder(keys)
    out = []
    if chunks is None:
        out += dec.feed(data)
    else:
        pos = 0
        for n in chunks:
            out += dec.feed(data[pos:pos + n])
            pos += n
        out += dec.feed(data[pos:])
    return out + dec.flush(final=True)


def summary(frames):
    return [(f.kind, f.ok, f.raw) for f in frames]


# -- framing: split, merged, garbage --------------------------------------------------------
def test_telegrams_split_at_every_boundary_give_the_same_result():
    stream = b"".join(TELEGRAMS[:3])
    whole = summary(decode_all(stream))
    assert [(k, ok) for k, ok, _ in whole] == [("p1", True)] * 3
    assert summary(decode_all(stream, chunks=[1] * len(stream))) == whole
    rng = random.Random(1)
    for _ in range(20):
        cuts = [rng.randint(1, 300) for _ in range(40)]
        assert summary(decode_all(stream, chunks=cuts)) == whole


def test_merged_telegrams_in_one_read_and_values_decoded():
    frames = decode_all(b"".join(TELEGRAMS))
    assert [f.raw for f in frames] == TELEGRAMS
    t = frames[0].telegram
    assert t.fields["1-3:0.2.8"] == "50" and isinstance(t.fields["1-0:1.8.1"], float)
    assert t.fields["0-0:1.0.0"] == "2026-01-05T06:00:00Z"


def test_garbage_between_and_before_telegrams_is_shown_as_unknown_and_counted():
    rng = random.Random(2)
    garbage = [b"\x00\xff/\x7e\xdb", b"/nope!\r\n", rng.randbytes(300), b"~\xa0\x10\x7e" + b"\xdb\x08"]
    stream = garbage[0] + TELEGRAMS[0] + garbage[1] + TELEGRAMS[1] + garbage[2] + TELEGRAMS[2] + garbage[3]
    frames = decode_all(stream, chunks=[rng.randint(1, 50) for _ in range(200)])
    assert [f.raw for f in frames if f.ok] == TELEGRAMS[:3]
    unknown = sum(len(f.raw) for f in frames if f.kind == "unknown")
    assert unknown == sum(map(len, garbage))
    assert all(f.ok is None for f in frames if f.kind == "unknown")


def test_a_telegram_cut_short_is_reported_and_the_next_one_still_decodes():
    t0, t1 = TELEGRAMS[0], TELEGRAMS[1]
    frames = decode_all(t0[:400] + t1)
    assert [(f.kind, f.ok, f.problem) for f in frames] == [("p1", False, "truncated"), ("p1", True, None)]
    assert len(frames[0].raw) == 400 and frames[1].raw == t1


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.integers(0, 2))
@example(b"~\xa4", 0)  # a flag and a format field just before the '/': no HDLC header follows
def test_noise_never_crashes_the_decoder_and_is_never_accepted(noise, where):
    t = TELEGRAMS[0]
    stream = [noise + t, t + noise, noise[: len(noise) // 2] + t + noise[len(noise) // 2:]][where]
    frames = decode_all(stream, KEYS, chunks=[97] * 40)
    assert [f.raw for f in frames if f.ok] == [t]


# -- strict acceptance ----------------------------------------------------------------------
def _with_crc(text):
    body = text.encode() if isinstance(text, str) else text
    body = body[: body.rindex(b"!") + 1]
    return body + b"%04X\r\n" % crc16(body)


@pytest.mark.parametrize("change,reason", [
    ((b"1-0:1.8.1(", b"1-0:1.8.1(1.2.3*kWh)\r\n1-0:1.8.9("), "out of shape"),
    ((b"*kWh)", b"*kWi)"), "out of shape"),
    ((b"0-0:1.0.0(2601", b"0-0:1.0.0(2613"), "bad timestamp"),
    ((b"1-0:2.7.0(", b"1-0:1.7.0("), "twice"),
    ((b"1-0:99.97.0(0)", b"1-0:99.97.0(1)"), "holds 0"),
    ((b"1-0:32.7.0(", b"7-0:32.7.0("), "not a P1 object"),
    ((b"\r\n1-0:1.7.0", b"\n1-0:1.7.0"), "no CR"),
    ((b"/MKS5", b"/MK55"), "bad header"),
    ((b"(50)", b"(5 0)"), "line syntax"),
])
def test_crc_valid_but_malformed_telegrams_are_rejected(change, reason):
    base = [t for t in TELEGRAMS if b"1-0:99.97.0(0)" in t][0]
    raw = _with_crc(base.replace(*change))
    t = Telegram(raw)
    assert t.crc_ok is True and not t.ok and reason in t.error
    f = decode_all(raw)
    assert not any(x.ok for x in f)


def test_lower_case_crc_and_missing_crc_are_flagged():
    # Some meters write their CRC in lower case; a stream that wrote it in upper case does not
    # switch (a flipped case bit is a corrupted CRC).
    t = TELEGRAMS[0]
    lower = t[:-6] + t[-6:-2].lower() + b"\r\n"
    assert lower != t and Telegram(lower).ok
    frames = decode_all(t + lower)
    assert frames[0].ok and frames[1].ok is False and "upper-case" in frames[1].error
    assert [f.ok for f in decode_all(lower + lower)] == [True, True]
    no_crc = t[:-6] + b"\r\n"
    frames = decode_all(t + no_crc)
    assert frames[1].ok is False and "no CRC" in frames[1].error


def test_real_world_telegrams_from_other_meters_are_accepted():
    # Header with a backslash (Iskra), gas on M-Bus channel 1, 0230.0*V style widths.
    iskra = make_telegram("ISk5\\2MT382-1000", [
        "1-3:0.2.8(50)", "0-0:1.0.0(170102192002W)", "0-0:96.1.1(4B384547303034303436333935353037)",
        "1-0:1.8.1(000004.426*kWh)", "1-0:2.8.1(000002.444*kWh)", "0-0:96.14.0(0002)",
        "1-0:1.7.0(00.244*kW)", "1-0:99.97.0(0)(0-0:96.7.19)", "0-0:96.13.0()",
        "1-0:32.7.0(0230.0*V)", "1-0:31.7.0(0.48*A)", "0-1:24.1.0(003)",
        "0-1:96.1.0(3232323241424344313233343536373839)", "0-1:24.2.1(170102161005W)(00000.107*m3)",
        "1-0:99.99.0(42)",
    ])
    # DSMR 2.2: no CRC, the gas value on a line of its own.
    dsmr22 = (b"/ISk5\\2ME382-1003\r\n\r\n0-0:96.1.1(4B414C37303035313039333931313131)\r\n"
              b"1-0:1.8.1(00185.000*kWh)\r\n0-1:24.3.0(090212160000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n"
              b"(00001.001)\r\n!\r\n")
    a = decode_all(iskra)[0]
    assert a.ok and a.telegram.fields["1-0:31.7.0"] == 0.48 and a.telegram.unknown_obis == ["1-0:99.99.0"]
    b = decode_all(dsmr22)[0]
    assert b.ok and b.telegram.crc_ok is None and b.telegram.fields["1-0:1.8.1"] == 185.0


# -- encrypted P1 ---------------------------------------------------------------------------
def test_encrypted_frames_decrypt_verify_and_count_gaps():
    frames = [encrypted_frame(t, TITLE, 7 + i, EK, AK) for i, t in enumerate(TELEGRAMS)]
    del frames[3]  # one frame lost on the way: counter 10
    out = decode_all(b"".join(frames), KEYS, chunks=[33] * 200)
    assert [f.frame_counter for f in out] == [7, 8, 9, 11, 12]
    assert all(f.ok and f.tag_ok for f in out)
    assert [f.telegram.raw for f in out] == TELEGRAMS[:3] + TELEGRAMS[4:]
    stats = Stats()
    for f in out:
        stats.add(f)
    assert stats.fc_gaps == 1 and stats.ok == 5
    j = out[0].as_json()
    assert j["kind"] == "p1-encrypted" and j["frame_counter"] == 7 and j["tag_ok"] is True
    assert j["crc_ok"] is True and j["1-0:1.8.1"] == out[0].telegram.fields["1-0:1.8.1"]


@pytest.mark.parametrize("case", ["wrong ek", "wrong ak", "tampered", "other meter"])
def test_a_wrong_key_or_tampered_frame_is_reported_never_shown_as_data(case):
    frame = encrypted_frame(TELEGRAMS[0], TITLE, 5, EK, AK)
    keys = KEYS
    if case == "wrong ek":
        keys = Keys(TITLE, bytes(16), AK)
    elif case == "wrong ak":
        keys = Keys(TITLE, EK, bytes(16))
    elif case == "tampered":
        frame = frame[:40] + bytes([frame[40] ^ 1]) + frame[41:]
    else:
        frame = encrypted_frame(TELEGRAMS[0], b"OTHER\x00\x00\x01", 5, EK, AK)[:-1] + b"\x00"
    (f,) = decode_all(frame, keys)
    assert f.kind == "p1-encrypted" and f.ok is False and f.tag_ok is False
    assert f.telegram is None and "tag mismatch" in f.error
    j = f.as_json(show_bad=True)
    assert not any(k[0].isdigit() for k in j) and "unverified" not in j
    assert "REJECTED" in frame_line(f)
    if case == "other meter":
        assert "the keys are for 4D4B530000000001" in f.error


def test_without_keys_encrypted_frames_are_found_but_not_trusted():
    frames = [encrypted_frame(t, TITLE, 1 + i, EK, AK) for i, t in enumerate(TELEGRAMS[:2])]
    out = decode_all(b"\x00\x01" + frames[0] + frames[1])
    enc = [f for f in out if f.kind == "p1-encrypted"]
    assert [f.frame_counter for f in enc] == [1, 2]
    assert all(f.ok is None and f.tag_ok is None and f.telegram is None for f in enc)


def test_keys_file_in_the_project_format(tmp_path):
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"system_title": TITLE.hex(), "p1": {"ek": EK.hex(), "ak": AK.hex()},
                                "management": {"ek": "00" * 16, "ak": "11" * 16,
                                               "client_system_title": "22" * 8}}))
    k = Keys.load(str(path))
    assert (k.system_title, k.p1_ek, k.p1_ak, k.mgmt_ak) == (TITLE, EK, AK, b"\x11" * 16)
    path.write_text(json.dumps({"p1": {"ek": "0011"}}))
    with pytest.raises(Exception, match="p1.ek must be 32 hex digits"):
        Keys.load(str(path))


# -- HDLC -----------------------------------------------------------------------------------
def test_hdlc_frames_from_a_real_exchange_are_framed_by_length_and_checked():
    stream = SNRM + UA[1:] + AARQ + GET  # the UA shares the SNRM's closing flag
    frames = decode_all(stream, chunks=[5] * 40)
    assert [f.kind for f in frames] == ["hdlc"] * 4 and all(f.ok for f in frames)
    assert [f.hdlc["control"] for f in frames] == ["SNRM P/F", "UA P/F", "I ns=0 nr=0 P/F", "I ns=1 nr=1 P/F"]
    assert frames[2].hdlc["apdu"] == "AARQ" and frames[3].hdlc["apdu"] == "get-request"
    assert (frames[0].hdlc["dst"], frames[0].hdlc["src"]) == (1, 16)
    bad = GET[:20] + bytes([GET[20] ^ 0x40]) + GET[21:]
    (f,) = decode_all(bad)
    assert f.kind == "hdlc" and f.ok is False and f.problem == "fcs" and f.hdlc["hcs_ok"] is True


def test_hdlc_with_7e_inside_and_management_decryption():
    mgmt_ek, mgmt_ak = bytes(range(16)), bytes(range(0xD0, 0xE0))
    keys = Keys(TITLE, EK, AK, mgmt_ek, mgmt_ak)
    plain = bytes.fromhex("C401C100090C07E8010101020000008000007E7E")
    ic = (2).to_bytes(4, "big")
    from meterkast.dlms.security import gcm_seal

    ct, tag = gcm_seal(mgmt_ek, TITLE + ic, b"\x30" + mgmt_ak, plain)
    apdu = b"\xdb\x08" + TITLE + bytes([len(ct) + 17]) + b"\x30" + ic + ct + tag
    frame = hdlc_frame(b"\x21", b"\x03", 0x52, b"\xe6\xe7\x00" + apdu)
    (f,) = decode_all(frame + b"", keys)
    assert f.ok and f.hdlc["apdu"] == "general-glo-ciphering"
    assert f.hdlc["decrypted"] == plain.hex().upper() and f.hdlc["inner_apdu"] == "get-response"


# -- the reading loop: slow reader, output modes ----------------------------------------------
class FakePort:
    """A port with a backlog: what a reader sees after it stalled."""

    def __init__(self, data):
        self.data = bytearray(data)

    @property
    def in_waiting(self):
        return len(self.data)

    def read(self, n):
        out = bytes(self.data[:n])
        del self.data[:n]
        return out


def test_a_reader_that_fell_behind_skips_to_the_newest_data_and_says_how_much():
    many = variations(60, seed=7)
    port = FakePort(b"".join(many))
    stop = threading.Event()
    got = []
    for f in read_frames(port, FrameDecoder(), stop=stop, behind=20000, keep=4096):
        got.append(f)
        if f.raw == many[-1] or len(got) > 100:
            break
    skipped = [f for f in got if f.kind == "skipped"]
    assert len(skipped) == 1 and skipped[0].skipped == len(b"".join(many)) - 4096
    assert "fell behind" in skipped[0].reason
    ok = [f.raw for f in got if f.ok]
    assert ok and ok == many[-len(ok):], "after the skip only the newest telegrams, intact"
    assert all(f.ok or f.kind in ("skipped", "unknown") or f.problem == "truncated" for f in got)


def _tcp_feed(data_chunks, delay=0.05):
    """A one-shot TCP server (like ser2net) that sends the chunks once a reader connects."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        conn, _ = server.accept()
        time.sleep(0.5)  # pyserial discards what arrives while it opens the port
        for c in data_chunks:
            conn.sendall(c)
            time.sleep(delay)
        time.sleep(2)
        conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return "socket://127.0.0.1:%d" % server.getsockname()[1]


def test_run_console_json_keeps_the_shape_and_adds_kind():
    chunks = [TELEGRAMS[0][:100], TELEGRAMS[0][100:] + b"\xff\xfe" + TELEGRAMS[1], TELEGRAMS[2][:-9]
              + b"X" + TELEGRAMS[2][-8:], encrypted_frame(TELEGRAMS[3], TITLE, 9, EK, AK)]
    url = _tcp_feed(chunks)
    out = io.StringIO()
    bad = run_console(url, as_json=True, count=4, out=out, timeout=10, keys=KEYS)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    kinds = [(d["kind"], d["ok"]) for d in lines]
    assert kinds == [("p1", True), ("unknown", None), ("p1", True), ("p1", False), ("p1-encrypted", True)]
    first = lines[0]
    assert first["crc_ok"] is True and first["1-3:0.2.8"] == "50" and "1-0:1.8.1" in first
    assert lines[3]["crc_ok"] is False and "1-0:1.8.1" not in lines[3]
    assert lines[4]["frame_counter"] == 9 and lines[4]["tag_ok"] is True and "1-0:1.7.0" in lines[4]
    assert bad == 1


def test_plain_lines_and_the_live_view_render():
    frames = decode_all(b"".join(variations(30, seed=8)) + b"\x01\x02" + TELEGRAMS[0][:-3] + b"0\r\n")
    stats = Stats()
    for f in frames:
        stats.add(f)
    lines = [frame_line(f) for f in frames]
    assert lines[0].startswith("2026-01-05T06:00:00Z") and "CRC ok" in lines[0]
    assert any(x.startswith("unknown 2 B: 01 02") for x in lines)
    assert "REJECTED: CRC mismatch" in lines[-1]
    from rich.console import Console

    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=False).print(LiveView(stats, "/dev/ttyUSB0"))
    text = buf.getvalue()
    last = stats.last.fields
    assert "%.3f kWh" % last["1-0:1.8.1"] in text and "import" in text and "export" in text
    assert "telegrams ok 30" in text and "errors 1" in text and "unknown 2 B" in text
    assert "net power (import - export), last 5 min" in text and "CRC mismatch" in text
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")


def test_sparkline_scales_between_min_and_max():
    hist = [(float(t), float(t % 10)) for t in range(100)]
    line, lo, hi = sparkline(hist, 10, 100.0, end=100.0)
    assert (lo, hi) == (4.5, 4.5) and line == "▄" * 10
    line, lo, hi = sparkline([(0.0, 0.0), (50.0, 1.0), (99.0, 2.0)], 3, 100.0)
    assert line == "▁▅█" and (lo, hi) == (0.0, 2.0)
    assert sparkline([], 5, 60.0)[0] == ""


def _tcp_sessions(sessions):
    """A TCP server that serves one list of chunks per connection, closing after each."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        for chunks in sessions:
            conn, _ = server.accept()
            time.sleep(0.5)
            for c in chunks:
                conn.sendall(c)
            time.sleep(0.3)
            conn.close()
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return "socket://127.0.0.1:%d" % server.getsockname()[1]


def test_a_source_that_closes_is_a_clean_end_and_nothing_is_lost():
    url = _tcp_sessions([[TELEGRAMS[0], TELEGRAMS[1]]])
    out, err = io.StringIO(), io.StringIO()
    bad = run_console(url, as_json=True, out=out, err=err, timeout=20)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(d["kind"], d["ok"]) for d in lines] == [("p1", True), ("p1", True)]
    assert bad == 0
    assert err.getvalue().count("\n") == 1 and "end of stream" in err.getvalue()
    # a telegram cut by the close is reported as what it is, not dropped in silence
    url = _tcp_sessions([[TELEGRAMS[2], TELEGRAMS[3][:200]]])
    out, err = io.StringIO(), io.StringIO()
    run_console(url, as_json=True, out=out, err=err, timeout=20)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines[0]["ok"] is True and lines[-1]["ok"] is not True and len(lines) == 2


def test_reconnect_goes_on_after_the_source_closes():
    url = _tcp_sessions([[TELEGRAMS[0]], [TELEGRAMS[1]]])
    out, err = io.StringIO(), io.StringIO()
    run_console(url, as_json=True, out=out, err=err, timeout=20, count=2, reconnect=True)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(d["kind"], d["ok"]) for d in lines] == [("p1", True), ("p1", True)]
    assert "reconnecting" in err.getvalue()


def test_ids_stay_text_and_mbus_times_are_iso():
    t = make_telegram("MKS5MK-NG-1", [
        "1-3:0.2.8(50)", "0-0:1.0.0(170102161005W)",
        "0-0:96.1.1(4819243993373755377509728609491464)",
        "0-1:24.1.0(003)", "0-1:96.1.0(09610)",
        "0-1:24.2.1(170102160005W)(00001.001*m3)"])
    f = FrameDecoder().feed(t)[0]
    assert f.ok, f.error
    d = json.loads(json.dumps(f.as_json()))
    assert d["0-0:96.1.1"] == "4819243993373755377509728609491464"
    assert d["0-1:96.1.0"] == "09610"
    assert d["0-1:24.2.1"] == ["2017-01-02T15:00:05Z", 1.001]
    assert d["0-0:1.0.0"] == "2017-01-02T15:10:05Z"
