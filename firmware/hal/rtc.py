# meterkast: the RTC time line both HALs share: a setting on top of monotonic meter seconds
# MIT license
#
# utc = RTC time at boot + monotonic seconds + the net of every set or shift since. Energy is
# integrated over monotonic seconds, so changing the setting never adds or drops energy.
# A subclass supplies mono() and save() (which keeps the setting across a restart).
# A setting outside the meter's time range (util.tz.TIME_RANGE) is refused, and save() never
# keeps a time outside it.
from util.tz import TIME_RANGE, format_iso, in_range


class RtcTime:
    def __init__(self, utc0):
        self._utc0 = utc0
        self._offset = 0
        self._pending_shift = 0

    def utc(self):
        return self._utc0 + self.mono() + self._offset

    def utc_at(self, mono_s):
        """RTC time that corresponds to monotonic second mono_s under the current setting."""
        return self._utc0 + mono_s + self._offset

    def set_utc(self, t):
        self.adjust(t - self.utc())

    def adjust(self, delta):
        """Shift the RTC by delta seconds; ValueError if that leaves the meter's time range."""
        t = self.utc() + delta
        if not in_range(t):
            raise ValueError("%s is outside the meter's time range %s" % (
                format_iso(t), TIME_RANGE))
        self._offset += delta
        self._pending_shift += delta
        self.save()  # a restart after a time change keeps the changed time

    def take_adjustment(self):
        """The net shift since the last call (for the clock-adjusted status), then zero."""
        s = self._pending_shift
        self._pending_shift = 0
        return s

    def mono(self):
        raise NotImplementedError

    def save(self):
        raise NotImplementedError
