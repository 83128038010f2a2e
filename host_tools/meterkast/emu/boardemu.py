"""A board emulator: the MicroPython unix port behaving like a board on a serial port.

It stands in for a Pico on /dev/ttyACM0 so that deployment is tested with the real tools
(`meterkast flash`, `mpremote`) on a machine without hardware:

* flash: a LittleFS v2 image file (4 KiB blocks, 1 MiB like a Pico's file system), mounted at
  "/" inside the emulated board, where a board's own file system is;
* console: the REPL on a pty, carried to a second pty whose path (`port`) mpremote opens; the
  pty is the process's controlling terminal, so Ctrl-C interrupts a running main.py as the USB
  console of a board does;
* power-on runs main.py from the flash (boardemu_mp/emu_start.py), then the REPL;
* reset (machine.reset() or Ctrl-D in the REPL) ends the process and the emulator powers the
  board on again from the same image, so `mpremote reset` behaves as on a board;
  `power_cycle()` pulls the plug instead (the process is killed) and powers on later;
* `machine` is emulated (boardemu_mp/emu_machine.py): UART ids wired to ptys (P1 reaches the
  outside at 115200 baud through meterkast.line.paced, like `meterkast run`), SPI with emulated
  ADE7953 chips measuring the seeded household (the board's real front-end code runs), RTC from
  the host clock, WDT, Pin levels;
* `network` is emulated (boardemu_mp/emu_network.py): a WLAN station that joins the emulated
  access point (`wifi={"ssid": ..., "key": ...}`) at once, on the host's loopback, with the unix
  port's real sockets, so P3 over TCP is served on 127.0.0.1; `wifi_down()` takes the access
  point away (the station drops and stays down until the firmware reconnects).

Which UART goes where is `_wire_uarts`: a single board's P1 and P3 go to the outside;
meterkast.emu.boardpair wires a metering board and a comms board to each other by the link.

mpremote must always be given `resume` for the emulator: its default soft reset (Ctrl-D in the
raw REPL) ends the unix port, where a board would stay in the raw REPL.
"""
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import termios
import threading
import time
from pathlib import Path

from meterkast import firmware_dir
from meterkast.emu.emulator import micropython_command, scenario_path
from meterkast.image.build import board_table
from meterkast.line.endpoints import PtyEndpoint
from meterkast.line.paced import Line

MP_DIR = Path(__file__).resolve().parent / "boardemu_mp"
BLOCK_SIZE = 4096
BLOCK_COUNT = 256
CONSOLE_BAUD = 10_000_000  # USB CDC: far faster than the UARTs
# The simulated world (the unix HAL's household, waveforms and ADE7953 models), copied under
# names of its own (see boardemu_mp/emu_world.py).
WORLD_MODULES = {"emu_household.py": "hal/unix/household.py",
                 "emu_signals.py": "hal/unix/signals.py",
                 "emu_metering_ic.py": "hal/unix/metering_ic.py"}


def blank_image(path, blocks=BLOCK_COUNT):
    """An erased flash chip: every byte 0xFF (the firmware formats it at first power-on)."""
    with open(path, "wb") as f:
        f.write(b"\xff" * (BLOCK_SIZE * blocks))


