# meterkast: the direct front-end: reads the simulated household's power as an ideal sensor would
# MIT license
#
# The simplest supplier of the front-end contract (contract/frontend.py): the energy of a second
# is the household's power held over that second. The waveform and metering-IC front-ends
# measure the same household through samples or chip registers instead.
from array import array

from contract.frontend import (CURRENT_MA, ENERGY_MWS, FLAGS, FREQUENCY_MHZ, POWER_FACTOR,
                               POWER_MW, VOLTAGE_DV)
from util.tz import LocalTime


class DirectFrontend:
    def __init__(self, household, clock):
        self.phases = household.phases
        self._house = household
        self._clock = clock
        self._tz = LocalTime()
        self._mw = array("i", [0, 0, 0])
        self._dv = array("i", [0, 0, 0])
        self._pf = array("i", [1000, 1000, 1000])

    def measure(self, second, out):
        t = self._clock.utc_at(second)
        self._house.sample(self._tz.local(t), self._mw, self._dv, self._pf)
        for ph in range(3):
            if ph < self.phases:
                mw = self._mw[ph]
                dv = self._dv[ph]
                out[ENERGY_MWS + ph] = mw  # held for exactly one second
                out[POWER_MW + ph] = mw
                out[VOLTAGE_DV + ph] = dv
                a = mw if mw >= 0 else -mw
                out[CURRENT_MA + ph] = a * 10000 // (dv * self._pf[ph]) if dv > 0 else 0
                out[POWER_FACTOR + ph] = (self._pf[ph] if mw > 0 else -self._pf[ph]) if mw else 0
            else:
                out[ENERGY_MWS + ph] = 0
                out[POWER_MW + ph] = 0
                out[VOLTAGE_DV + ph] = 0
                out[CURRENT_MA + ph] = 0
                out[POWER_FACTOR + ph] = 0
        out[FREQUENCY_MHZ] = 50000
        out[FLAGS] = 0
