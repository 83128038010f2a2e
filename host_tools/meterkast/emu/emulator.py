"""Start and supervise one emulated meter: the MicroPython firmware plus its serial lines.

`meterkast run` is a thin CLI over `Emulator`; tests use the class directly.
"""
import os
import shutil
import subprocess
import tempfile
import threading
import tty
from pathlib import Path

from meterkast import firmware_dir, scenarios_dir
from meterkast.emu import runcheck
from meterkast.emu.processes import RX_LIMIT, FirmwareProcesses, micropython_command  # noqa: F401
from meterkast.errors import CliError
from meterkast.line.endpoints import open_endpoint, parse_spec
from meterkast.line.faults import FaultSpec
from meterkast.line.paced import Line, LineMonitor

SCENARIOS = scenarios_dir()
MODULES = ("two", "single")  # two MCUs joined by the internal link, or one board


def scenario_path(name):
    if name is None:
        return None
    p = Path(name)
    if p.suffix == ".json" and p.is_file():
        return p.resolve()
    candidate = SCENARIOS / (name + ".json")
    if candidate.is_file():
        return candidate
    known = sorted(x.stem for x in SCENARIOS.glob("*.json"))
    raise CliError("unknown scenario %r; known: %s (or a path to a .json file)" % (name, ", ".join(known)))


class _Diode:
    """The comms module's RX line as the far end of the link: bytes go in, nothing comes back
    (nothing is read from it: the comms module has no TX wired to the metering module)."""

    def __init__(self, fd):
        self.fd = fd
        os.set_blocking(fd, False)

    def describe(self):
        return "link RX"

    def fds(self):
        return []

    def read(self):
        return b""

    def write(self, data):
        try:
            os.write(self.fd, data)
        except OSError:  # the comms module is not reading: an overrun, bytes lost
            pass

    def close(self):
        pass


