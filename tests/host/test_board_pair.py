"""Two emulated boards joined by the internal link, flashed with the real `meterkast flash`.

meterkast.emu.boardpair.BoardPair: a metering board (`--module metering`: front-end, its own
flash, the link's TX) and a comms board (`--module comms`: the link's RX on P1's UART, P1, P3,
the keys), the link carried one-way by a paced host line at 115200 baud. What the meter shows at
its ports (encrypted P1, P3) must be what the metering board measures and keeps on its own flash,
through a link with bit errors, dropped bytes and breaks, and the comms board may lose power on
its own without the meter stopping or its registers going backwards.
"""
import json
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import serial
from meterkast.emu.boardpair import BoardPair
from meterkast.errors import CliError
from meterkast.image.flashimage import open_image, read_registers
from meterkast.keys.file import Keys, new_keys, write_keys
from meterkast.wire.frames import ENCRYPTED, LINK, FrameDecoder

SERIAL = 4243
REGISTERS = (("import_t1_wh", "1-0:1.8.1"), ("import_t2_wh", "1-0:1.8.2"),
             ("export_t1_wh", "1-0:2.8.1"), ("export_t2_wh", "1-0:2.8.2"))


def meterkast(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "meterkast.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def flash(board, *args):
    p = meterkast("flash", "--port", board.port, "--board", "emu", "--verify", *args)
    assert p.returncode == 0, "%s\n%s\nconsole:\n%s" % (p.stdout, p.stderr,
                                                        board.console_text()[-3000:])


class P1Listener(threading.Thread):
    """Reads the comms board's P1 port all along (a P1 reader stays plugged in) and keeps every
    telegram as (UTC timestamp, registers in Wh), decrypted and checked by the console's
    decoder."""

    def __init__(self, url, keys):
        super().__init__(daemon=True)
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
        self.decoder = FrameDecoder(keys=keys)
        self.telegrams = []
        self.bad = []
        self.system_titles = set()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.is_set():
            for f in self.decoder.feed(self.port.read(4096)):
                if f.kind != ENCRYPTED or not f.ok or f.telegram is None:
                    if self.telegrams:  # (a reader that opens the port mid-telegram sees its tail)
                        self.bad.append((f.kind, f.error, bytes(f.raw[:24]).hex(), len(f.raw)))
                    continue
                self.system_titles.add(f.system_title)
                fields = f.telegram.fields
                wh = tuple(round(fields[obis] * 1000) for _name, obis in REGISTERS)
                self.telegrams.append((fields["0-0:1.0.0"], wh))

    def wait(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.telegrams) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(self.telegrams) >= count

    def wait_rise(self, since, timeout):
        """Wait for a telegram whose registers (all four together) are above those of
        telegram `since` (at the flat scenario's 1.2 kW, one Wh every 3 s)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(self.telegrams[-1][1]) > sum(self.telegrams[since][1]):
                return True
            time.sleep(0.2)
        return False

    def close(self):
        self._halt.set()
        self.join(2)
        self.port.close()


def board_files(image):
    fs = open_image(image)
    out = {}
    for root, _dirs, names in fs.walk("/"):
        for name in names:
            path = (root.rstrip("/") + "/" + name).lstrip("/")
            with fs.open(path, "rb") as f:
                out[path] = f.read()
    return out


class BoardData:
    """A board's /data folder (hal.board.STORAGE: its registers, profile, counters) as the
    file system root that meterkast.image.flashimage reads on an emulator image."""

    def __init__(self, fs, folder="/data"):
        self.fs = fs
        self.folder = folder

    def open(self, path, mode="r"):
        return self.fs.open(self.folder + "/" + path.lstrip("/"), mode)


def stored_registers(image):
    """The metering board's newest register record, read from its flash as it runs (a copy
    taken in the middle of a write may not mount: None, try again)."""
    try:
        rec, _slots = read_registers(BoardData(open_image(image)))
    except CliError:
        return None
    return rec


def link_frames(url, seconds):
    """What the link monitor shows for a while, decoded by the firmware's own link receiver."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    decoder = FrameDecoder(link=True)
    frames = []
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            frames += decoder.feed(port.read(4096))
    finally:
        port.close()
    return frames


def test_metering_and_comms_boards_joined_by_the_link(tmp_path):
    keys = new_keys(SERIAL)
    keys_file = tmp_path / "keys.json"
    write_keys(str(keys_file), keys)
    # The link as a real one may be: bit errors, dropped bytes and a 1 s break every 20 s. The
    # boards' clocks are the host's, so the load is the flat scenario (1.2 kW, 20 Wh a minute):
    # the household's sun would make the registers' rise depend on the hour the test runs.
    with BoardPair(tmp_path / "pair", seed=3, scenario="flat", link_monitor="pty",
                   link_faults="ber=2e-5,drop=2e-5,break=1000@20,seed=5") as pair:
        flash(pair.metering, "--module", "metering", "--serial", str(SERIAL))
        flash(pair.comms, "--module", "comms", "--serial", str(SERIAL), "--keys", str(keys_file))

        # Keys only on the comms board: no file of the metering board holds any key.
        metering_files = board_files(pair.metering.image)
        assert json.loads(metering_files["meter.json"])["module"] == "metering"
        assert "keys.json" not in metering_files and "main.py" in metering_files
        secrets = [bytes.fromhex(v) for group in ("p1", "management")
                   for v in keys[group].values()]
        for path, data in metering_files.items():
            for secret in secrets:
                for form in (secret, secret.hex().encode(), secret.hex().upper().encode()):
                    assert form not in data, "key material in the metering board's %s" % path
        comms_files = board_files(pair.comms.image)
        assert json.loads(comms_files["meter.json"])["module"] == "comms"
        assert "keys.json" in comms_files

        p1 = P1Listener(pair.comms.uart_port("p1"), Keys.load(str(keys_file)))
        p1.start()
        try:
            _check_pair(pair, p1, keys, keys_file)
        finally:
            p1.close()


