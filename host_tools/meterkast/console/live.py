"""Reading a port for the console: open a serial device, pty or TCP source, pull frames off
it through the wire decoder (keeping up, reporting what it had to skip), and run the live view,
log or JSON output until a count, a timeout or the source's end."""
import fcntl
import json
import struct
import sys
import termios
import time

import serial

from meterkast.console.view import LiveView, Stats, frame_line
from meterkast.errors import CliError
from meterkast.keys.file import Keys
from meterkast.wire.frames import ENCRYPTED, HDLC, LINK, MBUS, P1, FrameDecoder

_COUNTED = (P1, ENCRYPTED, HDLC, LINK, MBUS)  # what a --count counts


def open_port(url, baud, framing="8N1"):
    framing = framing.upper()
    if len(framing) != 3 or framing[0] not in "5678" or framing[1] not in "NEO" or framing[2] not in "12":
        raise CliError("framing %r: expected e.g. 8N1 or 7E1" % framing)
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.1, bytesize=int(framing[0]),
                                     parity=framing[1], stopbits=int(framing[2]))
    except (serial.SerialException, ValueError) as exc:
        raise CliError("cannot open %s: %s" % (url, exc))



def waiting(port):
    """Bytes readable now. pyserial's socket:// says only 0 or 1, so ask the kernel directly."""
    try:
        raw = fcntl.ioctl(port.fileno(), termios.FIONREAD, b"\0\0\0\0")
        return struct.unpack("i", raw)[0]
    except (AttributeError, OSError, ValueError, TypeError, NotImplementedError):
        try:
            return port.in_waiting
        except (AttributeError, OSError):
            return 0



class SourceClosed(Exception):
    """The source went away (a TCP peer closed, a device was pulled): the end of the stream."""



def frames(port, decoder, count=None, timeout=None, stop=None, behind=34560, keep=4096):
    """Yield Frames from an open port. When the consumer falls more than `behind` bytes behind
    the line, the backlog is dropped down to the newest `keep` bytes and a 'skipped' frame says
    how many went."""
    seen = 0
    last = time.monotonic()
    while stop is None or not stop.is_set():
        try:
            n = waiting(port)
            if behind and n > behind:
                drop = n - keep
                while drop > 0:
                    got = port.read(min(drop, 65536))
                    if not got:
                        break
                    drop -= len(got)
                yield decoder.resync(n - keep - max(drop, 0), "reader fell behind the line")
                n = waiting(port)
            data = port.read(max(1, min(n, 65536)))
        except (serial.SerialException, OSError) as exc:
            if stop is not None and stop.is_set():
                return  # the port went away because we are shutting down
            for f in decoder.flush(final=True):  # what arrived before the end is still shown
                yield f
            raise SourceClosed(str(exc) or exc.__class__.__name__)
        if data:
            for f in decoder.feed(data):
                yield f
                if f.kind in _COUNTED:
                    seen += 1
                    last = time.monotonic()
                    if count is not None and seen >= count:
                        return
        else:
            for f in decoder.flush():
                yield f
            if timeout is not None and time.monotonic() - last > timeout:
                raise CliError("no frame for %.0f s" % timeout)



def stream(port, count=None, timeout=None, stop=None):
    """Yield decoded plain P1 telegrams (meterkast.wire.p1.Telegram) from an open port."""
    for f in frames(port, FrameDecoder(), count, timeout, stop):
        if f.telegram is not None:
            yield f.telegram



def run_console(url, as_json=False, count=None, baud=115200, timeout=None, stop=None, out=None,
                keys=None, mode=None, framing="8N1", show_bad=False, behind=None, stats=None,
                reconnect=False, err=None, spec=None, units="dsmr5", flat=False, lenient=False):
    """Read `url` until count/timeout/stop, or until the source closes (with `reconnect`: open
    it again, once a second, and go on); returns the number of rejected frames.

    keys: a Keys object or the path of a keys file. mode: 'json', 'plain' or 'live'; by default
    json when as_json, live when writing to a terminal, plain otherwise. spec, units, flat and
    lenient: as the options of the same names.
    """
    out = out or sys.stdout
    if isinstance(keys, str):
        keys = Keys.load(keys)
    if mode is None:
        if as_json:
            mode = "json"
        elif out is sys.stdout and out.isatty():
            mode = "live"
        else:
            mode = "plain"
    if behind is None:
        behind = 3 * baud // 10
    err = err or sys.stderr
    port = open_port(url, baud, framing)
    decoder = FrameDecoder(keys, link=True, spec=spec, lenient=lenient)
    json_units = None if flat else units
    stats = stats if stats is not None else Stats()
    live = None
    if mode == "live":
        from rich.console import Console
        from rich.live import Live

        live = Live(LiveView(stats, url, framing, baud), console=Console(file=out),
                    refresh_per_second=4, transient=False)
        live.start()
    seen = 0  # frames counted towards `count`, across reconnects
    try:
        while True:
            try:
                left = None if count is None else count - seen
                for f in frames(port, decoder, left, timeout, stop, behind):
                    stats.add(f)
                    seen += f.kind in _COUNTED
                    if mode == "json":
                        out.write(json.dumps(f.as_json(show_bad, json_units)) + "\n")
                        out.flush()
                    elif mode == "plain":
                        out.write(frame_line(f) + "\n")
                        out.flush()
                break
            except SourceClosed as exc:
                port.close()
                if not reconnect:
                    err.write("meterkast console: %s closed (%s): end of stream\n" % (url, exc))
                    break
                err.write("meterkast console: %s closed (%s): reconnecting\n" % (url, exc))
                port = _reopen(url, baud, framing, stop)
                if port is None:
                    break
    finally:
        port.close()
        if live is not None:
            live.stop()
        if decoder.link_counters() is not None:  # also what came after the last link frame
            stats.link_counters = decoder.link_counters()
    return stats.errors



def _reopen(url, baud, framing, stop):
    """The source again, tried once a second until it opens (None if stopped meanwhile)."""
    while stop is None or not stop.is_set():
        try:
            return open_port(url, baud, framing)
        except CliError:
            time.sleep(1.0)
    return None