class Emulator(FirmwareProcesses):
    def __init__(self, p1="pty", p3=None, start=None, speed=1.0, seed=1, scenario=None,
                 state=None, keys=None, duration=None, report=True, serial=None,
                 baudrate=115200, on_event=None, extra_args=(), heapsize=None, p1_faults=None,
                 p3_faults=None, capture=None, firmware=None, frontend=None, plain_p1=False,
                 p3_inactivity=120, check_flash=True, modules="single", link_faults=None,
                 metering_main=None, link_monitor=None):
        # Every option is checked before anything is created or started (meterkast.emu.runcheck);
        # check_flash=False lets a test boot the firmware on a flash image that does not mount.
        runcheck.check_run(p1=p1, p3=p3, start=start, speed=speed, duration=duration,
                           scenario=scenario_path(scenario), capture=capture,
                           state=str(keys) + ".state" if state is None and keys else state,
                           check_flash=check_flash)
        if modules not in MODULES:
            raise CliError("--modules %r: one of %s" % (modules, ", ".join(MODULES)))
        if link_faults and modules != "two":
            raise CliError("--link-faults needs --modules two (a single board has no link line)")
        if link_monitor is not None and modules != "two":
            raise CliError("--link-monitor needs --modules two (a single board has no link line)")
        runcheck.check_port(link_monitor, "link-monitor")
        # An endpoint (SPEC) with a read-only copy of what the comms module receives on the link
        self.link_monitor = link_monitor
        self.monitor = None
        self.modules = modules
        # A metering module's main script other than the firmware's (tests: a hostile module)
        self.metering_main = Path(metering_main) if metering_main else None
        self.specs = {"p1": p1, "p3": p3}
        for name, spec in self.specs.items():
            if spec is not None:
                parse_spec(spec, name)
        # P3 over tcp-wrapper:HOST:PORT speaks the IEC 62056-47 wrapper, every other SPEC HDLC
        self.p3_framing = ("wrapper" if p3 is not None and parse_spec(p3, "p3")[0] == "tcp-wrapper"
                           else "hdlc")
        self.start_time = start
        self.speed = speed
        self.seed = seed
        self.scenario = scenario_path(scenario)
        # The firmware runs in its own directory: every path it gets must be absolute.
        self.keys = os.path.abspath(keys) if keys is not None else None
        self.duration = duration
        self.report = report
        self.serial = serial
        self.baudrate = baudrate
        self.on_event = on_event
        self.extra_args = list(extra_args)
        self.heapsize = heapsize  # MicroPython heap (e.g. "96K"): a board's RAM
        self.frontend = frontend  # direct | waveform | ic (hal.unix.frontends)
        self.firmware = Path(firmware) if firmware else firmware_dir()  # or a compiled tree
        # Line faults (meterkast.line.faults SPEC text) and a capture file (path or CaptureWriter)
        self.faults = {name: FaultSpec.parse(spec, "--%s-faults" % name)
                       for name, spec in (("p1", p1_faults), ("p3", p3_faults),
                                          ("link", link_faults))}
        self.capture = capture
        self._capture_writer = None
        self._tmp = None
        self.record = None  # the keys' counter record (meterkast.keys.ivguard)
        if keys is not None:
            from meterkast.keys.file import check_keys
            from meterkast.keys.ivguard import CounterRecord

            # a clear error now rather than a firmware traceback
            self.record = CounterRecord(self.keys, check_keys(self.keys, plain_p1))
            if state is None:
                # The frame counters that keep GCM IVs unique live on the meter's flash: a
                # meter with keys keeps its flash beside the keys file, never in a temp dir.
                state = str(keys) + ".state"
        if state is None:
            self._tmp = tempfile.mkdtemp(prefix="meterkast-")
            state = self._tmp
        self.state = os.path.abspath(str(state))
        self.p3_inactivity = p3_inactivity  # seconds without an association before a hang-up
        self.events = []
        self.endpoints = {}
        self.lines = {}
        self.proc = None  # the firmware process with the ports (single: the only one)
        self.procs = {}  # name -> process: "single", or "metering" and "comms"
        self.metering_kind = frontend or "direct"
        self._fw_fds = []
        self._ctl_master = None
        self._ctl = {}  # process name -> control pty master
        self._readers = []
        self._link_slave = None
        self._in_swap = False
        self._keys_lock = None  # an open fd on the keys file: only the comms module inherits it
        self._stderr = []
        self._locks = []

    # -- life cycle -------------------------------------------------------------------------
    def start(self):
        self._take_locks()
        if self.modules == "two":
            self._split_state()
        if self.capture is not None and self._capture_writer is None:
            from meterkast.line.capture import CaptureWriter

            self._capture_writer = (self.capture if hasattr(self.capture, "data")
                                    else CaptureWriter(self.capture))
        ports = []
        for name, spec in self.specs.items():
            if spec is None:
                continue
            endpoint = open_endpoint(spec, self.baudrate, name)
            master, slave = self._pty()
            self.endpoints[name] = endpoint
            self.lines[name] = Line(name, master, endpoint, self.baudrate,
                                    faults=self.faults[name], capture=self._capture_writer,
                                    rx_limit=RX_LIMIT, on_overflow=self._overflow)
            if name == "p3" and hasattr(endpoint, "idle_s"):
                endpoint.idle_s = self.p3_inactivity  # a silent TCP client frees the port
                # a client that leaves takes its association with it: the firmware hears of it
                endpoint.on_drop = self._p3_lost
            ports += ["--" + name, os.ttyname(slave)]
        if self.link_monitor is not None:
            self.endpoints["link"] = open_endpoint(self.link_monitor, self.baudrate,
                                                   "--link-monitor")
        if self.keys:
            self.record.open_session()
        if self.modules == "single":
            self.proc = self._spawn("single", self._metering_args() + self._comms_args() + ports)
        else:
            tx_master, tx_slave = self._pty()  # the metering module's TX line
            self._link_slave = tx_slave
            rx_master, rx_slave = self._pty()  # the comms module's RX line
            self.lines["link"] = Line("link", tx_master, _Diode(rx_master), self.baudrate,
                                      faults=self.faults["link"], capture=self._capture_writer)
            if "link" in self.endpoints:  # "out": metering -> comms, as delivered (after faults)
                self.monitor = LineMonitor("link", self.endpoints["link"], "out")
                self.lines["link"].taps.append(self.monitor.tap)
                self.monitor.start()
            self.proc = self._spawn("comms", ["--module", "comms", "--link", os.ttyname(rx_slave)]
                                    + self._comms_args() + ports)
            self.start_metering()
            threading.Thread(target=self._supervise, daemon=True).start()
        for line in self.lines.values():
            line.start()
        return self

    def start_metering(self, kind=None):
        """Two modules: start the metering MCU (again), fitted with a `kind` front-end; another
        kind than the first is another module, with its own flash image and serial number."""
        kind = kind or self.metering_kind
        self.metering_kind = kind
        slave = os.ttyname(self._link_slave)
        first = "metering" not in self.procs  # a module fitted later keeps the meter's time
        args = ["--module", "metering", "--link", slave] + self._metering_args(kind, first)
        if kind != (self.frontend or "direct"):
            args += ["--flash", "metering-%s.img" % kind]
        return self._spawn("metering", args, main=self.metering_main)

    def swap(self, kind, timeout=10.0):
        """Exchange the metering module of a running two-module meter for one with a `kind`
        front-end (orderly: the old module is stopped first, as an installer would)."""
        if self.modules != "two":
            raise CliError("swap needs --modules two: a single board has no module to exchange")
        if kind not in ("direct", "waveform", "ic"):
            raise CliError("swap %r: direct, waveform or ic" % kind)
        old = self.procs["metering"]
        self._in_swap = True
        try:
            self._tell("metering", "stop")
            try:
                old.wait(timeout)
            except subprocess.TimeoutExpired:
                old.kill()
                old.wait()
            self.start_metering(kind)
        finally:
            self._in_swap = False

    def _pty(self):
        master, slave = os.openpty()
        tty.setraw(slave)
        self._fw_fds += [master, slave]
        return master, slave

    def _split_state(self):
        """A state kept by a single board (flash.img) moves to two modules: each starts from a
        copy of it and uses its own part (registers and profile; counters and the copy)."""
        old = Path(self.state) / "flash.img"
        for name in ("metering.img", "comms.img"):
            new = Path(self.state) / name
            if old.exists() and not new.exists():
                shutil.copyfile(old, new)

    def _common_args(self, name):
        master, slave = self._pty()
        self._ctl[name] = master
        if name != "metering":
            self._ctl_master = master
        args = ["--ctl", os.ttyname(slave), "--state", self.state, "--seed", str(self.seed),
                "--speed", repr(float(self.speed))]
        if self.scenario:
            args += ["--scenario", str(self.scenario)]
        if self.serial is not None:
            args += ["--serial", str(self.serial)]
        if self.report:
            args += ["--report"]
        return args

    def _metering_args(self, kind=None, first=True):
        args = []
        if self.start_time and first:
            args += ["--start", self.start_time]
        if self.duration is not None:
            args += ["--duration", str(int(self.duration))]
        kind = kind or self.frontend
        if kind:
            args += ["--frontend", kind]
        return args

    def _comms_args(self):
        args = ["--p3-inactivity", str(int(self.p3_inactivity))]
        if self.p3_framing != "hdlc":
            args += ["--p3-framing", self.p3_framing]
        if self.keys:
            args += ["--keys", str(self.keys), "--ic-floor", self.record.floors_arg()]
        return args

    def _p3_lost(self):
        """The P3 TCP client left: tell the firmware that carries P3 (the comms module)."""
        fd = self._ctl_master  # the single firmware's, or the comms module's control line
        if fd is not None:
            try:
                os.write(fd, b"p3 lost\n")
            except OSError:
                pass

    def port(self, name):
        """What a client opens: a pty path or socket://host:port."""
        ep = self.endpoints[name]
        if hasattr(ep, "path"):
            return ep.path
        return "socket://%s:%d" % ep.address

    def describe(self, name):
        return self.endpoints[name].describe()

    def command(self, text):
        """A control command: to the one firmware, or to the module it concerns."""
        if self.modules == "single":
            os.write(self._ctl_master, text.encode() + b"\n")
            return
        word = text.split()[0] if text.split() else ""
        if word == "swap":
            kind = text.split()[1] if len(text.split()) > 1 else ""
            self.swap(kind)
            return
        for name in (("metering",) if word == "clock" else ("metering", "comms")):
            self._tell(name, text)

    def stop(self, timeout=10.0):
        """Orderly stop through the control line; returns the firmware's exit status."""
        if self.alive():
            try:
                if self.modules == "single":
                    self.command("stop")
                else:  # metering first: its last reading still reaches comms
                    self._tell("metering", "stop")
                    self.procs["metering"].wait(timeout)
                    self._link_settled()
                    self._tell("comms", "stop")
                self.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                for p in self.procs.values():
                    if p.poll() is None:
                        p.kill()
                        p.wait()
        self.close()
        return self.returncode()

    def close(self):
        for line in self.lines.values():
            line.stop()
        for line in self.lines.values():
            if line.is_alive():
                line.join(1)
        if self.monitor is not None:
            self.monitor.close()
            self.monitor = None
        for ep in self.endpoints.values():
            ep.close()
        if self._capture_writer is not None:
            self._capture_writer.close()
            self._capture_writer = None
        for fd in self._fw_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self._fw_fds = []
        if self._readers:
            for t in self._readers:
                t.join(2)
            if (self.record is not None and not any(t.is_alive() for t in self._readers)
                    and not self.alive()):
                self.record.close_session()
        self._release_locks()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _take_locks(self):
        """One meter per state and per keys file: refuse a second run on either (ivguard)."""
        from meterkast.keys.ivguard import lock_keys, lock_state

        if self._locks:
            return
        if self.keys:  # first: a refused run creates nothing, not even its state directory
            self._keys_lock = lock_keys(self.keys)
            self._locks.append(self._keys_lock)
        try:
            os.makedirs(self.state, exist_ok=True)
            self._locks.append(lock_state(self.state))
        except CliError:
            self._release_locks()
            raise

    def _release_locks(self):
        self._keys_lock = None
        for fd in self._locks:
            try:
                os.close(fd)
            except OSError:
                pass
        self._locks = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def readings(self):
        return [e for e in self.events if e.get("ev") == "r"]