def _controlling_tty():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class BoardEmulator:
    def __init__(self, image=None, workdir=None, seed=1, scenario=None, heapsize=None,
                 console_link=None, p1=True, p3=True, wifi=None):
        self._tmp = None
        if workdir is None:
            self._tmp = tempfile.mkdtemp(prefix="meterkast-board-")
            workdir = self._tmp
        self.workdir = Path(workdir)
        self.image = Path(image) if image else self.workdir / "flash.img"
        self.seed = seed
        self.scenario = scenario_path(scenario)
        self.heapsize = heapsize
        self.console_link = console_link or str(self.workdir / "ttyBOARD")
        self.wire_p1 = p1
        self.wire_p3 = p3
        self.wifi = wifi  # the emulated access point: {"ssid": ..., "key": ...} (None: none)
        self.proc = None
        self.boots = 0
        self.console_log = bytearray()  # everything the board printed (for diagnostics)
        self._fds = []
        self._lines = []
        self._endpoints = {}
        self._masters = {}  # UART name -> the host's (pty master) end of the board's UART
        self._uart_slaves = []
        self._closing = False
        self._power_off = threading.Event()  # held off by power_cycle()
        self._supervisor = None

    # -- wiring ------------------------------------------------------------------------------
    def _uart(self, name, baudrate, endpoint=None, faults=None):
        """A board UART: a pty whose far end a paced Line joins to `endpoint` (default: a pty
        for the outside, like a USB-serial adapter on the pins). Returns the board's pty path."""
        master, slave = os.openpty()
        endpoint = endpoint or PtyEndpoint()
        line = Line(name, master, endpoint, baudrate, faults=faults)
        self._fds += [master, slave]
        self._masters[name] = master
        self._uart_slaves.append(slave)
        self._lines.append(line)
        self._endpoints[name] = endpoint
        return os.ttyname(slave)

    def _wire_uarts(self, uarts, board):
        """Fill hw.json's UART id -> pty path. A single board: P1 and P3 to the outside."""
        if self.wire_p1:
            uarts[str(board["p1"]["uart"])] = self._uart("p1", 115200)
        if self.wire_p3:
            uarts[str(board["p3"]["uart"])] = self._uart("p3", 115200)

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.image.exists():
            blank_image(self.image)
        fw = firmware_dir()
        for name, src in WORLD_MODULES.items():
            shutil.copyfile(fw / src, self.workdir / name)
        board = board_table().board("emu")
        hw = {"uart": {}, "seed": self.seed, "serial": self.seed, "pins": {},  # serial: unique_id
              "spi_cs": board["frontend"]["cs"]}
        if self.scenario:
            hw["scenario"] = json.loads(Path(self.scenario).read_text())
        self._wire_uarts(hw["uart"], board)
        if self.wifi:
            hw["wlan"] = {"ssid": self.wifi["ssid"], "key": self.wifi.get("key"),
                          "down": str(self._wifi_flag.resolve())}
            self.wifi_down(False)
        (self.workdir / "hw.json").write_text(json.dumps(hw))
        # The console: the board's side is the process's terminal; mpremote opens the link.
        self._console_master, self._console_slave = os.openpty()
        attrs = termios.tcgetattr(self._console_slave)
        attrs[3] = attrs[3] & ~(termios.ECHO | termios.ICANON) | termios.ISIG  # Ctrl-C -> SIGINT
        attrs[1] = attrs[1] & ~termios.OPOST
        termios.tcsetattr(self._console_slave, termios.TCSANOW, attrs)
        self._fds += [self._console_master, self._console_slave]
        console = ConsoleEndpoint(self.console_link)
        self._endpoints["console"] = console
        line = Line("console", self._console_master, console, CONSOLE_BAUD, taps=[self._tap])
        self._lines.append(line)
        for line in self._lines:
            line.start()
        self._power_on()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        return self

    def _tap(self, direction, data):
        if direction == "out":
            self.console_log += data
            del self.console_log[:-65536]

    def _power_on(self):
        cmd = [micropython_command()]
        if self.heapsize:
            cmd += ["-X", "heapsize=%s" % self.heapsize]
        cmd += ["-i", str(MP_DIR / "emu_start.py"), str(self.image.resolve()),
                str((self.workdir / "hw.json").resolve()), str(MP_DIR), str(self.workdir.resolve())]
        env = dict(os.environ)
        env.pop("MICROPYPATH", None)
        for slave in self._uart_slaves:  # a UART's receive FIFO is empty at power-on
            try:
                termios.tcflush(slave, termios.TCIFLUSH)
            except (OSError, termios.error):  # closing
                pass
        self.boots += 1
        self.proc = subprocess.Popen(cmd, stdin=self._console_slave, stdout=self._console_slave,
                                     stderr=self._console_slave, env=env, cwd=str(self.workdir),
                                     preexec_fn=_controlling_tty, close_fds=True)

    def _supervise(self):
        while not self._closing:
            proc = self.proc
            proc.wait()
            time.sleep(0.05)  # the reset pulse
            while self._power_off.is_set() and not self._closing:
                time.sleep(0.02)
            if self._closing:
                return
            self._power_on()

    # -- what a test or tool uses --------------------------------------------------------------
    @property
    def port(self):
        """The serial port to give mpremote / meterkast flash (always with `resume`)."""
        return self.console_link

    def uart_port(self, name):
        """The outside end of an emulated UART (p1, p3): a pty path, like a USB-serial adapter."""
        return self._endpoints[name].path

    @property
    def _wifi_flag(self):
        return self.workdir / "wifi-down"

    def wifi_down(self, down=True):
        """Take the emulated access point away (down) or bring it back."""
        if down:
            self._wifi_flag.write_text("")
        elif self._wifi_flag.exists():
            self._wifi_flag.unlink()

    def power_cycle(self, off_s=1.0):
        """Pull the plug and put it back `off_s` later: the board stops wherever it is (no
        shutdown, a flash write cut short), then powers on from its flash as after a reset."""
        self._power_off.set()
        try:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            time.sleep(off_s)
        finally:
            self._power_off.clear()

    def wait_boots(self, count, timeout=30.0):
        deadline = time.monotonic() + timeout
        while self.boots < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.boots >= count

    def console_text(self):
        return self.console_log.decode("utf-8", "replace")

    def close(self):
        self._closing = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for line in self._lines:
            line.stop()
        for line in self._lines:
            if line.is_alive():
                line.join(1)
        for ep in self._endpoints.values():
            ep.close()
        for fd in self._fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds = []
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


class ConsoleEndpoint(PtyEndpoint):
    """The host end of the USB console. Unlike a UART line, USB has flow control: nothing is
    dropped while mpremote reads slowly; the copy waits for the reader instead."""

    def write(self, data):
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master, view)
                view = view[n:]
            except BlockingIOError:
                select.select([], [self.master], [], 0.05)
            except OSError:
                return
