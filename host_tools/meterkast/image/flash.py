"""Deploying a built image to a board over mpremote: the board's config and keys, the
counter floor that keeps GCM IVs unique across boards and wipes, verification by hash."""
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meterkast.errors import CliError
from meterkast.image import netconfig
from meterkast.image.build import board_table, build, read_manifest

HOLD = "hold"



CONFIG = "meter.json"



KEYS = "keys.json"



_MARK = "@@meterkast@@"



class Mpremote:
    def __init__(self, port, timeout=120):
        self.port = port
        self.timeout = timeout

    def run(self, *args, cwd=None, check=True):
        cmd = [sys.executable, "-m", "mpremote", "connect", self.port, "resume", *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CliError("mpremote timed out on %s" % self.port)
        if check and proc.returncode != 0:
            err = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise CliError("mpremote on %s failed: %s" % (self.port, err[-1] if err else "exit %d" % proc.returncode))
        return proc

    def exec_lines(self, script):
        """Run a script on the device; the lines it printed after the marker."""
        out = self.run("exec", "print(%r)\n%s" % (_MARK, script)).stdout
        if _MARK not in out:
            raise CliError("no answer from the device on %s" % self.port)
        return out.split(_MARK, 1)[1].strip().splitlines()

    def wait(self, timeout=20.0):
        """After a reset: until the REPL answers again (USB re-enumerates on RP2)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if Path(self.port).exists() or not self.port.startswith("/"):
                proc = self.run("exec", "print(1)", check=False)
                if proc.returncode == 0:
                    return
            time.sleep(0.5)
        raise CliError("the board on %s did not come back after a reset" % self.port)



_HOLD_SCRIPT = """
open('/%s', 'w').close()
try:
    print(open('/%s').read())
except OSError:
    print('{}')
""" % (HOLD, CONFIG)



_REMOVE_SCRIPT = """
import os
def _rm(p):
    try:
        st = os.stat(p)
    except OSError:
        return
    if st[0] & 0x4000:
        for e in list(os.ilistdir(p)):
            _rm(p + '/' + e[0])
        os.rmdir(p)
    else:
        os.remove(p)
for _p in %r:
    _rm('/' + _p)
print('removed')
"""



# A secret file's hash (the WiFi key: a low-entropy secret) is compared on the board, and only
# "same" or "differs" printed: nothing derived from it appears on the console.
_HASH_SCRIPT = """
import hashlib, binascii
_secret = %r
for _p in %r:
    try:
        _h = hashlib.sha256()
        with open('/' + _p, 'rb') as _f:
            while True:
                _b = _f.read(512)
                if not _b:
                    break
                _h.update(_b)
        _d = binascii.hexlify(_h.digest()).decode()
        if _p in _secret:
            _d = 'same' if _d == _secret[_p] else 'differs'
        print(_d, _p)
    except OSError:
        print('missing', _p)
"""



# The board's unique id and its invocation-counter slots (comms.crypto.counter: 20-byte records).
_COUNTERS_SCRIPT = """
import machine, binascii
print('uid', binascii.hexlify(machine.unique_id()).decode())
for _n in ('ic_p1.a', 'ic_p1.b', 'ic_mgmt.a', 'ic_mgmt.b'):
    try:
        with open('%s/' + _n, 'rb') as _f:
            print('slot', _n, binascii.hexlify(_f.read(64)).decode())
    except OSError:
        print('slot', _n, '-')
"""



_SLOT_PORTS = {"ic_p1": "p1", "ic_mgmt": "management"}



# When a board's counters cannot be read (its flash was wiped), what it may have used since the
# record was last updated is bounded by time: at most one P1 frame a second, and a management
# association's few hundred APDUs a day, plus the reservations its restarts skip.
_USE_PER_SECOND = 2



_WIPED_SLACK = 16 * 256



def board_counters(lines):
    """(uid, {port: highest reserved counter}) from _COUNTERS_SCRIPT's output; a port is left
    out when none of its slots holds a valid record."""
    import struct
    import zlib

    uid = None
    high = {}
    for line in lines:
        words = line.split()
        if words[:1] == ["uid"] and len(words) == 2:
            uid = words[1]
        if words[:1] != ["slot"] or len(words) != 3 or words[2] == "-":
            continue
        data = bytes.fromhex(words[2])
        if len(data) != 20 or data[:4] != b"MKIC":
            continue
        if zlib.crc32(data[:16]) != struct.unpack(">I", data[16:])[0]:
            continue
        port = _SLOT_PORTS[words[1].split(".")[0]]
        high[port] = max(high.get(port, 0), struct.unpack(">Q", data[8:16])[0])
    return uid, high



def counter_floor(record, uid, board_high, move=False, now=None):
    """The floor to flash with the keys, and the record updated; CliError if the keys are on
    another board (unless `move`)."""
    import time as _time

    from meterkast.keys.ivguard import PORTS

    now = _time.time() if now is None else now
    owner = record.doc.get("board")
    if owner and owner != uid and not move:
        raise CliError("these keys are on board %s, not this one (%s): one keys file drives one "
                       "meter; give --move-keys if that board will never run them again"
                       % (owner, uid))
    unknown = owner != uid or not board_high  # usage since the record cannot be read back
    floor = {}
    for port in PORTS:
        f = max(record.floor(port), board_high.get(port, 0))
        if unknown and record.floor(port):
            since = max(0, now - record.doc.get("updated", now))
            f += int(since) * _USE_PER_SECOND + _WIPED_SLACK
        floor[port] = min(f, 0xFFFFFFFF)
        record.doc[port] = max(record.floor(port), floor[port])
    record.doc["board"] = uid
    return floor



def _sha(data):
    return hashlib.sha256(data).hexdigest()



def config_for(existing, target, model, serial, phases=None, p3=None, wifi_ssid=None,
               wifi_key=None, p3_given=None):
    """The /meter.json to write: the device's current one, updated. p3: the parsed --p3
    (netconfig.parse_p3; p3_given says whether --p3 was given, default: p3 is not None),
    wifi_ssid, wifi_key (the key itself: only whether there is one matters here)."""
    table = board_table()
    cfg = dict(existing)
    allowed = table.for_port(target)
    if target == "emu":
        model = model or "emu"
    if model:
        if model not in allowed:
            raise CliError("--model %s does not run the %s build; use one of %s" % (model, target, ", ".join(allowed)))
        cfg["board"] = model
    elif cfg.get("board") not in (None, *allowed):
        raise CliError("the device is set up as board %r, which does not run the %s build; "
                       "give --model" % (cfg["board"], target))
    if serial is not None:
        if serial < 0:
            raise CliError("--serial must be >= 0")
        cfg["serial"] = serial
    if "serial" not in cfg:
        raise CliError("this device has no /meter.json yet: give --serial N")
    if phases is not None:
        cfg["phases"] = phases
    return netconfig.apply(cfg, table, target, p3, wifi_ssid, wifi_key,
                           p3 is not None if p3_given is None else p3_given)



def flash(port, target, build_dir=None, keys=None, serial=None, model=None, verify=False,
          reset=True, log=print, phases=None, move_keys=False, module="single", p3=None,
          wifi_ssid=None, wifi_key_file=None):
    """Deploy; returns {files: {path: sha256}, config: dict, verified: bool}. p3: the --p3
    SPEC (netconfig.parse_p3); wifi_key_file: a file holding the WLAN key (never printed)."""
    keys_data = None
    record = None
    p3_config = netconfig.parse_p3(p3)
    wifi_key = netconfig.read_wifi_key(wifi_key_file) if wifi_key_file else None
    netconfig.check_target(board_table(), target, model, p3_config, wifi_ssid, wifi_key, module)
    if keys and module == "metering":
        raise CliError("--keys with --module metering: a metering module never holds keys; "
                       "flash them into the comms board")
    if keys:
        from meterkast.keys.file import check_keys
        from meterkast.keys.ivguard import CounterRecord, lock_keys

        parsed = check_keys(keys)  # refuse an unsafe keys file before touching the device
        lock = lock_keys(keys)  # no meter runs with these keys while they are flashed
        record = CounterRecord(keys, parsed)
        keys_doc = json.loads(Path(keys).read_text())
    with tempfile.TemporaryDirectory(prefix="meterkast-flash-") as tmp:
        if build_dir is None:
            build_dir = Path(tmp) / "build"
            build(target, build_dir, module=module)
        build_dir = Path(build_dir)
        manifest = read_manifest(build_dir)
        if manifest["target"] != target:
            raise CliError("%s is a %s build, not %s" % (build_dir, manifest["target"], target))
        if manifest.get("module", "single") != module:
            raise CliError("%s is the %s image, not %s: build it with --module %s" % (
                build_dir, manifest.get("module", "single"), module, module))
        mp = Mpremote(port)

        log("hold: %s" % port)
        lines = mp.exec_lines(_HOLD_SCRIPT)
        try:
            existing = json.loads("\n".join(lines) or "{}")
        except ValueError:
            existing = {}
        cfg = config_for(existing, target, model, serial, phases, p3_config, wifi_ssid,
                         wifi_key, p3 is not None)
        cfg["module"] = module
        if record is not None:
            uid, high = board_counters(mp.exec_lines(_COUNTERS_SCRIPT % cfg.get("storage", "/data")))
            floor = counter_floor(record, uid, high, move_keys)
            keys_doc["counter_floor"] = floor
            keys_data = (json.dumps(keys_doc, indent=2) + "\n").encode()
            record.save()  # before the board can use anything above the old record
            log("keys: counters continue above p1 %d, management %d" % (floor["p1"],
                                                                        floor["management"]))
        if target != "emu":
            # The interrupted meter's watchdog keeps running: reset into the held state.
            mp.run("reset", check=False)
            time.sleep(1.0)
            mp.wait()

        expected = {rel: info["sha256"] for rel, info in manifest["files"].items()}
        config_bytes = (json.dumps(cfg, sort_keys=True) + "\n").encode()
        (Path(tmp) / CONFIG).write_bytes(config_bytes)
        expected[CONFIG] = _sha(config_bytes)
        extra = ["+", "fs", "cp", str(Path(tmp) / CONFIG), ":" + CONFIG]
        if keys_data is not None:
            (Path(tmp) / KEYS).write_bytes(keys_data)
            expected[KEYS] = _sha(keys_data)
            extra += ["+", "fs", "cp", str(Path(tmp) / KEYS), ":" + KEYS]
        if wifi_key:  # the WLAN key in its own file; verify compares it on the board
            key_bytes = wifi_key.encode()
            (Path(tmp) / netconfig.WIFI_KEY).write_bytes(key_bytes)
            expected[netconfig.WIFI_KEY] = _sha(key_bytes)
            extra += ["+", "fs", "cp", str(Path(tmp) / netconfig.WIFI_KEY),
                      ":" + netconfig.WIFI_KEY]
        top = sorted({rel.split("/", 1)[0] for rel in manifest["files"]})
        # Every folder any image has goes first: a board that becomes a metering module keeps
        # no comms code from its former image, and the other way round.
        gone = set(top) | {"metering", "metrology", "comms", "hal", "contract", "util", "boards"}
        if module == "metering":
            gone |= {KEYS, netconfig.WIFI_KEY}  # a former comms or single board's secrets go too
        if wifi_key is not None:
            gone.add(netconfig.WIFI_KEY)  # replaced (or removed: an open network)
        gone = sorted(gone)
        log("copy: %d files (%s build, %s image) to %s" % (len(manifest["files"]), target,
                                                          module, port))
        mp.run("exec", _REMOVE_SCRIPT % (gone,), "+", "fs", "cp", "-r", *top, ":", *extra,
               cwd=str(build_dir))

        verified = False
        if verify:
            paths = sorted(expected)
            secret = {p: expected[p] for p in paths if p == netconfig.WIFI_KEY}
            got = {}
            for line in mp.exec_lines(_HASH_SCRIPT % (secret, paths)):
                digest, _, path = line.partition(" ")
                got[path] = digest
            bad = [p for p in paths if got.get(p) != ("same" if p in secret else expected[p])]
            if bad:
                raise CliError("verify failed for %d file(s): %s; the board stays held (/%s)"
                               % (len(bad), ", ".join(bad[:5]), HOLD))
            log("verify: %d files match" % len(paths))
            verified = True

        if reset:
            mp.run("exec", "import os\nos.remove('/%s')" % HOLD, "+", "reset")
            log("reset: %s boots meter %s" % (port, cfg["serial"]))
        if record is not None:
            import os

            os.close(lock)
        return {"files": expected, "config": cfg, "verified": verified}

