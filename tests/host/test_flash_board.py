"""Flash to a board and read its P1 port: `meterkast flash` (real mpremote) end to end.

Without options the board is the board emulator (meterkast.emu.boardemu): the unix port with its
REPL on a pty, its flash a LittleFS image mounted at "/", `machine` emulated, and the board
HAL (hal.board) running the meter after the reset, as on hardware. With a board attached:

    pytest tests/host/test_flash_board.py --board-port /dev/ttyACM0 --board-p1 /dev/ttyUSB0

(--board-target esp32 for a DevKitC; --board-p1 is a USB-serial adapter on the P1 output,
wired as in docs/board.md).
"""
import json
import subprocess
import sys
import time

import pytest
import serial
from dsmr_parser import telegram_specifications
from dsmr_parser.parsers import TelegramParser
from helpers import parse_v5, read_raw_telegrams
from meterkast.emu.boardemu import BoardEmulator
from meterkast.image.flashimage import open_image
from meterkast.keys.file import new_keys, write_keys


class Board:
    def __init__(self, port, target, p1, emulator=None):
        self.port = port
        self.target = target
        self.p1 = p1
        self.emulator = emulator

    def flash(self, *args):
        cmd = [sys.executable, "-m", "meterkast.cli", "flash", "--port", self.port,
               "--board", self.target, "--verify", *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        console = self.emulator.console_text()[-3000:] if self.emulator else ""
        assert p.returncode == 0, "%s\n%s\nconsole:\n%s" % (p.stdout, p.stderr, console)
        return p.stdout

    def files(self):
        """The flash as the host sees it, read from the image with littlefs-python."""
        fs = open_image(self.emulator.image)
        out = {}
        for root, _dirs, names in fs.walk("/"):
            for name in names:
                path = (root.rstrip("/") + "/" + name).lstrip("/")
                with fs.open(path, "rb") as f:
                    out[path] = f.read()
        return out


@pytest.fixture
def board(request, tmp_path):
    port = request.config.getoption("--board-port", None)
    if port:
        p1 = request.config.getoption("--board-p1", None)
        if not p1:
            raise pytest.UsageError("--board-port needs --board-p1 (the serial port on the board's P1 output)")
        yield Board(port, request.config.getoption("--board-target", "rp2"), p1)
        return
    emu = BoardEmulator(workdir=tmp_path / "board", seed=3).start()
    try:
        yield Board(emu.port, "emu", emu.uart_port("p1"), emu)
    finally:
        emu.close()


def equipment_id(serial_number):
    return ("MKS%013d" % serial_number).encode().hex().upper()


def encrypted_frames(url, count, timeout):
    """DB 08 <system title> 82 <len> ... frames (E-Meter P1 layout) from the P1 port."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
    data = bytearray()
    frames = []
    deadline = time.monotonic() + timeout
    try:
        while len(frames) < count and time.monotonic() < deadline:
            data += port.read(4096)
            i = data.find(b"\xdb\x08")
            while i >= 0 and i + 13 <= len(data):
                end = i + 13 + int.from_bytes(data[i + 11 : i + 13], "big")
                if data[i + 10] != 0x82:
                    i = data.find(b"\xdb\x08", i + 1)
                    continue
                if end > len(data):
                    break
                frames.append(bytes(data[i:end]))
                del data[:end]
                i = data.find(b"\xdb\x08")
    finally:
        port.close()
    return frames


def test_flash_then_update_with_keys(board, tmp_path):
    # First flash: a blank board gets the firmware and its identity; after the reset the meter
    # runs from flash and P1 carries valid DSMR 5 telegrams (CRC checked by dsmr_parser).
    out = board.flash("--serial", "4242")
    assert "verify:" in out and "files match" in out
    raw = read_raw_telegrams(board.p1, 2, timeout=30)
    assert len(raw) == 2, board.emulator.console_text()[-2000:] if board.emulator else raw
    telegrams = [parse_v5(x) for x in raw]
    assert telegrams[0].EQUIPMENT_IDENTIFIER.value == equipment_id(4242)
    assert telegrams[1].P1_MESSAGE_TIMESTAMP.value > telegrams[0].P1_MESSAGE_TIMESTAMP.value
    if board.emulator:
        files = board.files()
        assert json.loads(files["meter.json"]) == {"board": "emu", "serial": 4242, "module": "single"}
        assert "main.py" in files and "hold" not in files and "keys.json" not in files
        assert not [p for p in files if p.startswith("hal/unix")], "unix-only modules left out"
        assert all(p.endswith(".mpy") for p in files if p.endswith("py") and p != "main.py")
        assert any(p.startswith("data/") for p in files), "the meter keeps its registers in /data"
        boots = board.emulator.boots

    # Update: the running meter is interrupted, the firmware replaced, keys written to the
    # comms keystore; the identity is kept. P1 is now encrypted with those keys.
    keys = new_keys(4242)
    keys_file = tmp_path / "keys.json"
    write_keys(str(keys_file), keys)
    board.flash("--keys", str(keys_file))
    frames = encrypted_frames(board.p1, 2, timeout=30)
    assert len(frames) == 2
    parser = TelegramParser(telegram_specifications.MSN)
    for frame in frames:
        assert frame[2:10].hex().upper() == keys["system_title"]
        t = parser.parse(frame.hex(), encryption_key=keys["p1"]["ek"], authentication_key=keys["p1"]["ak"])
        assert t.EQUIPMENT_IDENTIFIER.value == equipment_id(4242)
    if board.emulator:
        assert board.emulator.boots == boots + 1, "one reset per flash"
        files = board.files()
        on_board = json.loads(files["keys.json"])
        floor = on_board.pop("counter_floor")
        assert on_board == keys and floor == {"p1": 0, "management": 0}
        assert json.loads(files["meter.json"])["serial"] == 4242
        assert any(p.startswith("data/") for p in files)


def _wipe_data(image):
    """What a wiped flash looks like to the meter: /data (registers, counters) gone."""
    from littlefs import LittleFS
    from meterkast.image.flashimage import BLOCK_SIZE

    data = bytearray(image.read_bytes())
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=len(data) // BLOCK_SIZE, mount=False)
    fs.context.buffer = data
    fs.mount()
    for name in fs.listdir("/data"):
        fs.remove("/data/" + name)
    fs.unmount()
    image.write_bytes(bytes(fs.context.buffer))


def test_one_keys_file_one_board_and_a_wiped_board_counts_on(tmp_path):
    """Keys go on one board; a second board is refused unless told; a board whose flash was
    wiped, and a board the keys are moved to, count on above every frame counter used before."""
    keys = new_keys(77)
    keys_file = tmp_path / "keys.json"
    write_keys(str(keys_file), keys)
    a = BoardEmulator(workdir=tmp_path / "a", seed=3).start()
    b = BoardEmulator(workdir=tmp_path / "b", seed=4).start()
    try:
        board_a = Board(a.port, "emu", a.uart_port("p1"), a)
        board_b = Board(b.port, "emu", b.uart_port("p1"), b)
        board_a.flash("--serial", "77", "--keys", str(keys_file))
        seen = [int.from_bytes(f[14:18], "big") for f in encrypted_frames(board_a.p1, 3, 30)]
        assert len(seen) == 3
        p = subprocess.run([sys.executable, "-m", "meterkast.cli", "flash", "--port", b.port,
                            "--board", "emu", "--serial", "78", "--keys", str(keys_file)],
                           capture_output=True, text=True, timeout=300)
        lines = p.stderr.strip().splitlines()
        assert p.returncode != 0 and len(lines) == 1 and "--move-keys" in lines[0], p.stderr
        assert "keys.json" not in board_b.files()
        # board A's flash is wiped (its counters with it) and it is flashed again
        seen += [int.from_bytes(f[14:18], "big") for f in encrypted_frames(board_a.p1, 2, 30)]
        a.close()
        _wipe_data(a.image)
        a = BoardEmulator(workdir=tmp_path / "a", seed=3).start()
        board_a = Board(a.port, "emu", a.uart_port("p1"), a)
        board_a.flash("--serial", "77", "--keys", str(keys_file))
        after = [int.from_bytes(f[14:18], "big") for f in encrypted_frames(board_a.p1, 2, 30)]
        assert len(after) == 2 and min(after) > max(seen), (seen, after)
        seen += after + [int.from_bytes(f[14:18], "big") for f in encrypted_frames(board_a.p1, 2, 30)]
        a.close()
        # the keys move to board B, for good
        board_b.flash("--serial", "77", "--keys", str(keys_file), "--move-keys")
        moved = [int.from_bytes(f[14:18], "big") for f in encrypted_frames(board_b.p1, 2, 30)]
        assert len(moved) == 2 and min(moved) > max(seen), (seen, moved)
        assert len(set(seen + moved)) == len(seen + moved)
    finally:
        a.close()
        b.close()
