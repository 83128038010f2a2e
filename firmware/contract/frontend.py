# meterkast: the measurement front-end contract, the one interface every metrology supplier fits
# MIT license
#
# A front-end turns the physical inputs of one meter second into integers. Two suppliers exist
# (a sampled-waveform front-end and a metering-IC front-end); the metrology core, and everything
# above it, cannot tell which one is fitted. A third supplier implements exactly this:
#
#   class MyFrontend:
#       phases = 3                      # 1 or 3
#       def measure(self, second, out): # once per monotonic meter second, in order
#           ...                         # fill `out` (array('i', FIELDS)) as below, no allocation
#
# Rate and order: metrology calls measure(second, out) exactly once for every monotonic meter
# second 0, 1, 2, ... in order (seconds are never skipped or repeated; while the emulator
# catches up at high speed several calls come back to back). It fills every field, phases it
# does not have with 0. It must not allocate in steady state (the metrology task runs it under
# the same rules as an interrupt-driven loop) and must return well within the second.
#
# Who owns what: the front-end owns its calibration and its sub-second state (remainders,
# window accumulators, chip registers); it never sees energy registers, tariffs, keys or time
# of day. The metrology core owns the energy registers, the tariff, the LED pulse output
# (metering/pulse.py, fed with the same energy as the registers) and everything derived.
#
# Units and meaning of the fields for second `second` (the interval [second, second + 1)):
#   ENERGY_MWS + p   signed active energy of phase p in mWs (millijoule); + import, - export.
#                    Summed over seconds it must equal the true energy to the front-end's
#                    accuracy: a front-end carries its own sub-mWs remainders. Energy below the
#                    no-load (creep) threshold is not counted at all (and FLAG_NO_LOAD is set).
#   POWER_MW + p     signed mean active power of phase p over its last window, mW
#   VOLTAGE_DV + p   RMS voltage, 0.1 V
#   CURRENT_MA + p   RMS current, mA
#   FREQUENCY_MHZ    line frequency, mHz (0 when no phase has voltage)
#   FLAGS            FLAG_* bits
#   POWER_FACTOR + p signed power factor of phase p over its last window, thousandths
#                    (P / (Vrms Irms); the sign is the sign of P; 0 without current)
# Fields are only ever appended, so a consumer built for fewer fields keeps working.
from micropython import const

ENERGY_MWS = const(0)  # 3 fields
POWER_MW = const(3)  # 3 fields
VOLTAGE_DV = const(6)  # 3 fields
CURRENT_MA = const(9)  # 3 fields
FREQUENCY_MHZ = const(12)
FLAGS = const(13)
POWER_FACTOR = const(14)  # 3 fields
FIELDS = const(17)

FLAG_NO_LOAD = const(0x01)  # below the no-load (creep) threshold: no energy counted
FLAG_NO_VOLTAGE = const(0x02)  # supply absent on every phase (power failure in progress)
