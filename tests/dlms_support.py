"""Test support for the P3 (DLMS/COSEM) channel: a firmware server on a paced line, and the
gurux-dlms client driven over pyserial (any pty path or socket:// URL)."""

import json
import os
import select
import subprocess
import time
from datetime import datetime, timedelta, timezone

import serial
from conftest import FIRMWARE, FW_TESTS, micropython_exe, run_micropython  # noqa: F401
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.secure import GXDLMSSecureClient
from meterkast.line.endpoints import TcpEndpoint, open_endpoint
from meterkast.line.paced import Line

SYSTEM_TITLE = bytes.fromhex("4d4b530000000001")  # "MKS" + serial
CLIENT_TITLE = bytes.fromhex("484553000000000a")  # "HES" ...
EK = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
AK = bytes.fromhex("d0d1d2d3d4d5d6d7d8d9dadbdcdddedf")
START = "2024-03-12T10:07:00Z"  # the harness clock; profile rows end at 10:00 UTC
UNIX_2000 = 946684800


def write_keys(path, ek=EK, ak=AK, client_title=CLIENT_TITLE, system_title=SYSTEM_TITLE,
               kek=None):
    doc = {
        "system_title": system_title.hex(),
        "p1": {"ek": "11" * 16, "ak": "22" * 16},
        "management": {"ek": ek.hex(), "ak": ak.hex(), "client_system_title": client_title.hex()},
    }
    if kek is not None:  # the master key: the head-end may rotate the keys
        doc["management"]["kek"] = kek.hex()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return path


class P3Harness:
    """The P3 bench server (firmware/hal/unix/p3bench/harness.py) on a pty; `url` is what a client opens (through a paced line).

    baudrate=None gives no line: the test talks to the pty master itself (`raw_write`).
    """

    def __init__(
        self,
        tmp_path,
        keys=True,
        rows=96,
        start=START,
        baudrate=115200,
        endpoint="pty",
        bad=(),
        capacity=960,
        inactivity=120,
        storage=None,
    ):
        self.tmp = tmp_path
        self.storage = storage or str(tmp_path / "storage")
        os.makedirs(self.storage, exist_ok=True)
        self.keys = write_keys(str(tmp_path / "keys.json")) if keys is True else keys
        self.args = [
            "--storage",
            self.storage,
            "--rows",
            str(rows),
            "--start",
            start,
            "--capacity",
            str(capacity),
            "--inactivity",
            str(inactivity),
        ]
        if self.keys:
            self.args += ["--keys", self.keys]
        if bad:
            self.args += ["--bad", ",".join(map(str, bad))]
        self.baudrate = baudrate
        self.endpoint_spec = endpoint
        self.proc = None
        self.line = None
        self.endpoint = None

    def start(self):
        self.master, self.slave = os.openpty()
        import tty

        tty.setraw(self.slave)
        env = dict(os.environ)
        env["MICROPYPATH"] = "%s:%s:.frozen" % (FIRMWARE, FW_TESTS)
        cmd = [micropython_exe(), "-m", "hal.unix.p3bench.harness", "--tty",
               os.ttyname(self.slave)]
        self.proc = subprocess.Popen(
            cmd + self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        line = self.proc.stdout.readline()
        if line.strip() != b"ready":
            raise RuntimeError("harness did not start: %r %r" % (line, self.proc.stderr.read()))
        if self.baudrate:
            if self.endpoint_spec == "tcp":  # an ephemeral port on loopback, like ser2net
                self.endpoint = TcpEndpoint("127.0.0.1", 0)
            else:
                self.endpoint = open_endpoint(self.endpoint_spec, self.baudrate, "p3")
            self.line = Line("p3", self.master, self.endpoint, self.baudrate)
            self.line.start()
        return self

    @property
    def url(self):
        ep = self.endpoint
        if hasattr(ep, "path"):
            return ep.path
        return "socket://%s:%d" % ep.address

    def command(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().decode().strip()

    def mem(self):
        reply = self.command("mem")
        assert reply.startswith("mem "), reply
        return int(reply.split()[1])

    def stats(self):
        reply = self.command("stats")
        return dict(kv.split("=") for kv in reply.split()[1:])

    def raw_write(self, data):
        os.write(self.master, data)

    def raw_read(self, timeout=1.0, until_idle=0.05):
        """Everything the firmware sends until it has been quiet for `until_idle` seconds."""
        out = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select(
                [self.master], [], [], until_idle if out else deadline - time.monotonic()
            )
            if not r:
                if out:
                    break
                continue
            out += os.read(self.master, 65536)
        return bytes(out)

    def stop(self):
        if self.line is not None:
            self.line.stop()
            self.line.join(2)
        if self.proc is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.endpoint is not None:
            self.endpoint.close()
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc else ""
        self.proc = None
        return err

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        err = self.stop()
        if exc[0] is None:
            assert "Traceback" not in err, err


# ---- gurux-dlms client over pyserial ---------------------------------------------------------


class GuruxError(Exception):
    pass


class GuruxSession:
    """Drives a GXDLMSClient over a pyserial URL, as the Gurux example reader does. wrapper:
    the IEC 62056-47 TCP wrapper, which has no link layer (no SNRM/UA, no DISC)."""

    def __init__(self, url, client, timeout=5.0, wrapper=False):
        self.client = client
        self.wrapper = wrapper
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.05)
        self.timeout = timeout
        self.bytes_out = 0
        self.bytes_in = 0

    def close(self):
        self.port.close()

    def _packet(self, data, reply):
        if data:
            self.port.write(data)
            self.bytes_out += len(data)
        rd = GXByteBuffer()
        deadline = time.monotonic() + self.timeout
        while not self.client.getData(rd, reply, None):
            chunk = self.port.read(max(1, self.port.in_waiting))
            if chunk:
                self.bytes_in += len(chunk)
                rd.set(chunk)
            elif time.monotonic() > deadline:
                raise GuruxError("no (complete) answer within %.1f s" % self.timeout)
        if reply.error:
            raise GuruxError("DLMS error %d" % reply.error)

    def request(self, frames):
        reply = GXReplyData()
        if not isinstance(frames, list):
            frames = [frames]
        for frame in frames:
            reply.clear()
            self._packet(frame, reply)
            for _ in range(10_000):
                if not reply.isMoreData():
                    break
                self._packet(self.client.receiverReady(reply), reply)
            else:
                raise GuruxError("the transfer does not end")
        return reply

    # the association sequence
    def open(self):
        c = self.client
        if not self.wrapper:
            reply = GXReplyData()
            self._packet(c.snrmRequest(), reply)
            c.parseUAResponse(reply.data)
        reply = self.request(c.aarqRequest())
        c.parseAareResponse(reply.data)
        if c.authentication > Authentication.LOW:
            reply = self.request(c.getApplicationAssociationRequest())
            c.parseApplicationAssociationResponse(reply.data)

    def read(self, obj, attr):
        reply = self.request(self.client.read(obj, attr))
        return self.client.updateValue(obj, attr, reply.value)

    def release(self):
        try:
            self.request(self.client.releaseRequest())
        finally:
            if not self.wrapper:
                reply = GXReplyData()
                self._packet(self.client.disconnectRequest(), reply)


def gurux_management(invocation_counter=1, ek=EK, ak=AK, title=CLIENT_TITLE, security=None,
                     interface=InterfaceType.HDLC):
    c = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, interface)
    c.ciphering.security = security if security is not None else Security.AUTHENTICATION_ENCRYPTION
    c.ciphering.systemTitle = title
    c.ciphering.blockCipherKey = ek
    c.ciphering.authenticationKey = ak
    c.ciphering.invocationCounter = invocation_counter
    return c


