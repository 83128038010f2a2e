"""`meterkast read`: read a meter over P3 as the grid operator's head-end does once a day.

Associates as the management client (client SAP 1, HLS-GMAC, every APDU authenticated and
encrypted with security suite 0), reads the clock, the energy and power registers and the
quarter-hour profile for a time range, checks every tag and counter, and releases.

Invocation counter: the client's counter lives in `<keys>.ic` next to the keys file (see
meterkast.dlms.security.CounterState). If that file is missing, or the meter refuses the
association, the counter is resynchronised once from the meter: a public association reads
Data 0.0.43.1.1.255 (the last counter the meter accepted from us) and the next run starts above
it. Counters are never reused either way.

Transport: HDLC (IEC 62056-46) on a device path or a pyserial URL, or the IEC 62056-47 wrapper
(DLMS over TCP, DSMR P3) on `tcp-wrapper:HOST:PORT`; everything above it is the same.
"""

import csv
import json
import sys
import time
from datetime import date, datetime, timezone

import serial

from meterkast.dlms import localtime
from meterkast.dlms.client import AssociationRejected, DlmsError
from meterkast.dlms.hdlc import HdlcError
from meterkast.dlms.reader import (  # noqa: F401  (complete_range, default_range: tests)
    PROFILE,
    REGISTERS,
    complete_range,
    default_range,
    iso_utc,
    read_meter,
    resync_counter,
)
from meterkast.dlms.security import CounterState, Keys, SecurityError
from meterkast.dlms.wrapper import WrapperError
from meterkast.dlms.wrapper import parse_spec as wrapper_url
from meterkast.errors import CliError

HELP = "read clock, registers and the quarter-hour profile over P3 (DLMS/COSEM, ciphered)"

CSV_FIELDS = ("time", "status", "import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")


def add_arguments(p):
    p.add_argument(
        "url",
        help="the P3 port: a device path (/dev/pts/N, /dev/ttyUSB0) or any "
        "pyserial URL (socket://127.0.0.1:2001) for HDLC, or tcp-wrapper:HOST:PORT for "
        "DLMS over TCP with the IEC 62056-47 wrapper (e.g. tcp-wrapper:127.0.0.1:4059)",
    )
    p.add_argument("--keys", required=True, help="keys file (JSON; the 'management' set is used)")
    p.add_argument(
        "--from",
        dest="start",
        metavar="ISO8601",
        help="start of the profile range, inclusive (default: the last complete local day "
        "of the meter's own clock, read first). A date alone is that local day; a "
        "date-time without a zone is UTC",
    )
    p.add_argument(
        "--to",
        dest="end",
        metavar="ISO8601",
        help="end of the range, exclusive (default: one local day after --from); a "
        "date alone includes that whole local day",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write the profile rows as CSV ('-' = stdout)")
    out.add_argument("--json", action="store_true", help="print everything as one JSON object")
    p.add_argument("--baud", type=int, default=115200, help="line speed for serial devices")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each answer")


def parse_time(text, end=False):
    """ISO 8601 (or a bare date: that local day's start, or with end=True the next day's)."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return localtime.day_bounds(day)[1 if end else 0]
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CliError("not an ISO 8601 date or date-time: %r" % text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


class Progress:
    """Block progress on stderr for long reads: a live line on a terminal, a summary otherwise."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()

    def block(self, number, size):
        if self.tty:
            self.stream.write("\rprofile: block %d, %.1f kB" % (number, size / 1000))
            self.stream.flush()

    def done(self, rows, blocks, link):
        if self.tty:
            self.stream.write("\n")
        self.stream.write(
            "read %d profile rows in %.2f s (%d blocks; %d bytes sent, %d received)\n"
            % (rows, time.monotonic() - self.started, blocks, link.bytes_sent, link.bytes_received)
        )


def main(args):
    try:
        keys = Keys.load(args.keys)
    except (OSError, ValueError, KeyError) as exc:
        raise CliError("cannot use keys file %s: %s" % (args.keys, exc))
    start = parse_time(args.start) if args.start else None
    end = parse_time(args.end, end=True) if args.end else None
    if start is not None and end is not None and end <= start:
        raise CliError("--to must be after --from")
    try:
        counters = CounterState(args.keys + ".ic")
    except ValueError as exc:
        raise CliError(str(exc))
    try:
        url = wrapper_url(args.url)
    except ValueError as exc:
        counters.close()
        raise CliError("%s: %s" % (args.url, exc))
    wrapper = url is not None
    try:
        port = serial.serial_for_url(url or args.url, baudrate=args.baud, timeout=0.05)
    except (serial.SerialException, ValueError) as exc:
        counters.close()
        raise CliError("cannot open %s: %s" % (args.url, exc))
    progress = Progress()
    try:
        try:
            if not counters.existed:
                resync_counter(port, counters, args.timeout, wrapper)
            try:
                result = read_meter(port, keys, counters, start, end, args.timeout, progress,
                                    wrapper=wrapper)
            except AssociationRejected:
                # perhaps our counter fell behind (state file restored from a backup): resync once
                resync_counter(port, counters, args.timeout, wrapper)
                result = read_meter(port, keys, counters, start, end, args.timeout, progress,
                                    wrapper=wrapper)
        finally:
            counters.close()
    except (HdlcError, WrapperError, DlmsError, SecurityError, serial.SerialException) as exc:
        raise CliError("%s: %s" % (args.url, exc))
    finally:
        port.close()
    write_result(result, args)
    return 0


def write_result(result, args):
    if args.json:
        json.dump(result, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    if args.csv:
        f = sys.stdout if args.csv == "-" else open(args.csv, "w", newline="")
        try:
            w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
            w.writeheader()
            w.writerows(result["profile"])
        finally:
            if f is not sys.stdout:
                f.close()
        if args.csv == "-":
            return
    print("clock      %s" % result["clock"])
    for name, value in result["registers"].items():
        print("%-12s %s" % (name, value))
    rows = result["profile"]
    print(
        "profile    %d rows%s"
        % (len(rows), (" (%s .. %s)" % (rows[0]["time"], rows[-1]["time"])) if rows else "")
    )
