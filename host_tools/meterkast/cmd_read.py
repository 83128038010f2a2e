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
from datetime import date, datetime, timedelta, timezone

import serial

from meterkast.cli import CliError
from meterkast.dlms import axdr, localtime
from meterkast.dlms.client import CLIENT_IC, CLOCK, Association, AssociationRejected, DlmsError
from meterkast.dlms.hdlc import HdlcClient, HdlcError
from meterkast.dlms.security import CounterState, Keys, SecurityError
from meterkast.dlms.wrapper import WrapperClient, WrapperError
from meterkast.dlms.wrapper import parse_spec as wrapper_url

HELP = "read clock, registers and the quarter-hour profile over P3 (DLMS/COSEM, ciphered)"

PROFILE = bytes((1, 0, 99, 1, 0, 255))
REGISTERS = (
    ("import_t1_wh", bytes((1, 0, 1, 8, 1, 255))),
    ("import_t2_wh", bytes((1, 0, 1, 8, 2, 255))),
    ("export_t1_wh", bytes((1, 0, 2, 8, 1, 255))),
    ("export_t2_wh", bytes((1, 0, 2, 8, 2, 255))),
    ("import_w", bytes((1, 0, 1, 7, 0, 255))),
    ("export_w", bytes((1, 0, 2, 7, 0, 255))),
)
PROFILE_STATUS = bytes((0, 0, 96, 10, 1, 255))
ENERGY_COLUMNS = REGISTERS[:4]
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


def default_range(now=None):
    """The last complete local (Europe/Amsterdam) day before `now` (aware UTC): [start, end)."""
    today = localtime.to_local(now or datetime.now(timezone.utc)).date()
    start, _ = localtime.day_bounds(today - timedelta(days=1))
    end, _ = localtime.day_bounds(today)
    return start, end


def local_day_shift(t, days):
    """The instant `days` local calendar days after (or before) aware t, same wall time."""
    local = localtime.to_local(t).replace(tzinfo=None)
    return localtime.from_local(local + timedelta(days=days))


def complete_range(start, end, meter_now):
    """--from/--to as given, completed: neither -> the last complete local day of the meter's
    clock; --from alone -> one local day from it; --to alone -> one local day up to it."""
    if start is None and end is None:
        return default_range(meter_now)
    if end is None:
        end = local_day_shift(start, 1)
    if start is None:
        start = local_day_shift(end, -1)
    if end <= start:
        raise CliError("--to must be after --from")
    return start, end


def iso_utc(dt):
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def _scaled(value, scaler_unit):
    scaler = scaler_unit[0]
    if scaler >= 0:
        return value * 10**scaler
    return value / 10**-scaler


def open_link(port, client_sap, timeout, wrapper=False):
    """The transport under an association: HDLC, or the TCP wrapper when `wrapper`."""
    if wrapper:
        return WrapperClient(port, client_sap=client_sap, timeout=timeout)
    return HdlcClient(port, client_sap=client_sap, timeout=timeout)


def read_meter(port, keys, counters, start, end, timeout=5.0, progress=None, stats=None,
               wrapper=False):
    """Associate, read, release. Returns the result dict (the --json shape); `stats`, a dict,
    receives the bytes sent and received on the line. `wrapper`: the port carries the
    IEC 62056-47 wrapper instead of HDLC."""
    link = open_link(port, 1, timeout, wrapper)
    link.connect()
    try:
        a = Association.management(link, keys, counters)
        if progress:
            a.on_block = progress.block
        a.open()
        try:
            result = read_objects(a, start, end)
        finally:
            a.release()
    finally:
        link.disconnect()
        if stats is not None:
            stats["bytes_sent"] = link.bytes_sent
            stats["bytes_received"] = link.bytes_received
    if progress:
        progress.done(len(result["profile"]), max(1, a.blocks), link)
    return result


def read_objects(a, start, end):
    """Clock, registers and the profile for [start, end); an end left None is completed from
    the meter's clock just read (complete_range)."""
    clock_raw = a.get_value(8, CLOCK, 2)
    start, end = complete_range(start, end, axdr.date_time_to_utc(clock_raw))
    registers = {}
    for name, obis in REGISTERS:
        value = a.get_value(3, obis, 2)
        registers[name] = _scaled(value, a.get_value(3, obis, 3))
    columns = a.get_value(7, PROFILE, 3)
    index = {}
    for k, col in enumerate(columns):
        index[bytes(col[1])] = k
    restricting = axdr.capture_object(8, CLOCK)
    # the meter compares local wall-clock times, both ends inclusive: ask for [start, end - 1 s]
    params = axdr.range_descriptor(restricting, start, end - timedelta(seconds=1))
    buffer = a.get_value(7, PROFILE, 2, 1, params)
    rows = []
    for row in buffer:
        t = axdr.date_time_to_utc(row[index[CLOCK]])
        if not start <= t < end:
            continue
        entry = {"time": iso_utc(t), "status": row[index[PROFILE_STATUS]]}
        for name, obis in ENERGY_COLUMNS:
            entry[name] = row[index[obis]]
        rows.append(entry)
    rows.sort(key=lambda r: r["time"])
    return {
        "clock": axdr.date_time_local(clock_raw).isoformat(),
        "registers": registers,
        "profile": rows,
    }


def resync_counter(port, counters, timeout, wrapper=False):
    """Public association: read the last client counter the meter accepted."""
    link = open_link(port, 16, timeout, wrapper)
    link.connect()
    try:
        a = Association.public(link)
        a.open()
        try:
            last = a.get_value(1, CLIENT_IC, 2)
        finally:
            a.release()
    finally:
        link.disconnect()
    counters.skip_to(last + 1)


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
