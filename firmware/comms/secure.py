# meterkast: the secure-comms module: owns the ports, the keys and everything that leaves the meter
# MIT license
#
# What the metering module measures reaches this module only as bytes on the internal link
# (comms.link.port: decoded, checked, believed or refused); this module turns what it believes
# into P1 telegrams (optionally encrypted) and, where fitted, serves the grid operator on P3
# from its own copy of the quarter-hour profile. Keys live here and nowhere else.
from comms.link.clock import LinkClock
from comms.link.port import LinkPort
from comms.p1.port import P1Port
from comms.p1.telegram import TelegramBuilder
from contract.layout import PROFILE_COPY_DIR as PROFILE_DIR  # comms' copy, on its own flash
from contract.reading import ReadingQueue

BOARD_KEYS = "/keys.json"  # the keystore on a board, written by `meterkast flash --keys`


class CommsIO:
    """All the comms module is given of its hardware: its ports, its own flash (a directory
    root, or None), its report line, and the emulator's time scale. Nothing of the metering
    module's hardware (front-end, RTC, flash) is in it."""

    def __init__(self, link, p1=None, p3=None, storage=None, report=None, speed=1,
                 p3_inactivity_s=120, phases=3, p3_framing="hdlc"):
        self.link = link
        self.p1 = p1
        self.p3 = p3
        self.storage = storage
        self.report = report
        self.speed = speed
        self.p3_inactivity_s = p3_inactivity_s
        self.phases = phases
        self.p3_framing = p3_framing  # "hdlc" (IEC 62056-46) or "wrapper" (IEC 62056-47, TCP)


