# meterkast: the secure-comms module: owns the ports, the keys and everything that leaves the meter
# MIT license
#
# Metrology hands readings over through the one-way queue; this module turns them into P1
# telegrams (optionally encrypted) and, where fitted, serves the grid operator on P3. Keys live
# here and nowhere else.
from comms.p1_port import P1Port
from comms.p1_telegram import TelegramBuilder


class SecureComms:
    """`floors`: {"p1": n, "management": n}, the highest invocation counters ever reserved with
    these keys as their keeper knows them (see comms.counter); counting never resumes below."""

    def __init__(self, hal, readings, identity, keys_path=None, profile=None, floors=None):
        keys = None
        if keys_path:
            from comms.keystore import load_keys

            keys = load_keys(keys_path)
        floors = dict(floors or {})
        if keys:
            for port, n in keys.get("counter_floor", {}).items():
                floors[port] = max(floors.get(port, 0), n)
        self.hal = hal
        self.readings = readings
        self.identity = identity
        self.tasks = []
        self.p1 = None
        self.p3 = None
        self.fatal = None  # why this module may not send at all (a lost counter record)
        report = hal.report
        # The key tables (8 KiB in one piece each) come first, while the heap is still in few
        # pieces; compiling or loading the port modules afterwards fragments it.
        framer = None
        if hal.p1 is not None and keys and keys.get("p1"):
            from comms.p1_crypt import P1Encryptor

            framer = P1Encryptor(keys["system_title"], keys["p1"], hal.storage,
                                 floor=floors.get("p1", 0), on_reserve=_announce(report, "p1"))
            self._check_counter("p1", framer.counter, floors.get("p1", 0))
        security = None
        if hal.p3 is not None and keys and keys.get("management") and hal.storage is not None:
            from comms.dlms_security import Security

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

            # The largest P3 module (HDLC) is compiled now, right after a collection, while
            # the heap still has room in one piece for its parse (from source, in a small heap).
            gc.collect()
            import comms.p3  # noqa: F401
        if hal.p1 is not None:
            builder = TelegramBuilder(identity["equipment_id"], hal.frontend.phases)
            self.p1 = P1Port(hal.p1, readings, builder, framer, report, self._stop)
            self.tasks.append(self.p1.run)
        if hal.p3 is not None:
            from comms.dlms_server import DlmsServer
            from comms.p3 import P3Port

            server = DlmsServer(hal.clock, readings, profile, identity, None, hal.storage,
                                security=security)
            server.on_refuse = lambda sap, diag, err, why: report.line(
                '{"ev":"p3_refused","client":%d,"diagnostic":%d,"initiate_error":%d,"why":%d}'
                % (sap, diag, err, why))
            self.p3 = P3Port(hal.p3, server, hal.clock, getattr(hal, "p3_inactivity_s", 120),
                             lambda: report.line('{"ev":"hangup","port":"p3"}'))
            self.tasks.append(self.p3.run)

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


def _announce(report, port):
    def on_reserve(high):
        report.line('{"ev":"ic","port":"%s","high":%d}' % (port, high))

    return on_reserve
