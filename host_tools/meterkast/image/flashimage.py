"""Read a meter's flash image on the host: the "read the flash of a board" tool.

The image is a LittleFS v2 file system (4 KiB blocks) exactly as the firmware writes it; the
record layouts are documented in firmware/metering/store.py and profile.py and decoded here
independently.
"""
import struct
import zlib
from datetime import datetime, timezone
from pathlib import Path

from littlefs import LittleFS, LittleFSError

from meterkast.errors import CliError

UNIX_2000 = 946684800
BLOCK_SIZE = 4096
_REG_FMT = "<4sIiIB3x4I4I3I20i3I3I"
_REG_SIZE = 172
_ENTRY_FMT = "<IB3xIIIII"
_ENTRY_SIZE = 32

STATUS_BITS = [
    (0x80, "power_down"),
    (0x20, "clock_adjusted"),
    (0x08, "daylight_saving"),
    (0x04, "data_not_valid"),
    (0x02, "clock_invalid"),
    (0x01, "critical_error"),
]


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
    for name in ("regs.a", "regs.b"):
        raw = _read(fs, "/" + name)
        if raw is None:
            slots[name] = "missing"
            continue
        if len(raw) != _REG_SIZE or raw[:4] != b"MKR1":
            slots[name] = "damaged"
            continue
        if zlib.crc32(raw[:168]) != struct.unpack_from("<I", raw, 168)[0]:
            slots[name] = "damaged"
            continue
        v = struct.unpack_from(_REG_FMT, raw)
        slots[name] = "ok (seq %d)" % v[1]
        if best is None or v[1] > best[1]:
            best = v
    if best is None:
        return None, slots
    log = []
    for i in range(best[15]):
        end, dur = best[16 + 2 * i], best[17 + 2 * i]
        log.append({"end": iso(end), "duration_s": dur})
    rec = {
        "seq": best[1],
        "saved_at": iso(best[2]),
        "registers": {
            "import_t1_wh": best[5], "import_t2_wh": best[6],
            "export_t1_wh": best[7], "export_t2_wh": best[8],
        },
        "residual_mws": list(best[9:13]),
        "power_failures": best[13],
        "long_power_failures": best[14],
        "power_failure_log": log,
        "voltage_sags": list(best[36:39]),
        "voltage_swells": list(best[39:42]),
        "pending_status": best[4],
    }
    return rec, slots


def read_profile(fs, folder="qh"):
    """All quarter-hour entries, oldest first; damaged ones are listed as such. folder: "qh"
    (the metering module's profile) or "qhc" (the comms module's checked copy)."""
    try:
        names = sorted(n for n in fs.listdir("/" + folder) if n.endswith(".bin"))
    except (LittleFSError, FileNotFoundError):
        return []
    entries = []
    for name in names:
        raw = _read(fs, "/%s/%s" % (folder, name)) or b""
        for off in range(0, len(raw) - _ENTRY_SIZE + 1, _ENTRY_SIZE):
            chunk = raw[off : off + _ENTRY_SIZE]
            if zlib.crc32(chunk[:28]) != struct.unpack_from("<I", chunk, 28)[0]:
                entries.append({"damaged": True, "segment": name, "offset": off})
                continue
            t, status, i1, i2, e1, e2, seq = struct.unpack_from(_ENTRY_FMT, chunk)
            entries.append({
                "time": iso(t), "status": status, "flags": decode_status(status),
                "import_t1_wh": i1, "import_t2_wh": i2, "export_t1_wh": e1, "export_t2_wh": e2,
                "seq": seq,
            })
        if len(raw) % _ENTRY_SIZE:
            entries.append({"damaged": True, "segment": name, "offset": len(raw) - len(raw) % _ENTRY_SIZE,
                            "torn": True})
    return entries


def dump(path):
    fs = open_image(path)
    rec, slots = read_registers(fs)
    out = {"register_slots": slots, "profile": read_profile(fs)}
    copy = read_profile(fs, "qhc")
    if copy:
        out["comms_profile"] = copy
    if rec is not None:
        out.update(rec)
    else:
        out["registers"] = None
    try:
        out["files"] = sorted(fs.listdir("/"))
    except LittleFSError:
        out["files"] = []
    return out
