"""Read a meter's flash image on the host: the "read the flash of a board" tool.

The image is a LittleFS v2 file system (4 KiB blocks) exactly as the firmware writes it. The
record layouts are the firmware's contract.layout, loaded from the firmware tree, so the host
never keeps a second copy of a format string (tests/host/test_layout_contract.py).
"""
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

from littlefs import LittleFS, LittleFSError

from meterkast import firmware_module
from meterkast.errors import CliError

L = firmware_module("contract.layout")
UNIX_2000 = L.EPOCH_UNIX
BLOCK_SIZE = 4096
STATUS_BITS = list(L.STATUS_NAMES)


def iso(meter_t):
    return datetime.fromtimestamp(meter_t + UNIX_2000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def decode_status(status):
    return [name for bit, name in STATUS_BITS if status & bit]


def open_image(path):
    path = Path(path)
    if path.is_dir():  # a state directory: the single board's flash, else the metering module's
        path = path / ("flash.img" if (path / "flash.img").exists() else "metering.img")
    try:
        data = bytearray(path.read_bytes())
    except OSError as exc:
        raise CliError("cannot read flash image %s: %s" % (path, exc.strerror))
    if len(data) % BLOCK_SIZE:
        raise CliError("%s is not a whole number of 4 KiB blocks" % path)
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=len(data) // BLOCK_SIZE, mount=False)
    fs.context.buffer = data
    try:
        fs.mount()
    except LittleFSError as exc:
        raise CliError("%s holds no readable LittleFS file system (%s)" % (path, exc))
    return fs


def _read(fs, name):
    try:
        with fs.open(name, "rb") as f:
            return f.read()
    except (LittleFSError, OSError, FileNotFoundError):
        return None


def read_registers(fs):
    """The newest valid register record, or None; plus the per-slot verdicts."""
    best = None
    slots = {}
    for name in L.REG_SLOTS:
        raw = _read(fs, "/" + name)
        if raw is None:
            slots[name] = "missing"
            continue
        if len(raw) != L.REG_SIZE or raw[:4] != L.REG_MAGIC:
            slots[name] = "damaged"
            continue
        if zlib.crc32(raw[:L.REG_BODY]) != struct.unpack_from("<I", raw, L.REG_BODY)[0]:
            slots[name] = "damaged"
            continue
        v = struct.unpack_from(L.REG_FMT, raw)
        slots[name] = "ok (seq %d)" % v[L.REG_SEQ]
        if best is None or v[L.REG_SEQ] > best[L.REG_SEQ]:
            best = v
    if best is None:
        return None, slots
    log = []
    for i in range(min(best[L.REG_LOG_N], L.REG_LOG_MAX)):
        end, dur = best[L.REG_LOG + 2 * i], best[L.REG_LOG + 1 + 2 * i]
        log.append({"end": iso(end), "duration_s": dur})
    wh = best[L.REG_WH:L.REG_WH + 4]
    rec = {
        "seq": best[L.REG_SEQ],
        "saved_at": iso(best[L.REG_T]),
        "registers": {
            "import_t1_wh": wh[0], "import_t2_wh": wh[1], "export_t1_wh": wh[2], "export_t2_wh": wh[3],
        },
        "residual_mws": list(best[L.REG_RESIDUAL:L.REG_RESIDUAL + 4]),
        "power_failures": best[L.REG_PF],
        "long_power_failures": best[L.REG_LONG_PF],
        "power_failure_log": log,
        "voltage_sags": list(best[L.REG_SAGS:L.REG_SAGS + 3]),
        "voltage_swells": list(best[L.REG_SWELLS:L.REG_SWELLS + 3]),
        "pending_status": best[L.REG_PENDING],
    }
    return rec, slots


def read_profile(fs, folder=L.PROFILE_DIR):
    """All quarter-hour entries, oldest first; damaged ones are listed as such. folder: "qh"
    (the metering module's profile) or "qhc" (the comms module's checked copy)."""
    try:
        names = sorted(n for n in fs.listdir("/" + folder) if n.endswith(".bin"))
    except (LittleFSError, FileNotFoundError):
        return []
    entries = []
    for name in names:
        raw = _read(fs, "/%s/%s" % (folder, name)) or b""
        for off in range(0, len(raw) - L.ENTRY_SIZE + 1, L.ENTRY_SIZE):
            chunk = raw[off : off + L.ENTRY_SIZE]
            if zlib.crc32(chunk[:L.ENTRY_BODY]) != struct.unpack_from("<I", chunk, L.ENTRY_BODY)[0]:
                entries.append({"damaged": True, "segment": name, "offset": off})
                continue
            t, status, i1, i2, e1, e2, seq = struct.unpack_from(L.ENTRY_FMT, chunk)
            entries.append({
                "time": iso(t), "status": status, "flags": decode_status(status),
                "import_t1_wh": i1, "import_t2_wh": i2, "export_t1_wh": e1, "export_t2_wh": e2,
                "seq": seq,
            })
        if len(raw) % L.ENTRY_SIZE:
            entries.append({"damaged": True, "segment": name,
                            "offset": len(raw) - len(raw) % L.ENTRY_SIZE,
                            "torn": True})
    return entries


def read_events(fs, name=L.EVENT_FILE):
    """The comms module's event logs (comms.events): the standard event log and the power-failure
    event log, oldest first, each record believed as the firmware believes it (crc, region,
    number); None when the meter keeps none."""
    raw = _read(fs, name)
    if raw is None:
        return None
    regions = ((L.EVENT_STATE, 0, L.EVENT_STATE_SLOTS),
               (L.EVENT_STANDARD, L.EVENT_STATE_SLOTS, L.EVENT_STANDARD_ENTRIES),
               (L.EVENT_POWER, L.EVENT_STATE_SLOTS + L.EVENT_STANDARD_ENTRIES,
                L.EVENT_POWER_ENTRIES))
    found = {}
    for region, base, count in regions:
        records = {}
        for slot in range(base, base + count):
            off = slot * L.EVENT_SIZE
            chunk = raw[off : off + L.EVENT_SIZE]
            if len(chunk) < L.EVENT_SIZE:
                break
            if zlib.crc32(chunk[:L.EVENT_BODY]) != struct.unpack_from("<I", chunk, L.EVENT_BODY)[0]:
                continue
            v = struct.unpack_from(L.EVENT_FMT, chunk)
            if v[2] == region and v[0] % count == slot - base:
                records[v[0]] = v
        newest = max(records) if records else -1
        found[region] = [records[n] for n in sorted(records) if n > newest - count]
    state = found[L.EVENT_STATE]
    return {
        "standard": [{"time": iso(v[1]), "code": v[3], "value": v[5]}
                     for v in found[L.EVENT_STANDARD]],
        "power_failures": [{"end": iso(v[1]), "duration_s": v[5]} for v in found[L.EVENT_POWER]],
        "power_failures_seen": [state[-1][5], state[-1][6]] if state else None,
    }


def dump(path):
    fs = open_image(path)
    rec, slots = read_registers(fs)
    out = {"register_slots": slots, "profile": read_profile(fs)}
    copy = read_profile(fs, L.PROFILE_COPY_DIR)
    if copy:
        out["comms_profile"] = copy
    events = read_events(fs)
    if events is not None:
        out["events"] = events
    if rec is not None:
        out.update(rec)
    else:
        out["registers"] = None
    try:
        out["files"] = sorted(fs.listdir("/"))
    except LittleFSError:
        out["files"] = []
    return out