def _check_pair(pair, p1, keys, keys_file):
    assert p1.wait(5, 40), pair.comms.console_text()[-2000:]
    assert p1.system_titles == {bytes.fromhex(keys["system_title"])}
    # the link, as the comms board receives it: the metering board's frames, those the faults
    # damaged reported as such (the firmware's own receiver never takes a damaged one)
    seen = link_frames(pair.monitor.endpoint.path, 3)
    intact = [f for f in seen if f.kind == LINK and f.ok]
    assert intact and {"link_reading"} <= {f.link["type"] for f in intact}, \
        [(f.kind, f.error) for f in seen]

    # (b) meterkast read over the comms board's P3 UART (HDLC): its clock, and registers that
    # lie between the P1 telegrams around the read.
    before = p1.telegrams[-1][1]
    r = meterkast("read", pair.comms.uart_port("p3"), "--keys", str(keys_file), "--json",
                  timeout=120)
    assert r.returncode == 0, r.stderr + pair.comms.console_text()[-2000:]
    doc = json.loads(r.stdout)
    clock = datetime.fromisoformat(doc["clock"])
    assert abs(clock - datetime.now(timezone.utc)) < timedelta(minutes=1)
    read_wh = tuple(doc["registers"][name] for name, _obis in REGISTERS)
    n = len(p1.telegrams)
    assert p1.wait(n + 2, 10)
    after = p1.telegrams[n][1]
    assert all(b <= x <= a for b, x, a in zip(before, read_wh, after)), (before, read_wh, after)

    # (a) the metering board persists its registers every 60 meter seconds; the telegram of that
    # very second carries the same four registers (if the link lost that second's reading, the
    # next persist is taken), and the registers rise.
    deadline = time.monotonic() + 180
    stored = None
    while time.monotonic() < deadline:
        stored = stored_registers(pair.metering.image)
        if stored is not None and any(t == stored["saved_at"] for t, _ in p1.telegrams):
            break
        time.sleep(1)
    assert stored is not None, pair.metering.console_text()[-2000:]
    same_second = [wh for t, wh in p1.telegrams if t == stored["saved_at"]]
    assert same_second, (stored["saved_at"], p1.telegrams[0][0], p1.telegrams[-1][0])
    assert same_second[0] == tuple(stored["registers"][name] for name, _obis in REGISTERS)
    # the four registers together rise
    assert p1.wait_rise(0, 60), (p1.telegrams[0], p1.telegrams[-1])
    first, last = p1.telegrams[0], p1.telegrams[-1]
    print("P1: %d telegrams %s..%s, registers %s -> %s Wh; store at %s: %s" % (
        len(p1.telegrams), first[0], last[0], first[1], last[1], stored["saved_at"],
        stored["registers"]))

    # (c) the comms board alone loses power: the metering board runs on (same process, no
    # reboot, the link keeps carrying), P1 comes back, and no register ever goes backwards.
    metering_proc, metering_boots = pair.metering.proc, pair.metering.boots
    comms_boots = pair.comms.boots
    sent = pair.link.stats()["out_sent"]
    n = len(p1.telegrams)
    assert not p1.bad, p1.bad[:5]  # until now every frame on P1 was a verified telegram
    pair.comms.power_cycle(off_s=3)
    assert pair.comms.wait_boots(comms_boots + 1, 10)
    assert p1.wait(n + 5, 60), pair.comms.console_text()[-2000:]
    assert pair.metering.proc is metering_proc and metering_proc.poll() is None
    assert pair.metering.boots == metering_boots
    stats = pair.link.stats()
    assert stats["out_sent"] > sent + 3 * 150  # over 3 s off, ~160 B/s on the link
    assert stats.get("out_break_lost", 0) > 0, stats  # the faults were there all along
    assert p1.wait_rise(n - 1, 60), (p1.telegrams[n - 1], p1.telegrams[-1])
    telegrams = list(p1.telegrams)
    times = [t for t, _ in telegrams]
    assert times == sorted(times) and len(set(times)) == len(times)
    for (t0, a), (t1, b) in zip(telegrams, telegrams[1:]):
        assert all(x <= y for x, y in zip(a, b)), "registers went back: %s %s -> %s %s" % (
            t0, a, t1, b)
    print("comms power cycle: telegrams %s %s then %s %s; %d telegrams in all, %d not "
          "decoded (cut by the power cut)" % (telegrams[n - 1] + telegrams[n] + (
              len(telegrams), len(p1.bad))))
