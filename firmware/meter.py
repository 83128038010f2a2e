# meterkast: a meter is an object graph: HAL, metrology, the one-way queue, secure comms
# MIT license
#
# Nothing here lives at module level, so several meters can run side by side in one interpreter.
import asyncio
from comms.secure import SecureComms
from contract.reading import STATUS_CRITICAL_ERROR, ReadingQueue
from metrology.metrology import Metrology
from metrology.recorder import Recorder


class Meter:
    def __init__(self, hal, identity, keys_path=None, duration=None):
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
        if hal.storage is not None:
            notify = hal.report.stored if hal.report.enabled else None
            self.recorder = Recorder(hal.storage, self.metrology, notify)
            self.recorder.boot()
            self.metrology.listeners.append(self.recorder)
            profile = self.recorder.profile
        self.comms = SecureComms(hal, self.readings, identity, keys_path, profile=profile)
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
        else:
            rep.log("error", "unknown command: %s" % line)

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
            if self.metrology.finished() and self._ports_idle():
                self.stopping = True
            ticks += 1
            if not warned and ticks % 50 == 0:
                warned = self._check_lag()
            await asyncio.sleep_ms(20)

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
            m = self.metrology
            self.recorder.persist(m.clock.utc_at(m.second))
        self.hal.clock.save()
        flash = getattr(self.hal, "flash", None)
        if flash is not None:
            self.hal.report.line('{"ev":"flash","written":%d,"erases":%d,"meter_s":%d}' % (
                flash.bytes_written, flash.erases, self.metrology.second))
