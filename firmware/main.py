# meterkast: boot: pick the HAL, build the meter, run its tasks
# MIT license
#
# On the emulator: micropython main.py --p1 /dev/pts/N [options] (started by `meterkast run`).
# On a board, boot.py/main.py call run_board() instead (hal.board).
import sys

import asyncio


def _unix_config(argv):
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--p1")
    ap.add_argument("--p3")
    ap.add_argument("--ctl")
    ap.add_argument("--start")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--scenario")
    ap.add_argument("--state")
    ap.add_argument("--keys")
    ap.add_argument("--serial")
    ap.add_argument("--duration", type=int)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--frontend", default="direct")  # direct | waveform | ic (hal.unix.frontends)
    ap.add_argument("--ic-floor")  # p1:N,management:M: counters used with these keys up to here
    ap.add_argument("--p3-inactivity", type=int, default=120)  # seconds (IEC 62056-46 default)
    ap.add_argument("--module", default="single")  # single | metering | comms (hal.unix)
    ap.add_argument("--link")  # the internal link's pty (metering: TX, comms: RX)
    ap.add_argument("--flash")  # the flash image's name in --state (default: per --module)
    args = ap.parse_args(argv)
    cfg = {}
    for k in ("p1", "p3", "ctl", "start", "speed", "seed", "scenario", "state", "keys", "serial", "report", "duration",
              "frontend", "ic_floor", "p3_inactivity", "module", "link", "flash"):
        cfg[k] = getattr(args, k)
    if cfg["speed"] == int(cfg["speed"]):
        cfg["speed"] = int(cfg["speed"])
    return cfg


def identity_for(serial):
    return {
        "equipment_id": "MKS%013d" % serial,
        "logical_device_name": "MKS-NG%010d" % serial,
    }


def run_unix(argv):
    from hal.unix import build
    from meter import Meter

    try:
        cfg = _unix_config(argv)
        hal = build(cfg)
    except (ValueError, OverflowError) as e:  # --start, --speed (meterkast run checks them first)
        print("meterkast firmware: error: %s" % e, file=sys.stderr)
        sys.exit(2)
    serial = int(cfg["serial"]) if cfg["serial"] else cfg["seed"]
    meter = Meter(hal, identity_for(serial), cfg["keys"], cfg["duration"], _floors(cfg["ic_floor"]),
                  cfg["frontend"], serial)
    hal.report.line('{"ev":"boot","module":"%s","speed":%s}' % (hal.module, repr(hal.speed)))
    try:
        asyncio.run(meter.run())
    except KeyboardInterrupt:
        meter.shutdown()
    hal.report.line(_memory_line())
    hal.report.line('{"ev":"stopped"}')
    if meter.comms is not None and meter.comms.fatal is not None:
        sys.exit(3)


def _floors(text):
    """--ic-floor p1:N,management:M -> {"p1": N, "management": M}"""
    floors = {}
    for item in (text or "").split(","):
        if item:
            port, _, n = item.partition(":")
            floors[port] = int(n)
    return floors


def _memory_line():
    """Heap in use after a collection: what the meter keeps alive (its memory budget)."""
    import gc

    gc.collect()
    return '{"ev":"mem","live":%d,"free":%d}' % (gc.mem_alloc(), gc.mem_free())


BOARD_CONFIG = "/meter.json"  # identity and board settings, written by `meterkast flash`
BOARD_KEYS = "/keys.json"  # the comms keystore, written by `meterkast flash --keys`
BOARD_HOLD = "/hold"  # present while `meterkast flash` replaces the firmware: do not start


def _exists(path):
    import os

    try:
        os.stat(path)
        return True
    except OSError:
        return False


def run_board():
    """Boot on a board (or the board emulator): config from flash, hal.board, run forever."""
    import json

    if _exists(BOARD_HOLD):
        print("meterkast: %s present, firmware update in progress: meter not started" % BOARD_HOLD)
        return
    if not _exists(BOARD_CONFIG):
        print("meterkast: no %s: set the board up with `meterkast flash`" % BOARD_CONFIG)
        return
    from hal.board import build
    from meter import Meter

    with open(BOARD_CONFIG) as f:
        cfg = json.load(f)
    hal = build(cfg)
    # Only the comms module opens the keystore; here it is just a path.
    keys_path = BOARD_KEYS if _exists(BOARD_KEYS) else None
    meter = Meter(hal, identity_for(int(cfg["serial"])), keys_path,
                  kind=cfg.get("frontend", "direct"), serial=int(cfg["serial"]))
    hal.attach(meter)
    hal.report.line("meterkast: meter %s running on %s" % (meter.identity["equipment_id"], hal.name))
    try:
        asyncio.run(meter.run())
    except KeyboardInterrupt:
        meter.shutdown()


if __name__ == "__main__":
    if sys.platform == "linux":
        run_unix(sys.argv[1:])
    else:
        run_board()
