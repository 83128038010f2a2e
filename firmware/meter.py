# meterkast: a meter is an object graph: the metering module, the link, the comms module
# MIT license
#
# Nothing here lives at module level, so several meters can run side by side in one interpreter.
# A Meter is one MCU's firmware: both modules on one board (joined by an in-memory link carrying
# the link's bytes), or one of them (its link a TX or an RX line). It runs their tasks and the
# emulator's control line; the modules never hold a reference to each other. Who is built, and
# how, is the entry point's business (main.py, main_metering.py, main_comms.py).
import asyncio

_CONTROL_WAKE_MS = 100  # a run of fixed length: its end is noticed within a tenth of a second
_IDLE_WAKE_MS = 1000  # otherwise: the watchdog and the lag check, once a second


class Meter:
    def __init__(self, hal, metering=None, comms=None, identity=None):
        self.hal = hal
        self.metering = metering  # metering.module.MeteringModule or None
        self.comms = comms  # comms.secure.SecureComms or None
        self.identity = identity
        self.stopping = False
        self._metering_saved = False  # registers and clock anchor persisted at the stop
        if metering is not None and comms is not None:
            # one MCU carries both: the management client may set the RTC over P3, by the path
            # the `clock` command takes (a comms board alone has no way to the RTC)
            comms.offer_clock(self._p3_set_clock)

    def command(self, line):
        """Emulator control commands (from the host tool's control line)."""
        words = line.split()
        if not words:
            return
        rep = self.hal.report
        if words[0] == "stop":
            self.stopping = True
        elif words[0] == "clock" and len(words) == 2 and self.metering is not None:
            self.set_clock(words[1])
        elif words[0] == "stats":
            rep.line(self.stats_line())
        elif words == ["p3", "lost"]:  # the host's TCP client of P3 left (or was dropped)
            port = self.comms.p3 if self.comms is not None else None
            if port is not None:
                port.link_lost()
        else:
            rep.log("error", "unknown command: %s" % line)

    def set_clock(self, arg, by=None):
        """Move the RTC (`+S`, `-S` or an ISO time): the emulator's `clock` command, and a P3 SET
        of the clock by the management client (by says so). Metrology sees the change in its
        next second: the reading and the next capture carry the clock-adjusted flag, and a jump
        across a quarter-hour boundary captures as any clock change does (metering.recorder).
        Returns None, or why the RTC was not moved."""
        rep = self.hal.report
        try:
            self.metering.clock_command(arg)
        except ValueError as e:
            rep.log("error", "bad clock command: %s" % e if by is None else
                    "clock not set by %s: %s" % (by, e))
            return str(e)
        rep.log("clock", "adjusted by %s" % arg if by is None else
                "set to %s by %s" % (arg, by))
        return None

    def _p3_set_clock(self, t):
        from util.tz import format_iso

        return self.set_clock(format_iso(t), "the P3 management client")

    def stats_line(self):
        """`stats`: heap in use after a collection, P1 frames sent and the P3 port's counters
        (internal errors caught, bytes in, frames taken and dropped): what soak runs watch."""
        import gc

        gc.collect()
        text = '{"ev":"stats","live":%d,"free":%d' % (gc.mem_alloc(), gc.mem_free())
        if self.metering is not None:
            s = self.metering.sender
            text += ',"link_sent":%d,"link_skipped":%d' % (s.sent, s.skipped)
        if self.comms is None:
            return text + "}"
        lk = self.comms.link
        d = lk.decoder
        text += ',"link_frames":%d,"link_bad":%d,"link_refused":%d,"link_stored":%d' % (
            d.frames, d.header_errors + d.length_errors + d.crc_errors + d.value_errors,
            _refusals(lk.guard), lk.stored)
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
            m = None
            if self.metering is not None:
                m = self.metering.metrology
                self.metering.sender.flush()
            if m is not None and m.out_of_time:
                from util.tz import TIME_RANGE

                self.hal.report.log("critical", "the meter clock left the range its flash records "
                                    "hold (%s): meter stopped" % TIME_RANGE)
                self.stopping = True
            elif m is not None and m.finished() and self._ports_idle():
                self.stopping = True
            if (self.comms is not None and self.comms.fatal is not None
                    and getattr(self.hal, "stop_on_fatal", False)):
                self.stopping = True  # the emulator ends the run; a board keeps measuring
            ticks += 1
            if m is not None and not warned and ticks % 10 == 0:  # every 1 to 10 s
                warned = self._check_lag()
            # Woken by a command on the control line, or after a while for the watchdog and the
            # end of a run: no polling.
            wake = _CONTROL_WAKE_MS if m is not None and m.until is not None else _IDLE_WAKE_MS
            if ctl is not None:
                await ctl.wait(wake)
            else:
                await asyncio.sleep_ms(wake)

    def _check_lag(self):
        """Faster than this machine can simulate, meter time falls behind the clock: say so once."""
        m = self.metering.metrology
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
        if self.metering is not None and not self.metering.sender.flush():
            return False  # the last reading is still on its way to comms
        if self.comms is None:
            return self.hal.link is None or self.hal.link.txdone()
        p1 = self.comms.p1
        if p1 is None:
            return True
        return p1.sent > 0 and p1.up_to_date() and p1.uart.txdone()

    async def run(self):
        tasks = []
        if self.metering is not None:
            tasks.append(asyncio.create_task(self.metering.run()))
        if self.comms is not None:
            for t in self.comms.tasks:
                tasks.append(asyncio.create_task(t()))
        await self._control()
        if self.metering is not None:
            tasks[0].cancel()  # metrology stops: registers and clock anchor saved as measured,
            self._save_metering()  # then the link gets the newest captures once more
            await self.metering.sender.drain()
        if self.comms is not None:
            link = self.comms.link
            for _ in range(64):  # what the link brought before the stop is still taken
                if not link.poll():
                    break
        for t in tasks:
            t.cancel()
        self.shutdown()

    def _save_metering(self):
        if not self._metering_saved:
            self._metering_saved = True
            self.metering.shutdown()

    def shutdown(self):
        """Orderly stop: registers and the clock anchor are saved."""
        second = 0
        if self.metering is not None:
            self._save_metering()
            second = self.metering.metrology.second
        flash = getattr(self.hal, "flash", None)
        if flash is not None:
            self.hal.report.line('{"ev":"flash","written":%d,"erases":%d,"meter_s":%d}' % (
                flash.bytes_written, flash.erases, second))


def _refusals(guard):
    n = 0
    for v in guard.counts:
        n += v
    return n
