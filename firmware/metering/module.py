# meterkast: the metering module: measure, keep the registers and the quarter-hour profile, send
# MIT license
#
# Everything the metering module is: its front-end and RTC (from its HAL), metrology, the
# recorder that keeps registers and captures on its own flash, and the link sender, the only
# thing that leaves it (bytes on a TX line, docs/link.md). It holds no keys, no ports and no way
# to receive anything from the comms module.
from contract.reading import STATUS_CRITICAL_ERROR, ReadingQueue
from metering.link_tx import LinkSender
from metering.metrology import Metrology
from metering.recorder import Recorder

SUPPLIERS = {"direct": b"MKD", "waveform": b"MKA", "ic": b"MKB"}  # by front-end


def build_metering(hal, link, kind="direct", serial=1, duration=None, first_second=None):
    """The metering module of meter `serial` with a `kind` front-end; its supplier code and
    serial number (docs/link.md identity) follow from both."""
    supplier = SUPPLIERS.get(kind, b"MKD")
    return MeteringModule(hal, link, supplier, b"%s%010d" % (supplier[2:], serial), duration,
                          first_second)


class MeteringModule:
    """hal: clock, frontend, nominal_dv, storage (a directory root or None), storage_error,
    report. link: the TX line (write(buf, n), txdone()). supplier, serial: its identity."""

    def __init__(self, hal, link, supplier, serial, duration=None, first_second=None):
        self.hal = hal
        self.readings = ReadingQueue()
        self.metrology = Metrology(hal.clock, hal.frontend, self.readings, hal.nominal_dv,
                                   first_second)
        report = hal.report
        if report.enabled:
            self.metrology.on_reading = report.reading
        self.sender = LinkSender(link, self.readings, supplier, serial, hal.frontend.phases,
                                 hal.nominal_dv)
        self.recorder = None
        if getattr(hal, "storage_error", None):
            self.metrology.fault = STATUS_CRITICAL_ERROR
            self.sender.flash_fault()
            report.log("critical", hal.storage_error)
        if getattr(hal.clock, "rtc_note", None):
            report.log("warning", hal.clock.rtc_note)
        if hal.storage is not None:
            notify = report.stored if report.enabled else None
            rec = Recorder(hal.storage, self.metrology, notify)
            self.recorder = rec
            # The emulator's RTC renews its anchor before each write to flash (hal.unix.clock).
            rec.before_store = getattr(hal.clock, "checkpoint", None)
            rec.boot()
            self.sender.load(rec.profile)  # captures made at boot (an outage's) included
            rec.on_capture = self.sender.capture
            self.metrology.listeners.append(rec)
        self.metrology.listeners.append(self.sender)
        if duration is not None:
            self.metrology.until = self.metrology.second + duration

    def clock_command(self, arg):
        """`clock +S|-S|ISO`: move the RTC (the emulator's window on the physical world)."""
        if arg[0] in "+-":
            self.hal.clock.adjust(int(arg))
        else:
            from util.tz import parse_iso

            self.hal.clock.set_utc(parse_iso(arg))

    def run(self):
        return self.metrology.run()

    def shutdown(self):
        """Orderly stop: registers and the clock anchor are saved."""
        if self.recorder is not None:
            from util.tz import UTC_MAX

            m = self.metrology
            t = m.clock.utc_at(m.second)
            self.recorder.persist(t if t <= UTC_MAX else UTC_MAX)  # never a wrapped time
        self.hal.clock.save()
