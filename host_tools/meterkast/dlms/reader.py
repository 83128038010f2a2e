"""The head-end reader: what `meterkast read` does on the wire, as a library.

Associates as the management client (HLS-GMAC, security suite 0), reads the clock, the energy
and power registers and the quarter-hour profile for a time range, and releases; or, as the
public client, reads the last invocation counter the meter accepted. The transport is HDLC or
the IEC 62056-47 wrapper; everything above it is the same. Used by `meterkast read`, the
DLMS bench and the soak campaigns.
"""
from datetime import datetime, timedelta, timezone

from meterkast import firmware_module
from meterkast.dlms import axdr, localtime
from meterkast.dlms.client import CLIENT_IC, CLOCK, Association
from meterkast.dlms.hdlc import HdlcClient
from meterkast.dlms.wrapper import WrapperClient
from meterkast.errors import CliError

OBIS = firmware_module("contract.obis")  # the meter's own OBIS table
PROFILE = OBIS.ln(OBIS.PROFILE)
REGISTERS = (
    ("import_t1_wh", OBIS.ln(OBIS.IMPORT_T1)),
    ("import_t2_wh", OBIS.ln(OBIS.IMPORT_T2)),
    ("export_t1_wh", OBIS.ln(OBIS.EXPORT_T1)),
    ("export_t2_wh", OBIS.ln(OBIS.EXPORT_T2)),
    ("import_w", OBIS.ln(OBIS.IMPORT_W)),
    ("export_w", OBIS.ln(OBIS.EXPORT_W)),
)
PROFILE_STATUS = OBIS.ln(OBIS.PROFILE_STATUS)
ENERGY_COLUMNS = REGISTERS[:4]

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
