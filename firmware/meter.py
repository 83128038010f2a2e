# meterkast: a meter is an object graph: HAL, metrology, the one-way queue, secure comms
# MIT license
#
# Nothing here lives at module level, so several meters can run side by side in one interpreter.
import asyncio
from comms.secure import SecureComms
from contract.reading import STATUS_CRITICAL_ERROR, ReadingQueue
from metrology.metrology import Metrology
from metrology.recorder import Recorder


_CONTROL_WAKE_MS = 100


class Meter:
    def __init__(self, hal, identity, keys_path=None, duration=None, floors=None):
        self.hal = hal
        self.identity = identity
        self.readings = ReadingQueue()
        self.metrology = Metrology(hal.clock, hal.frontend, self.readings, hal.nominal_dv)
        if hal.report.enabled:
            self.metrology.on_reading = hal.report.reading
        self.recorder = None
        profile = None
        if getattr(hal, "storage_error", None):
            self.metrology.fault = STATUS_CRITICAL_ERROR
            hal.report.log("critical", hal.storage_error)
        if getattr(hal.clock, "rtc_note", None):
            hal.report.log("warning", hal.clock.rtc_note)
        if hal.storage is not None:
            notify = hal.report.stored if hal.report.enabled else None
            self.recorder = Recorder(hal.storage, self.metrology, notify)
            # The emulator's RTC renews its anchor before each write to flash (hal.unix.clock).
            self.recorder.before_store = getattr(hal.clock, "checkpoint", None)
            self.recorder.boot()
            self.metrology.listeners.append(self.recorder)
            profile = self.recorder.profile
        self.comms = SecureComms(hal, self.readings, identity, keys_path, profile=profile,
                                 floors=floors)
        self.stopping = False
        if duration is not None:
            self.metrology.until = self.metrology.second + duration

    def command(self, line):
        """Emulator control commands (from the host tool's control line)."""
        words = line.split()
        if not words:
            return
        rep = self.hal.report
        if words[0] == "stop":
            self.stopping = True
        elif words[0] == "clock" and len(words) == 2:
            arg = words[1]
            try:
                if arg[0] in "+-":
                    self.hal.clock.adjust(int(arg))
                else:
                    from util.tz import parse_iso

                    self.hal.clock.set_utc(parse_iso(arg))
            except ValueError as e:
                rep.log("error", "bad clock command: %s" % e)
                return
            rep.log("clock", "adjusted by %s" % arg)
        elif words[0] == "stats":
            rep.line(self.stats_line())
        else:
            rep.log("error", "unknown command: %s" % line)

    def stats_line(self):
        """`stats`: heap in use after a collection, P1 frames sent and the P3 port's counters
        (internal errors caught, bytes in, frames taken and dropped): what soak runs watch."""
        import gc

        gc.collect()
        text = '{"ev":"stats","live":%d,"free":%d' % (gc.mem_alloc(), gc.mem_free())
        if self.comms.p1 is not None:
            text += ',"p1_sent":%d' % self.comms.p1.sent
        p3 = self.comms.p3
        if p3 is not None:
            text += ',"p3_errors":%d,"p3_bytes_in":%d,"p3_frames_ok":%d,"p3_frames_bad":%d' % (
                p3.errors, p3.bytes_in, p3.hdlc.frames_ok, p3.hdlc.frames_bad)
            text += ',"p3_refused":%d' % getattr(p3.hdlc.upper, "refused", 0)
        return text + "}"

    async def _control(self):
        ctl = self.hal.control
        warned = False
        ticks = 0
        while not self.stopping:
            if ctl is not None:
                line = ctl.poll()
                if line:
                    self.command(line)
            self.hal.watchdog.feed()
            if self.metrology.out_of_time:
                from util.tz import TIME_RANGE

                self.hal.report.log("critical", "the meter clock left the range its flash records "
                                    "hold (%s): meter stopped" % TIME_RANGE)
                self.stopping = True
            elif self.metrology.finished() and self._ports_idle():
                self.stopping = True
            if self.comms.fatal is not None and getattr(self.hal, "stop_on_fatal", False):
                self.stopping = True  # the emulator ends the run; a board keeps measuring
            ticks += 1
            if not warned and ticks % 10 == 0:
                warned = self._check_lag()
            # Woken by a command on the control line, or after a tenth of a second for the
            # watchdog and the end of a run: no polling.
            if ctl is not None:
                await ctl.wait(_CONTROL_WAKE_MS)
            else:
                await asyncio.sleep_ms(_CONTROL_WAKE_MS)

    def _check_lag(self):
        """Faster than this machine can simulate, meter time falls behind the clock: say so once."""
        m = self.metrology
        clock = self.hal.clock
        behind = clock.mono() - m.second
        if m.finished() or behind <= 5 * clock.speed:
            return False
        self.hal.report.log(
            "warning",
            "metrology is %d meter seconds behind the clock: --speed %s is more than this machine "
            "can simulate; meter time advances slower than asked" % (behind, clock.speed),
        )
        return True

    def _ports_idle(self):
        p1 = self.comms.p1
        if p1 is None:
            return True
        return p1.sent > 0 and p1.up_to_date() and p1.uart.txdone()

    async def run(self):
        tasks = [asyncio.create_task(self.metrology.run())]
        for t in self.comms.tasks:
            tasks.append(asyncio.create_task(t()))
        await self._control()
        for t in tasks:
            t.cancel()
        self.shutdown()

    def shutdown(self):
        """Orderly stop: registers and the clock anchor are saved."""
        if self.recorder is not None:
            from util.tz import UTC_MAX

            m = self.metrology
            t = m.clock.utc_at(m.second)
            self.recorder.persist(t if t <= UTC_MAX else UTC_MAX)  # never a wrapped time
        self.hal.clock.save()
        flash = getattr(self.hal, "flash", None)
        if flash is not None:
            self.hal.report.line('{"ev":"flash","written":%d,"erases":%d,"meter_s":%d}' % (
                flash.bytes_written, flash.erases, self.metrology.second))
