# meterkast: boot: pick the HAL, build the meter, run its tasks
# MIT license
#
# On the emulator: micropython main.py --module single|metering|comms --p1 /dev/pts/N [options]
# (started by `meterkast run`). On a board this is the single-board image's entry point
# (run_board: both modules on one board); a two-board meter runs main_metering.py and
# main_comms.py, which `meterkast build --module` installs as main.py.
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
    ap.add_argument("--p3-framing", default="hdlc")  # hdlc (IEC 62056-46) | wrapper (62056-47)
    ap.add_argument("--module", default="single")  # single | metering | comms (hal.unix)
    ap.add_argument("--link")  # the internal link's pty (metering: TX, comms: RX)
    ap.add_argument("--flash")  # the flash image's name in --state (default: per --module)
    args = ap.parse_args(argv)
    if args.p3_framing not in ("hdlc", "wrapper"):
        raise ValueError("--p3-framing %r: hdlc or wrapper" % args.p3_framing)
    cfg = {}
    for k in ("p1", "p3", "ctl", "start", "speed", "seed", "scenario", "state", "keys", "serial", "report", "duration",
              "frontend", "ic_floor", "p3_inactivity", "p3_framing", "module", "link", "flash"):
        cfg[k] = getattr(args, k)
    if cfg["speed"] == int(cfg["speed"]):
        cfg["speed"] = int(cfg["speed"])
    return cfg


def compose(hal, identity, keys_path=None, duration=None, floors=None, kind="direct", serial=1):
    """The modules this MCU carries (hal.module), joined by the link."""
    from meter import Meter

    module = hal.module
    first = hal.clock.mono() if hal.clock is not None else 0  # metrology measures from here
    link = hal.link
    if module == "single":
        from hal.memlink import MemoryLink

        link = MemoryLink()
    comms = metering = None
    # Comms first: its key tables (8 KiB in one piece each) want the heap while it is still in
    # few pieces; compiling the metering modules afterwards fragments it.
    if module != "metering":
        from comms.secure import build_comms

        comms = build_comms(hal, link, identity, keys_path, floors)
        if module == "single":
            link.receiver = comms.link.feed  # a bound method: it opens nothing of comms
    if module != "comms":
        from metering.module import build_metering

        metering = build_metering(hal, link, kind, serial, duration, first)
    return Meter(hal, metering, comms, identity)


def run_unix(argv):
    from hal.unix import build

    try:
        cfg = _unix_config(argv)
        hal = build(cfg)
    except (ValueError, OverflowError) as e:  # --start, --speed (meterkast run checks them first)
        print("meterkast firmware: error: %s" % e, file=sys.stderr)
        sys.exit(2)
    serial = int(cfg["serial"]) if cfg["serial"] else cfg["seed"]
    identity = None
    if hal.module != "metering":
        from comms.secure import identity_for

        identity = identity_for(serial)
    meter = compose(hal, identity, cfg["keys"], cfg["duration"],
                    _floors(cfg["ic_floor"]), cfg["frontend"], serial)
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


def run_board():
    """Boot on a board (or the board emulator): both modules, config from flash, run forever."""
    from comms.secure import BOARD_KEYS, identity_for
    from hal.board.boot import exists, start

    hal, cfg = start("single")
    if hal is None:
        return

    keys_path = BOARD_KEYS if exists(BOARD_KEYS) else None  # opened by the comms module only
    serial = int(cfg["serial"])
    meter = compose(hal, identity_for(serial), keys_path, kind=hal.frontend_kind, serial=serial)
    hal.serve(meter)


if __name__ == "__main__":
    if sys.platform == "linux":
        run_unix(sys.argv[1:])
    else:
        run_board()
