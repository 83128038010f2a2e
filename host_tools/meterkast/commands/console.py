"""meterkast console: inspect a serial port (any pyserial URL or device) and show what is on it.

It finds plain P1 telegrams, encrypted P1 frames, HDLC frames, internal link frames (the
metering module to the comms module, docs/link.md) and unknown bytes by itself
(meterkast.wire.frames), verifies each one (CRC and strict syntax, GCM tag with --keys, HCS/FCS, the
link receiver's checks) and keeps counters. Three ways to show it: a live terminal view (the
default on a terminal), one line per frame (--plain), or one JSON object per frame (--json, for
scripts):

    {"1-0:1.8.1": {"value": 1234.567, "unit": "kWh"}, "0-0:96.1.1": "4B38...", ...,
     "crc_ok": true, "spec": "dsmr5", "kind": "p1", "ok": true, "length": 917}
    {..., "kind": "p1-encrypted", "ok": true, "system_title": "...", "frame_counter": 42,
     "tag_ok": true}
    {"crc_ok": false, "kind": "p1", "ok": false, "error": "CRC mismatch ...", "length": 917}
    {"kind": "hdlc", "ok": true, "dst": 16, "src": 1, "control": "I ns=0 nr=1 P/F", ...}
    {"type": "link_reading", "time": "2026-07-01T10:15:03+00:00", "mono": 3, ...,
     "import_t1_wh": 1234567, ..., "seq": 12, "kind": "link", "ok": true, "length": 126}
    {"type": "link_rejected", "frame_type": "reading", "kind": "link", "ok": false,
     "error": "FCS mismatch", "length": 126}
    {"kind": "unknown", "ok": null, "hex": "..."}  {"kind": "skipped", "bytes": 4096, ...}

Values carry their unit, in the units --units asks for (dsmr5: kW, kWh, m3 as DSMR 5 uses, the
default; si: W, Wh, J; native: as the meter sent them); ids and other text are strings, times ISO
8601 (meterkast.wire.p1_values). --flat gives the earlier form, values as sent without units
("1-0:1.8.1": 1234.567), for scripts written for it. "crc_ok" is null for a telegram sent
without a CRC (DSMR 2.2/3, Q3D): accepted on its syntax, never verified. "spec" names the
telegram specification (meterkast.wire.p1_spec) it was checked against: detected, or --spec.

A rejected telegram never carries OBIS values at the top level (with --show-bad they appear under
"unverified"), so a script that reads values cannot take a corrupted one by mistake.
"""
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
from meterkast.wire.frames import ENCRYPTED, HDLC, LINK, P1, FrameDecoder
from meterkast.wire.p1_spec import SPEC_NAMES
from meterkast.wire.p1_units import UNIT_SYSTEMS

HELP = ("inspect a serial port: P1 telegrams, encrypted P1, HDLC frames, internal link frames, "
        "verified, with counters")
_COUNTED = (P1, ENCRYPTED, HDLC, LINK)


def add_arguments(p):
    p.add_argument("url", help="device path, pty path, or pyserial URL (e.g. socket://127.0.0.1:2001)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per frame")
    out.add_argument("--plain", action="store_true", help="one line of text per frame")
    p.add_argument("--keys", metavar="FILE", help="keys file (JSON) to decrypt and verify encrypted frames")
    p.add_argument("--count", type=int,
                   help="stop after N frames (telegrams, HDLC frames or link frames)")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--framing", default="8N1", help="8N1 (DSMR 4/5, default) or 7E1 (DSMR 2.2/3)")
    p.add_argument("--timeout", type=float, help="give up after S seconds without a frame")
    p.add_argument("--show-bad", action="store_true",
                   help="with --json, include the values of rejected telegrams under 'unverified'")
    p.add_argument("--spec", choices=SPEC_NAMES,
                   help="check P1 telegrams against this specification instead of detecting it")
    p.add_argument("--units", choices=UNIT_SYSTEMS, default="dsmr5",
                   help="units of the values in --json: dsmr5 (kW, kWh, m3; default), si (W, Wh, "
                        "J) or native (as the meter sends them)")
    p.add_argument("--flat", action="store_true",
                   help="with --json, values as sent and without units (the earlier form)")
    p.add_argument("--lenient", action="store_true",
                   help="show a telegram with a value outside its specification's shape (the "
                        "value is left out and listed under 'out_of_shape') instead of rejecting it")
    p.add_argument("--reconnect", action="store_true",
                   help="when the source closes (a TCP reader, a USB adapter pulled), open it again "
                        "and go on instead of ending")
    p.add_argument("--behind", type=int, metavar="BYTES",
                   help="when more than BYTES wait unread, skip to the newest data "
                        "(default: 3 seconds of line)")


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


def main(args):
    keys = Keys.load(args.keys) if args.keys else None
    mode = "json" if args.json else "plain" if args.plain else None
    stats = Stats()
    try:
        bad = run_console(args.url, count=args.count, baud=args.baud, timeout=args.timeout,
                          keys=keys, mode=mode, framing=args.framing, show_bad=args.show_bad,
                          behind=args.behind, stats=stats, reconnect=args.reconnect,
                          spec=args.spec, units=args.units, flat=args.flat, lenient=args.lenient)
    except KeyboardInterrupt:
        bad = stats.errors
    if not args.json:
        print("counters: " + json.dumps(stats.as_json()), file=sys.stderr)
    return 1 if bad else 0
