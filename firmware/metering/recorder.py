# meterkast: what metrology keeps through power cuts: register persistence and quarter-hour captures
# MIT license
#
# Rules (IDIS / DSMR behaviour):
# - capture when the RTC crosses a quarter-hour boundary b (t_prev < b <= t), with the registers
#   of that second; a forward clock jump skips the boundaries it passes, a backward jump may
#   capture a timestamp again (FIFO profile), and the entry after a clock change is flagged CAD;
# - registers are persisted every PERSIST_S meter seconds and at each capture, so a power cut
#   loses at most the energy since the last persist and never counts energy twice;
# - after an outage, the entry of the period in which power failed is written at power-up and
#   flagged PDN, periods wholly inside the outage get no entry, and the first live entry (the
#   period of restoration) is flagged PDN too. Each outage counts as a power failure; one of
#   3 minutes or more is also logged with its end time and duration.
from micropython import const

from contract.layout import REG_PENDING, REG_T
from metering.profile import CLOCK_ADJUSTED, PERIOD, POWER_DOWN, QuarterHourProfile
from metering.store import RegisterStore, restore

PERSIST_S = const(60)


class Recorder:
    def __init__(self, root, metrology, notify=None):
        self.metrology = metrology
        self.store = RegisterStore(root)
        self.profile = QuarterHourProfile(root)
        self.notify = notify  # optional callable(kind, t, status_or_seq, wh_array)
        self.on_capture = None  # optional callable(index, t, status, wh): the link sender
        # Optional callable(t), called before anything with time t goes to flash (the emulator's
        # RTC renews its anchor there, so it never resumes before a time on the flash).
        self.before_store = None
        self._pending = 0  # status bits owed to the next capture
        self._t_prev = 0
        self._last_persist = 0

    def boot(self):
        """Restore registers and account for the outage since the last persist."""
        m = self.metrology
        t_now = m.clock.utc_at(m.second)
        rec = self.store.load()
        self._t_prev = t_now - 1
        if rec is None:
            self.persist(t_now)
            return None
        restore(rec, m.registers, m.power_failures, m.voltage_events)
        t_last = rec[REG_T]
        self._pending = rec[REG_PENDING]
        if self.notify is not None:
            self.notify("outage", t_last, t_now, m.registers.wh)
        if t_now < t_last:
            self._pending |= CLOCK_ADJUSTED  # the RTC was set back across the restart
        else:
            b1 = t_last - t_last % PERIOD + PERIOD  # first boundary after the last sign of life
            # Idempotent: a cut between this capture and the persist below must not repeat it.
            if b1 < t_now and self.profile.newest_t < b1:
                self._capture(b1, self._pending | POWER_DOWN)
                self._pending = 0
            # Power back within the second of the last capture: that boundary is not taken again.
            if self.profile.newest_t > self._t_prev:
                self._t_prev = self.profile.newest_t
        self._pending |= POWER_DOWN
        m.power_failures.record(t_now, t_now - t_last if t_now > t_last else 0)
        self.persist(t_now)
        return rec

    def second_done(self, m, t):
        if m.clock_was_adjusted():
            self._pending |= CLOCK_ADJUSTED
        b = t - t % PERIOD
        captured = False
        if self._t_prev < b <= t:
            self._capture(b, self._pending)
            self._pending = 0
            captured = True
        self._t_prev = t
        if captured or m.second - self._last_persist >= PERSIST_S:
            self.persist(t)

    def _capture(self, b, status):
        p = self.profile
        if self.before_store is not None:
            self.before_store(b)
        status |= p.status_at(b)
        wh = self.metrology.registers.wh
        p.append(b, status, wh)
        if self.on_capture is not None:
            self.on_capture(p.seq - 1, b, status, wh)
        if self.notify is not None:
            self.notify("capture", b, status, wh)

    def persist(self, t):
        m = self.metrology
        if self.before_store is not None:
            self.before_store(t)
        self.store.save(t, m.second, self._pending, m.registers, m.power_failures, m.voltage_events)
        self._last_persist = m.second
        if self.notify is not None:
            self.notify("persist", t, self.store.seq, m.registers.wh)