class SecureComms:
    """`io`: a CommsIO. `floors`: {"p1": n, "management": n}, the highest invocation counters
    ever reserved with these keys as their keeper knows them (see comms.crypto.counter); counting never
    resumes below."""

    def __init__(self, io, identity, keys_path=None, floors=None):
        hal = io
        keys = None
        if keys_path:
            from comms.crypto.keystore import load_keys

            keys = load_keys(keys_path)
        floors = dict(floors or {})
        if keys:
            for port, n in keys.get("counter_floor", {}).items():
                floors[port] = max(floors.get(port, 0), n)
        self.hal = hal
        self.identity = identity
        self.readings = readings = ReadingQueue()
        self.clock = LinkClock(io.speed)
        self.tasks = []
        self.p1 = None
        self.p3 = None
        self.fatal = None  # why this module may not send at all (a lost counter record)
        report = hal.report
        # The key tables (8 KiB in one piece each) come first, while the heap is still in few
        # pieces; compiling or loading the port modules afterwards fragments it.
        framer = None
        if hal.p1 is not None and keys and keys.get("p1"):
            from comms.p1.crypt import P1Encryptor

            framer = P1Encryptor(keys["system_title"], keys["p1"], hal.storage,
                                 floor=floors.get("p1", 0), on_reserve=_announce(report, "p1"))
            self._check_counter("p1", framer.counter, floors.get("p1", 0))
        security = None
        if hal.p3 is not None and keys and keys.get("management") and hal.storage is not None:
            from comms.dlms.security import Security

            mgmt = dict(keys["management"])
            mgmt["system_title"] = keys["system_title"]
            security = Security(mgmt, hal.storage, floors.get("management", 0),
                                _announce(report, "management"))
            self._check_counter("management", security.counter, floors.get("management", 0))
            if security.received.lost:
                report.log("critical", "management client counter record lost (both slots "
                           "damaged): every management request is refused until the keys are "
                           "replaced")
        if hal.p3 is not None:
            import gc

            # The largest P3 module (HDLC, or the wrapper in its place) is compiled now, right
            # after a collection, while the heap still has room in one piece for its parse
            # (from source, in a small heap).
            gc.collect()
            if io.p3_framing == "wrapper":
                import comms.dlms.wrapper  # noqa: F401
            else:
                import comms.dlms.hdlc  # noqa: F401
            import comms.dlms.p3  # noqa: F401
        profile = None
        if hal.storage is not None:
            from util.qhstore import QuarterHourStore

            profile = QuarterHourStore(hal.storage, PROFILE_DIR)
        self.profile = profile
        # The standard and power-failure event logs, on comms' flash; made after the key tables
        # and the port modules, which want the heap while it is in few pieces.
        events = None
        if hal.storage is not None:
            from comms.events import EventLog

            events = EventLog(hal.storage, self.clock)
            if security is not None and security.counter.below_floor:
                events.counter_resumed()
        self.events = events
        self.link = LinkPort(io.link, readings, profile, hal.storage, self.clock, report,
                             events=events)
        self.tasks.append(self.link.run)
        if hal.p1 is not None:
            builder = TelegramBuilder(identity["equipment_id"], io.phases)
            self.p1 = P1Port(hal.p1, readings, builder, framer, report, self._stop)
            self.tasks.append(self.p1.run)
        if hal.p3 is not None:
            from comms.dlms.server import DlmsServer
            from comms.dlms.p3 import P3Port

            server = DlmsServer(self.clock, readings, profile, identity, None, hal.storage,
                                security=security, events=events)
            server.objects.p1 = framer  # its keys are rotated on 0.0.43.0.1.255

            def on_refuse(sap, diag, err, why):
                report.line('{"ev":"p3_refused","client":%d,"diagnostic":%d,"initiate_error":%d,'
                            '"why":%d}' % (sap, diag, err, why))
                if events is not None:
                    events.refused(diag, why)

            server.on_refuse = on_refuse
            self.p3 = P3Port(hal.p3, server, self.clock, io.p3_inactivity_s,
                             lambda: report.line('{"ev":"hangup","port":"p3"}'), io.p3_framing)
            self.tasks.append(self.p3.run)

    def offer_clock(self, set_clock):
        """set_clock(t_utc) -> None or why not: the one path that moves this meter's RTC (the
        emulator's `clock` command takes it too; meter.Meter.set_clock). A meter that carries the
        metering module offers it; a comms module on its own board has none (the link is one
        way), and its P3 clock stays read only. Each P3 clock set is reported with the time it
        replaced."""
        if self.p3 is None:
            return
        report = self.hal.report
        clock = self.clock

        def p3_set_clock(t):
            from util.tz import format_iso

            before = clock.utc()
            why = set_clock(t)
            report.line('{"ev":"p3_clock_set","from":"%s","to":"%s","ok":%s}' % (
                format_iso(before), format_iso(t), "false" if why else "true"))
            return why

        self.p3.server.offer_clock(p3_set_clock)

    def _check_counter(self, port, counter, floor):
        if counter.corrupt:
            self._stop("%s invocation counter record lost (both slots damaged): nothing is "
                       "encrypted with these keys; new keys are needed" % port)
        elif counter.below_floor:
            self.hal.report.log(
                "warning", "%s invocation counter: the stored state (%s) is below the keys' "
                "record (%d): a new, copied, rolled back or wiped state; counting resumes above "
                "%d" % (port, "blank" if counter.below_floor < 0 else counter.below_floor,
                        floor, floor))

    def _stop(self, why):
        """A counter can hand out no fresh value: stop sending, tell the operator at once."""
        if self.fatal is None:
            self.fatal = why
            self.hal.report.log("critical", why)


def identity_for(serial):
    """The meter's identity as P1 and P3 show it (equipment id, logical device name)."""
    return {"equipment_id": "MKS%013d" % serial, "logical_device_name": "MKS-NG%010d" % serial}


def build_comms(hal, link, identity, keys_path=None, floors=None):
    """The comms module on `hal`'s ports and flash, receiving the metering module on `link`."""
    io = CommsIO(link, hal.p1, hal.p3, hal.storage, hal.report, hal.speed,
                 getattr(hal, "p3_inactivity_s", 120), hal.phases,
                 getattr(hal, "p3_framing", "hdlc"))
    return SecureComms(io, identity, keys_path, floors)


def _announce(report, port):
    def on_reserve(high):
        report.line('{"ev":"ic","port":"%s","high":%d}' % (port, high))

    return on_reserve
