# meterkast: the energy registers: whole Wh plus a carried remainder, never a float
# MIT license
#
# Four registers (import/export x tariff 1/2), each an int Wh and an int remainder in mWs
# (millijoule, < 3,600,000). Whole Wh stay below 2**30 up to 1,073,741 kWh, so on a 32-bit
# board they remain small ints; the remainder never leaves this object.
from array import array
from micropython import const

IMPORT_T1 = const(0)
IMPORT_T2 = const(1)
EXPORT_T1 = const(2)
EXPORT_T2 = const(3)
_MWS_PER_WH = const(3600000)


class EnergyRegisters:
    def __init__(self):
        self.wh = array("i", [0, 0, 0, 0])
        self.residual_mws = array("i", [0, 0, 0, 0])

    def add(self, register, mws):
        """Add a non-negative energy in mWs to one register, carrying the remainder."""
        r = self.residual_mws[register] + mws
        if r >= _MWS_PER_WH:
            whole = r // _MWS_PER_WH
            self.wh[register] += whole
            r -= whole * _MWS_PER_WH
        self.residual_mws[register] = r

    def load(self, wh, residual):
        for i in range(4):
            self.wh[i] = wh[i]
            self.residual_mws[i] = residual[i]

    def total_mws(self, register):
        """Exact content of a register in mWs (test and audit use; may be a big int)."""
        return self.wh[register] * _MWS_PER_WH + self.residual_mws[register]
