# meterkast: the metrology task: energy from the front-end, tariffs, events, one reading a second
# MIT license
#
# Metrology only measures. It reads its front-end once per monotonic meter second, adds the
# net energy to the import or export register of the tariff in force, and publishes a reading
# into the one-way queue. It holds no keys and imports nothing from comms; the profile store
# and the register store are handed in.
from array import array

import asyncio
from contract import frontend as fe
from contract import reading as rd
from metering.events import PowerFailures, VoltageEvents
from metering.pulse import PulseOutput
from metering.registers import EXPORT_T1, IMPORT_T1, EnergyRegisters
from metering.tariff import tariff
from util.tz import UTC_MAX, UTC_MIN, LocalTime, civil_into

_BATCH = 64  # seconds processed per asyncio slice when catching up at high speed


class Metrology:
    def __init__(self, clock, frontend, readings, nominal_dv=2300, first_second=None):
        self.clock = clock
        self.frontend = frontend
        self.readings = readings
        self.registers = EnergyRegisters()
        self.pulse = PulseOutput(1000)  # the LED, fed the same energy as the registers
        self.voltage_events = VoltageEvents(nominal_dv)
        self.power_failures = PowerFailures()
        # Next monotonic second to measure. first_second: the clock's second at boot, when the
        # meter is built after other things (the comms module, first on a single board), so
        # that time is measured too and the first second measured is the RTC's resume time.
        self.second = clock.mono() if first_second is None else first_second
        self.until = None  # last monotonic second to measure (emulator runs of fixed length)
        self.on_reading = None  # optional observer: called with (buf, offset) after publish
        self.listeners = []  # objects with .second_done(metrology, t): the recorder
        self._fe = array("i", [0] * fe.FIELDS)
        self._civil = array("i", [0] * 7)
        self._tz = LocalTime()
        self._adjusted = False
        self.tariff = 2
        self.fault = 0  # STATUS_* bits for a fault outside metrology's control (e.g. no flash)
        # Set when the RTC left the meter's time range (util.tz): nothing more is measured or
        # stored, since every stored time would wrap. The meter stops (critical error).
        self.out_of_time = False

    def step(self):
        """Measure one meter second and publish its reading (none once out of time)."""
        second = self.second
        t = self.clock.utc_at(second)
        if t > UTC_MAX or t < UTC_MIN:
            self.out_of_time = True
            return
        out = self._fe
        self.frontend.measure(second, out)
        if self.clock.take_adjustment():
            self._adjusted = True
        summer = self._tz.is_summer(t)
        civil_into(self._tz.local(t), self._civil)
        tar = tariff(self._civil)
        self.tariff = tar
        net = out[fe.ENERGY_MWS] + out[fe.ENERGY_MWS + 1] + out[fe.ENERGY_MWS + 2]
        regs = self.registers
        if net > 0:
            regs.add(IMPORT_T1 + tar - 1, net)
        elif net < 0:
            regs.add(EXPORT_T1 + tar - 1, -net)
        self.pulse.add(net if net > 0 else -net)
        for ph in range(self.frontend.phases):
            self.voltage_events.update(ph, out[fe.VOLTAGE_DV + ph])
        self.second = second + 1
        self._publish(t, second, tar, summer)
        for listener in self.listeners:
            listener.second_done(self, t)
        self._adjusted = False

    def _publish(self, t, second, tar, summer):
        q = self.readings
        b = q.buf
        o = q.write_slot()
        out = self._fe
        b[o + rd.T] = t
        b[o + rd.SEQ] = second
        status = self.fault | (rd.STATUS_DST if summer else 0)
        if self._adjusted:
            status |= rd.STATUS_CLOCK_ADJUSTED
        b[o + rd.STATUS] = status
        b[o + rd.TARIFF] = tar
        total = 0
        for ph in range(3):
            p = out[fe.POWER_MW + ph]
            total += p
            b[o + rd.PHASE_IMPORT_W + ph] = (p + 500) // 1000 if p > 0 else 0
            b[o + rd.PHASE_EXPORT_W + ph] = (-p + 500) // 1000 if p < 0 else 0
            b[o + rd.VOLTAGE_DV + ph] = out[fe.VOLTAGE_DV + ph]
            b[o + rd.CURRENT_MA + ph] = out[fe.CURRENT_MA + ph]
            b[o + rd.SAGS + ph] = self.voltage_events.sags[ph]
            b[o + rd.SWELLS + ph] = self.voltage_events.swells[ph]
        b[o + rd.IMPORT_W] = (total + 500) // 1000 if total > 0 else 0
        b[o + rd.EXPORT_W] = (-total + 500) // 1000 if total < 0 else 0
        wh = self.registers.wh
        b[o + rd.IMPORT_T1_WH] = wh[0]
        b[o + rd.IMPORT_T2_WH] = wh[1]
        b[o + rd.EXPORT_T1_WH] = wh[2]
        b[o + rd.EXPORT_T2_WH] = wh[3]
        pf = self.power_failures
        b[o + rd.POWER_FAILURES] = pf.count
        b[o + rd.LONG_POWER_FAILURES] = pf.long_count
        b[o + rd.FREQUENCY_MHZ] = out[fe.FREQUENCY_MHZ]
        b[o + rd.PF_LOG_N] = pf.log_n
        for i in range(2 * rd.PF_LOG_MAX):
            b[o + rd.PF_LOG + i] = pf.log[i]
        q.commit()
        if self.on_reading is not None:
            self.on_reading(b, o)

    def clock_was_adjusted(self):
        """True in the second a clock change took effect (for the listeners)."""
        return self._adjusted

    def finished(self):
        return self.out_of_time or (self.until is not None and self.second > self.until)

    def _target(self):
        target = self.clock.mono()
        if self.until is not None and target > self.until:
            return self.until
        return target

    async def run(self):
        while not self.finished():
            target = self._target()
            done = 0
            while self.second <= target and not self.out_of_time:
                self.step()
                done += 1
                if done >= _BATCH:
                    done = 0
                    await asyncio.sleep_ms(0)
                    target = self._target()
            await self.clock.sleep_until(self.second)
