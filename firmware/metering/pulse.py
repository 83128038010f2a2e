# meterkast: the metrology LED: one pulse per 1/MC kWh, the remainder carried
# MIT license
#
# The test output of every meter: a calibration bench counts these flashes against a reference.
# Energy is added in mWs (the same amounts the registers get); when the accumulator reaches
# one pulse's worth a pulse is emitted and that amount subtracted, so the remainder carries
# over and pulses * E_pulse + remainder is exactly the energy added (TI's MSP430 metering
# application notes describe the same scheme). MC = 1000 imp/kWh gives 1 Wh = 3,600,000 mWs
# per pulse: 1 kW flashes every 3.6 s.
#
# Both directions flash (|energy| is added), as on Dutch import/export meters. `led` is any
# object with on()/off() (machine.Pin on a board); a board's timer turns it off again after the
# pulse width; `on_pulse(count)` is an optional callback (the emulator counts and reports).
from micropython import const

_MWS_PER_WH = const(3600000)


class PulseOutput:
    def __init__(self, imp_per_kwh=1000, led=None, on_pulse=None):
        kwh = _MWS_PER_WH * 1000  # above 2**30: a big int on a board, once, at boot
        if imp_per_kwh <= 0 or kwh % imp_per_kwh:
            # a whole number of mWs per pulse keeps the carried remainder exact
            raise ValueError("meter constant must divide 3,600,000,000 mWs")
        self.imp_per_kwh = imp_per_kwh
        self.mws_per_pulse = kwh // imp_per_kwh
        self.led = led
        self.on_pulse = on_pulse
        self.pulses = 0
        self.remainder_mws = 0

    def add(self, mws):
        """Add a non-negative energy in mWs; returns the number of pulses it completed."""
        acc = self.remainder_mws + mws
        if acc < self.mws_per_pulse:
            self.remainder_mws = acc
            return 0
        n = acc // self.mws_per_pulse
        self.remainder_mws = acc - n * self.mws_per_pulse
        self.pulses += n
        if self.led is not None:
            self.led.on()
        if self.on_pulse is not None:
            self.on_pulse(n)
        return n
