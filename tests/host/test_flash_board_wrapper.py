"""A networked comms board: `meterkast flash --p3 tcp-wrapper:PORT --wifi-ssid ... --wifi-key-file
...` to the board emulator (an emulated WLAN on the host's loopback, the unix port's real
sockets), then P3 read over TCP with the IEC 62056-47 wrapper as a head-end reads it:
`meterkast read tcp-wrapper:...` and gurux-dlms (InterfaceType.WRAPPER). One client at a time, a
dropped client frees the port and ends its association, the WiFi dropping and coming back, the
WiFi key never on the console; boards without a network are refused with one line."""
import json
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import dlms_support
import pytest
from dlms_support import GuruxSession, write_keys
from gurux_dlms.enums import InterfaceType
from gurux_dlms.objects import GXDLMSClock, GXDLMSRegister
from meterkast.emu.boardemu import BoardEmulator
from meterkast.errors import CliError
from meterkast.image.flash import config_for
from meterkast.image.flashimage import open_image

SSID = "meterkast-lab"
WIFI_KEY = "correct horse battery staple"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def meterkast(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "meterkast.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def wait_for(what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        time.sleep(0.1)
    return what()


def board_files(emu):
    fs = open_image(emu.image)
    out = {}
    for root, _dirs, names in fs.walk("/"):
        for name in names:
            path = (root.rstrip("/") + "/" + name).lstrip("/")
            with fs.open(path, "rb") as f:
                out[path] = f.read()
    return out


def refused(port):
    """The port takes no connection (nothing listens)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def closed_by_board(sock, timeout=5):
    """The board closed this connection (EOF) within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(64) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


_ic = iter(range(1, 10**6, 1000))


def management():
    return dlms_support.gurux_management(next(_ic) + 10**6, interface=InterfaceType.WRAPPER)


@pytest.fixture
def board(tmp_path):
    emu = BoardEmulator(workdir=tmp_path / "board", seed=5, p3=False,
                        wifi={"ssid": SSID, "key": WIFI_KEY}).start()
    try:
        yield emu
    finally:
        emu.close()


def test_networked_board_serves_p3_over_the_wrapper(board, tmp_path):
    keys = write_keys(str(tmp_path / "keys.json"))
    key_file = tmp_path / "wifi.key"
    key_file.write_text(WIFI_KEY + "\n")
    port = free_port()
    p = meterkast("flash", "--port", board.port, "--board", "emu", "--verify", "--serial", "4343",
                  "--keys", keys, "--p3", "tcp-wrapper:%d" % port, "--wifi-ssid", SSID,
                  "--wifi-key-file", str(key_file))
    assert p.returncode == 0, p.stdout + p.stderr + board.console_text()[-2000:]
    assert WIFI_KEY not in p.stdout + p.stderr
    listening = "P3 (wrapper) listening on tcp 127.0.0.1:%d" % port
    assert wait_for(lambda: listening in board.console_text(), 30), board.console_text()[-2000:]
    files = board_files(board)
    cfg = json.loads(files["meter.json"])
    assert cfg["p3"] == {"tcp": port, "framing": "wrapper"} and cfg["wifi"] == {"ssid": SSID}
    assert files["wifi.key"] == WIFI_KEY.encode()
    url = "tcp-wrapper:127.0.0.1:%d" % port

    # meterkast read, as a head-end: clock and registers over the wrapper
    r = meterkast("read", url, "--keys", keys, "--json", timeout=60)
    assert r.returncode == 0, r.stderr + board.console_text()[-2000:]
    doc = json.loads(r.stdout)
    assert set(doc["registers"]) >= {"import_t1_wh", "export_t1_wh", "import_w"}
    clock = datetime.fromisoformat(doc["clock"])
    assert abs(clock - datetime.now(timezone.utc)) < timedelta(minutes=2)

    # gurux-dlms over InterfaceType.WRAPPER; meanwhile a second client is turned away
    s = GuruxSession("socket://127.0.0.1:%d" % port, management(), wrapper=True)
    s.open()
    try:
        other = socket.create_connection(("127.0.0.1", port), timeout=2)
        assert closed_by_board(other), "a second client while one is served is closed"
        other.close()
        t = s.read(GXDLMSClock("0.0.1.0.0.255"), 2).value
        assert abs(t.astimezone(timezone.utc) - datetime.now(timezone.utc)) < timedelta(minutes=2)
        reg = GXDLMSRegister("1.0.1.8.1.255")
        s.read(reg, 3)
        assert reg.scaler == 1 and s.read(reg, 2) >= 0
    finally:
        s.close()  # no release: the client just goes away
    request = s.client.read(reg, 2)  # the next request of that association (a fresh counter)

    # The dropped connection ended its association: its next ciphered GET, sent on a new
    # connection (same client SAP), is not answered with data; the port is free at once.
    raw = socket.create_connection(("127.0.0.1", port), timeout=2)
    try:
        raw.sendall(request[0])
        raw.settimeout(3)
        try:
            answer = raw.recv(4096)
        except socket.timeout:
            answer = b""
        # a wrapper header and an APDU, if anything: never a (ciphered) GET response
        assert not answer or answer[8] not in (0xC4, 0xCC, 0xDB, 0xDD), answer.hex()
    finally:
        raw.close()
    s = GuruxSession("socket://127.0.0.1:%d" % port, management(), wrapper=True)
    s.open()
    try:
        assert s.read(GXDLMSRegister("1.0.1.8.1.255"), 2) >= 0
    finally:
        s.release()
        s.close()

    # The WiFi drops: the port goes (the listener is closed) and metering runs on; it comes
    # back: the board reconnects by itself and serves P3 again.
    board.wifi_down(True)
    assert wait_for(lambda: "network down" in board.console_text(), 10), board.console_text()[-1500:]
    assert wait_for(lambda: refused(port), 10), "the port closes while the network is down"
    board.wifi_down(False)
    assert wait_for(lambda: board.console_text().count("network up") >= 2, 20), \
        board.console_text()[-1500:]
    assert wait_for(lambda: board.console_text().count(listening) >= 2, 10)
    r = meterkast("read", url, "--keys", keys, "--json", timeout=60)
    assert r.returncode == 0, r.stderr + board.console_text()[-2000:]

    # The key never reached the console (not even as its hash) nor /meter.json
    import hashlib

    console = board.console_text()
    assert WIFI_KEY not in console and hashlib.sha256(WIFI_KEY.encode()).hexdigest() not in console
    assert WIFI_KEY.encode() not in files["meter.json"]
    running = console[console.index("running on emu"):]
    assert "Traceback" not in running, running[-2000:]  # the meter ran on throughout


def test_wrong_wifi_key_never_serves_and_is_not_printed(board, tmp_path):
    key_file = tmp_path / "wifi.key"
    key_file.write_text("not the key at all")
    port = free_port()
    p = meterkast("flash", "--port", board.port, "--board", "emu", "--serial", "4344",
                  "--p3", "tcp-wrapper:%d" % port, "--wifi-ssid", SSID,
                  "--wifi-key-file", str(key_file))
    assert p.returncode == 0, p.stdout + p.stderr
    assert wait_for(lambda: "running on emu" in board.console_text(), 30)
    time.sleep(2)
    assert refused(port) and "network up" not in board.console_text()
    assert "not the key at all" not in board.console_text() + p.stdout + p.stderr


def test_boards_without_a_network_are_refused_in_one_line(tmp_path):
    key_file = tmp_path / "wifi.key"
    key_file.write_text(WIFI_KEY)
    for args in (["--board", "rp2", "--p3", "tcp-wrapper:4059"],
                 ["--board", "rp2", "--wifi-ssid", SSID, "--wifi-key-file", str(key_file)],
                 ["--board", "emu", "--module", "metering", "--p3", "tcp-wrapper:4059"],
                 ["--board", "emu", "--p3", "tcp-wrapper:"]):
        p = meterkast("flash", "--port", str(tmp_path / "no-such-port"), "--serial", "1", *args,
                      timeout=60)
        lines = p.stderr.strip().splitlines()
        assert p.returncode != 0 and len(lines) == 1, (args, p.stderr)
        assert "mpremote" not in lines[0] and WIFI_KEY not in lines[0], lines[0]
    assert "no network" in meterkast("flash", "--port", "x", "--board", "rp2", "--p3",
                                     "tcp-wrapper:4059", timeout=60).stderr


def test_meter_json_for_a_networked_board():
    wrapper = {"tcp": 4059, "framing": "wrapper"}
    cfg = config_for({}, "esp32", None, 9, None, wrapper, SSID, WIFI_KEY)
    assert cfg == {"serial": 9, "p3": wrapper, "wifi": {"ssid": SSID}}
    assert WIFI_KEY not in json.dumps(cfg)
    # an update keeps the network; --p3 uart puts P3 back on the UART
    assert config_for(cfg, "esp32", None, None) == cfg
    assert "p3" not in config_for(cfg, "esp32", None, None, None, None, None, None, True)
    with pytest.raises(CliError, match="has no network"):
        config_for({"serial": 1, "board": "pico"}, "rp2", None, None, None, wrapper, SSID)
    with pytest.raises(CliError, match="needs --wifi-ssid"):
        config_for({}, "esp32", None, 9, None, wrapper)
    with pytest.raises(CliError, match="needs --wifi-ssid"):
        config_for({}, "esp32", None, 9, None, None, None, WIFI_KEY)
