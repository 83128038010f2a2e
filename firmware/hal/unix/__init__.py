# meterkast: the unix (emulator) back end of the HAL
# MIT license
import json

from hal.unix.clock import SimClock
from hal.unix.frontends import build_frontend
from hal.unix.household import Household
from hal.unix.report import Report
from hal.unix.uart import PtyUart
from util.tz import parse_iso


class _NoWatchdog:
    def feed(self):
        pass


# Each module's flash image in the state directory: one chip on a single board, one each when
# the modules are two MCUs (--module metering / comms).
IMAGES = {"single": "flash.img", "metering": "metering.img", "comms": "comms.img"}


class UnixHal:
    """Everything a module needs from its hardware, emulated on a PC. config["module"]:
    single (both modules, one board), metering (front-end, RTC, flash, the link's TX line) or
    comms (P1, P3, flash, the link's RX line): each builds only its own hardware."""

    def __init__(self, config):
        self.config = config
        module = config.get("module") or "single"
        self.module = module
        state = config.get("state")
        speed = config.get("speed", 1)
        self.speed = speed
        params = None
        if config.get("scenario"):
            with open(config["scenario"]) as f:
                params = json.load(f)
        self.clock = None
        self.household = None
        self.frontend = None
        self.nominal_dv = 2300
        self.phases = (params or {}).get("phases", 3)
        if module != "comms":
            start = config.get("start")
            start_utc = parse_iso(start) if start else None
            rtc = state + "/rtc" if state else None
            if start_utc is not None:
                self.clock = SimClock(start_utc, speed, rtc)  # --start sets the RTC
            else:
                self.clock = SimClock.resume(rtc, speed)  # the RTC ran on through the outage
            self.household = Household(config.get("seed", 1), params)
            self.frontend = build_frontend(config.get("frontend") or "direct", self.household,
                                           self.clock, config.get("seed", 1))
            self.nominal_dv = self.household.p["nominal_dv"]
            self.phases = self.household.phases
        self.link = PtyUart(config["link"]) if config.get("link") else None
        self.p1 = PtyUart(config["p1"]) if config.get("p1") else None
        self.p3 = PtyUart(config["p3"]) if config.get("p3") else None
        self.p3_inactivity_s = config.get("p3_inactivity") or 120
        self.p3_framing = config.get("p3_framing") or "hdlc"
        self.control = None
        if config.get("ctl"):
            from hal.unix.control import ControlLine

            self.control = ControlLine(config["ctl"])
        self.storage = None
        self.flash = None
        self.storage_error = None
        if state:
            from hal.unix.flash import mount

            try:
                self.storage, self.flash = mount(state + "/" + (config.get("flash") or IMAGES[module]),
                                                 config.get("mount") or "/flash")
            except OSError as e:
                self.storage_error = "flash does not mount (%s): running without persistence" % e
        self.watchdog = _NoWatchdog()
        self.stop_on_fatal = True  # a run ends (non-zero) when comms may send nothing more
        self.report = Report(config.get("report", False))


def build(config):
    return UnixHal(config)
