# meterkast: the board back end of the HAL: machine.UART, RTC, WDT, flash and front-end
# MIT license
#
# build(config) returns an object with the same attributes as hal.unix.UnixHal (hal/README.md).
# `config` is /meter.json as written by `meterkast flash`: {"serial": N, "board": NAME, ...};
# everything board-specific comes from the board table (firmware/boards); the config can
# override "frontend", "wdt_ms", "nominal_dv", "storage", "p1_invert", switch "p1"/"p3" off, put P3
# on TCP on a board with a network ("p3": {"tcp": ...}, "wifi", "p3_inactivity": hal.board.net),
# and carries the meter's own "phases" and "calibration" for the front-end.
#
# Order matters: the front-end is built before the watchdog starts, so a board without a
# front-end stops at the REPL with the reason instead of resetting every few seconds.
import os
import time

import machine
from boards import board as board_entry
from boards import detect
from hal.board.uart import BoardUart, open_uart
from hal.board.watchdog import TaskWatchdog

_PORT_LIMIT_MS = 3000  # port tasks read their UART at every reading (P1) and at least every 1 s (P3)
_METROLOGY_LIMIT_MS = 5000  # metrology checks in once a meter second; flash writes take longer
STORAGE = "/data"  # meter data (registers, profile, counters); `meterkast flash` never touches it


class BoardReport:
    """Plain lines on the USB console. The per-second JSON reports of the emulator are not
    produced on a board (enabled is always False): the console is also the REPL."""

    enabled = False

    def line(self, text):
        print(text)

    def log(self, kind, msg):
        print('{"ev":"%s","msg":"%s"}' % (kind, msg.replace('"', "'")))


def _mkdirs(path):
    here = ""
    for part in path.split("/"):
        if not part:
            continue
        here += "/" + part
        try:
            os.stat(here)
        except OSError:
            os.mkdir(here)
    return path


class BoardHal:
    def __init__(self, config, ticks=None):
        ticks = ticks or time
        self.config = config
        name = config.get("board") or detect(os.uname().machine)
        if name is None:
            raise ValueError("unknown board %r: set \"board\" in /meter.json" % os.uname().machine)
        b = board_entry(name)
        self.board = b
        self.name = name
        # "module": what this board is (firmware/manifest.py): both modules (single), or one
        # of two boards joined by the internal link (metering: front-end, RTC, flash, the link's
        # TX; comms: P1, P3, keys, flash, the link's RX on P1's UART).
        module = config.get("module", "single")
        self.module = module
        self.storage = _mkdirs(config.get("storage", STORAGE))
        self.clock = None
        self.frontend = None
        self.nominal_dv = config.get("nominal_dv", b["nominal_dv"])
        self.phases = config.get("phases", 3)
        self.frontend_kind = None
        if module != "comms":
            from hal.board.clock import BoardClock
            from hal.board.frontend import build_frontend

            self.clock = BoardClock(machine.RTC(), ticks)
            spec = config.get("frontend", b["frontend"])
            if spec:
                spec = dict(spec)
                for key in ("phases", "calibration"):  # per meter, written with its identity
                    if key in config:
                        spec[key] = config[key]
            self.frontend = build_frontend(machine, spec, self.clock, name)
            self.frontend_kind = spec.get("kind") if spec else None
            self.phases = getattr(self.frontend, "phases", 3)
        wdt_ms = config.get("wdt_ms", b["wdt_ms"])
        self.watchdog = TaskWatchdog(machine.WDT(timeout=wdt_ms) if wdt_ms else None, ticks)
        self.control = None
        self.report = BoardReport()
        self.p1 = None
        self.p3 = None
        self.link = None
        self.speed = 1
        if module == "metering":  # nothing but the link leaves a metering board
            self.link = BoardUart(open_uart(b["link"]))
            return
        p1 = b["p1"]
        if p1 and "p1_invert" in config:  # e.g. false for a bench test with a plain 3.3 V adapter
            p1 = dict(p1)
            p1["invert"] = config["p1_invert"]
        shared = None
        if p1 and config.get("p1", True):
            request = None
            if p1.get("request") is not None:
                # No consumer device plugged in: the divider pulls the line low, nothing is sent.
                request = machine.Pin(p1["request"], machine.Pin.IN, machine.Pin.PULL_DOWN)
            heartbeat = self.watchdog.watch("p1", _PORT_LIMIT_MS)
            shared = open_uart(p1)
            # On a comms board P1's RX pin is the link from the metering board: P1 never
            # drains it.
            self.p1 = BoardUart(shared, heartbeat, request, rx=module != "comms")
        if module == "comms":
            self.link = BoardUart(shared or open_uart(b["link"]),
                                  self.watchdog.watch("link", _PORT_LIMIT_MS))
        # P3: the board table's UART (HDLC), or, on a board with a network, a TCP port
        # ("p3": {"tcp": 4059, "framing": "wrapper"}: hal.board.net, which reads the rest)
        p3 = b["p3"]
        p3_config = config.get("p3", True)
        self.p3_framing = "hdlc"
        self.p3_inactivity_s = config.get("p3_inactivity", 120)
        if isinstance(p3_config, dict) and "tcp" in p3_config:
            from hal.board.net import build_p3

            self.p3 = build_p3(config, b, self.watchdog.watch("p3", _PORT_LIMIT_MS),
                               self.report.line, ticks)
            self.p3_framing = self.p3.framing
        elif p3 and p3_config:
            heartbeat = self.watchdog.watch("p3", _PORT_LIMIT_MS)
            self.p3 = BoardUart(open_uart(p3, p3.get("baud", 115200)), heartbeat)

    def serve(self, meter):
        """Run the built meter until the board resets (the watchdog or the user)."""
        import asyncio

        self.attach(meter)
        name = meter.identity["equipment_id"] if meter.identity else "metering module"
        self.report.line("meterkast: %s (%s) running on %s" % (name, self.module, self.name))
        try:
            asyncio.run(meter.run())
        except KeyboardInterrupt:
            meter.shutdown()

    def attach(self, meter):
        """Join the built meter: metrology checks in with the watchdog once a meter second. (A P3
        on TCP joins its port itself: comms.dlms.p3 takes the port's on_drop and hang_up.)"""
        if meter.metering is None:
            return
        meter.metering.metrology.listeners.append(self.watchdog.watch("metrology",
                                                                     _METROLOGY_LIMIT_MS))


def build(config, ticks=None):
    return BoardHal(config, ticks)
