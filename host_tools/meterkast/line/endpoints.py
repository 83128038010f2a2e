"""The outside ends of an emulated serial line: a pty, a TCP listener (like ser2net), a device.

`tcp-wrapper:HOST:PORT` is a TCP listener too, for P3 with the IEC 62056-47 wrapper framing
(DLMS over TCP, no HDLC; port 4059 is the usual one): the endpoint is the same, the firmware
frames differently (`--p3-framing wrapper`).

Every endpoint offers the same small surface to the line: `fds()` to select on, `read()` for
bytes that arrived from outside, `write(data)` for bytes to deliver (dropped when nobody is
there, as on a real line), `describe()` for the one-line address to print, and `close()`.
"""
import os
import socket
import termios
import time
import tty

from meterkast.errors import CliError

# A pty with no reader keeps at most this much unread: older bytes are discarded, so a reader
# that attaches late sees current data, as on a real line where unread bits are simply gone.
_PTY_BACKLOG = 2048


def parse_spec(spec, what="port"):
    """Validate a SPEC: 'pty', 'pty:LINK', 'tcp:HOST:PORT', 'tcp-wrapper:HOST:PORT', or a
    device path."""
    if spec == "pty":
        return ("pty", None)
    if spec.startswith("pty:"):
        link = spec[4:]
        if not link:
            raise CliError("%s SPEC 'pty:' needs a link path, e.g. pty:ttyP1" % what)
        return ("pty", link)
    if spec.startswith("tcp:"):
        host, sep, port = spec[4:].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise CliError("%s SPEC %r: expected tcp:HOST:PORT, e.g. tcp:127.0.0.1:2001" % (what, spec))
        return ("tcp", (host, int(port)))
    if spec.startswith("tcp-wrapper:"):
        host, sep, port = spec[12:].rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
            raise CliError("%s SPEC %r: expected tcp-wrapper:HOST:PORT, e.g. "
                           "tcp-wrapper:127.0.0.1:4059" % (what, spec))
        return ("tcp-wrapper", (host, int(port)))
    if spec.startswith("/dev/"):
        return ("device", spec)
    raise CliError(
        "%s SPEC %r not understood: use pty, pty:LINK, tcp:HOST:PORT, tcp-wrapper:HOST:PORT or a "
        "/dev/ path" % (what, spec)
    )


def open_endpoint(spec, baudrate=115200, what="port", framing="8N1"):
    kind, arg = parse_spec(spec, what)
    if kind == "pty":
        return PtyEndpoint(arg)
    if kind == "tcp":
        return TcpEndpoint(*arg)
    if kind == "tcp-wrapper":
        return TcpEndpoint(*arg, scheme="tcp-wrapper")
    return DeviceEndpoint(arg, baudrate, framing)


class PtyEndpoint:
    def __init__(self, link=None):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF translation: bytes pass unchanged
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)
        self.link = None
        if link:
            if os.path.islink(link):
                os.unlink(link)
            elif os.path.exists(link):
                raise CliError("pty link %s exists and is not a symlink" % link)
            os.symlink(self.path, link)
            self.link = link

    def describe(self):
        return "%s -> %s" % (self.link, self.path) if self.link else self.path

    def fds(self):
        return [self.master]

    def read(self):
        try:
            return os.read(self.master, 4096)
        except (BlockingIOError, OSError):
            return b""

    def pending(self):
        import fcntl
        import struct

        raw = fcntl.ioctl(self.slave, termios.TIOCINQ, b"\0\0\0\0")
        return struct.unpack("i", raw)[0]

    def write(self, data):
        backlog = self.pending()
        if backlog + len(data) > _PTY_BACKLOG:
            # Nobody is reading (or the reader fell behind): drop the oldest bytes ourselves.
            try:
                os.read(self.slave, backlog + len(data) - _PTY_BACKLOG)
            except OSError:
                pass
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass

    def close(self):
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link and os.path.islink(self.link):
            os.unlink(self.link)


class TcpEndpoint:
    """Listens like ser2net: one client at a time; a second one is turned away; reconnects work."""

    def __init__(self, host, port, scheme="tcp"):
        self.scheme = scheme  # "tcp" (the line's bytes, like ser2net) or "tcp-wrapper"
        self.listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.listener.bind((host, port))
        except OSError as exc:
            raise CliError("cannot listen on %s:%d: %s" % (host, port, exc.strerror))
        self.listener.listen(2)
        self.listener.setblocking(False)
        self.address = self.listener.getsockname()[:2]
        self.client = None
        self.connections = 0
        self.held = False  # a disconnect fault is on: connections are closed at once
        self.idle_s = None  # a client silent this long is dropped (None: kept for ever)
        self.idle_drops = 0
        self._last_rx = 0.0
        self.on_drop = None  # called when a client's connection ends, for whatever reason

    def describe(self):
        return "%s:%s:%d" % ((self.scheme,) + tuple(self.address))

    def has_client(self):
        return self.client is not None

    def hangup(self):
        """The meter hung up (no association in time): close the client, free the port."""
        self._drop_client()

    def drop_idle(self, now):
        """Called by the line now and then: drop a client that has been silent too long."""
        if self.client is not None and self.idle_s and now - self._last_rx > self.idle_s:
            self.idle_drops += 1
            self._drop_client()

    def hold(self, down):
        """Fault injection: drop the client now and turn new ones away until released."""
        self.held = down
        if down:
            self._drop_client()

    def fds(self):
        fds = [self.listener.fileno()]
        if self.client is not None:
            fds.append(self.client.fileno())
        return fds

    def read(self):
        try:
            conn, _ = self.listener.accept()
        except (BlockingIOError, OSError):
            conn = None
        if conn is not None:
            if self.client is not None and self._client_gone():
                self._drop_client()  # it closed just before the new one came: not in use
            if self.client is None and not self.held:
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.client = conn
                self.connections += 1
                self._last_rx = time.monotonic()
            else:
                conn.close()  # port in use
        if self.client is None:
            return b""
        try:
            data = self.client.recv(4096)
        except BlockingIOError:
            return b""
        except OSError:
            data = b""
        if not data:
            self._drop_client()
        else:
            self._last_rx = time.monotonic()
        return data

    def _client_gone(self):
        """The client has closed its end (its EOF is waiting to be read)."""
        try:
            return self.client.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def write(self, data):
        if self.client is None:
            return
        try:
            self.client.sendall(data)
        except (BlockingIOError, OSError):
            self._drop_client()

    def _drop_client(self):
        if self.client is not None:
            try:
                self.client.close()
            except OSError:
                pass
            self.client = None
            if self.on_drop is not None:
                self.on_drop()

    def close(self):
        self._drop_client()
        self.listener.close()


class DeviceEndpoint:
    def __init__(self, path, baudrate, framing="8N1"):
        import serial

        framing = str(framing).upper()
        try:
            self.port = serial.Serial(path, baudrate=baudrate, timeout=0,
                                      bytesize=int(framing[0]), parity=framing[1],
                                      stopbits=int(framing[2]))
        except serial.SerialException as exc:
            raise CliError("cannot open %s: %s" % (path, exc))
        self.path = path

    def describe(self):
        return self.path

    def fds(self):
        return [self.port.fileno()]

    def read(self):
        return self.port.read(4096)

    def write(self, data):
        self.port.write(data)

    def close(self):
        self.port.close()
