# Metrology core: registers carry their remainder, tariffs switch, the step allocates nothing.
import micropython

from contract import frontend as fe
from contract import reading as rd
from metering.metrology import Metrology
from metering.registers import EXPORT_T2, IMPORT_T1, EnergyRegisters
from metering.tariff import tariff
from util.tz import civil_into, to_seconds


class FakeClock:
    def __init__(self, utc0):
        self.utc0 = utc0
        self.shift = 0

    def mono(self):
        return 0

    def utc_at(self, s):
        return self.utc0 + s

    def take_adjustment(self):
        s = self.shift
        self.shift = 0
        return s


class ConstantFrontend:
    """Per-phase mW held constant; a test front-end that obeys the contract."""

    phases = 3

    def __init__(self, mw):
        self.mw = mw

    def measure(self, second, out):
        for ph in range(3):
            out[fe.ENERGY_MWS + ph] = self.mw[ph]
            out[fe.POWER_MW + ph] = self.mw[ph]
            out[fe.VOLTAGE_DV + ph] = 2300
            out[fe.CURRENT_MA + ph] = 0
        out[fe.FREQUENCY_MHZ] = 50000
        out[fe.FLAGS] = 0


# Registers: 3,600,000 mWs is exactly 1 Wh; remainders carry.
regs = EnergyRegisters()
for _ in range(3600):
    regs.add(IMPORT_T1, 999)  # 0.999 W for an hour
print("0.999 W for 1 h ->", regs.wh[IMPORT_T1], "Wh +", regs.residual_mws[IMPORT_T1], "mWs")
regs.add(IMPORT_T1, 3600 * 1000)
print("+1 Wh ->", regs.wh[IMPORT_T1], regs.total_mws(IMPORT_T1))

# Dutch tariff times: weekday 07-23 normal, nights and weekends low, fixed holidays low.
c = [0] * 7
for when in ((2026, 7, 1, 6, 59), (2026, 7, 1, 7, 0), (2026, 7, 1, 22, 59), (2026, 7, 1, 23, 0),
             (2026, 7, 4, 12, 0), (2026, 12, 25, 12, 0), (2026, 4, 27, 12, 0)):
    civil_into(to_seconds(*when), c)
    print(when, "T%d" % tariff(c))

# A 1 kW import on each phase for one hour, starting at 06:59 on a Wednesday (T1 then T2).
q = rd.ReadingQueue()
m = Metrology(FakeClock(to_seconds(2026, 7, 1, 6, 59, 0) - 7200), ConstantFrontend([1000000] * 3), q)
for _ in range(3600):
    m.step()
r = rd.new_reading()
q.copy_latest(r)
print("import T1/T2 Wh:", r[rd.IMPORT_T1_WH], r[rd.IMPORT_T2_WH], "W:", r[rd.IMPORT_W])
print("total Wh:", r[rd.IMPORT_T1_WH] + r[rd.IMPORT_T2_WH])

# Export goes to the export register of the tariff in force; net of phases.
m2 = Metrology(FakeClock(to_seconds(2026, 7, 1, 12, 0, 0) - 7200), ConstantFrontend([-3000000, 500000, 500000]), q)
for _ in range(1800):
    m2.step()
q.copy_latest(r)
print("export T2 Wh:", r[rd.EXPORT_T2_WH], "import:", r[rd.IMPORT_T1_WH] + r[rd.IMPORT_T2_WH], "W out:", r[rd.EXPORT_W])
print("exact export mWs:", m2.registers.total_mws(EXPORT_T2))

# A clock adjustment is flagged on the reading of that second only.
m2.clock.shift = 3600
m2.step()
q.copy_latest(r)
flag1 = r[rd.STATUS] & rd.STATUS_CLOCK_ADJUSTED
m2.step()
q.copy_latest(r)
print("CAD flags:", bool(flag1), bool(r[rd.STATUS] & rd.STATUS_CLOCK_ADJUSTED))

# The per-second step allocates nothing.
m2.step()
micropython.heap_lock()
try:
    for _ in range(100):
        m2.step()
finally:
    micropython.heap_unlock()
print("heap-locked steps ok")