def emulator_session(emu, invocation_counter=1, management=True, ek=EK, ak=AK):
    """An open GuruxSession on a running Emulator's P3, over HDLC or the wrapper as it serves:
    the management client (HLS-GMAC) or, management=False, the public one."""
    wrapper = emu.p3_framing == "wrapper"
    kind = InterfaceType.WRAPPER if wrapper else InterfaceType.HDLC
    if management:
        c = gurux_management(invocation_counter, ek, ak, interface=kind)
    else:
        c = GXDLMSClient(True, 16, 1, Authentication.NONE, None, kind)
    s = GuruxSession(emu.port("p3"), c, wrapper=wrapper)
    try:
        s.open()
    except Exception:
        s.close()
        raise
    return s


def booted(emu):
    """Until the firmware that serves P3 (the single board, or the comms module) has booted."""
    assert emu.wait_event(lambda e: e.get("ev") == "boot" and e.get("module") != "metering", 30)


def gurux_public():
    return GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.HDLC)


def local_amsterdam(utc_dt):
    """A tz-aware datetime in Europe/Amsterdam wall time (the EU rule, as util.tz)."""
    from zoneinfo import ZoneInfo

    return utc_dt.astimezone(ZoneInfo("Europe/Amsterdam"))


def expected_rows(start=START, count=96, bad=()):
    """The harness profile rows as the firmware computes them, via MicroPython itself."""
    proc = run_micropython(FW_TESTS / "p3_rows.py", start, count)
    assert proc.returncode == 0, proc.stderr
    rows = []
    for i, line in enumerate(proc.stdout.decode().split()):
        if i in bad:
            continue
        t, st, a, b, c, d = map(int, line.split(","))
        rows.append(
            {
                "t": t,
                "status": st,
                "import_t1_wh": a,
                "import_t2_wh": b,
                "export_t1_wh": c,
                "export_t2_wh": d,
            }
        )
    return rows


def utc_datetime(meter_t):
    return datetime(2000, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=meter_t)
