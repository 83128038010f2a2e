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
# Who owns what: the front-end owns its calibration and its sub-second state (remainders,
# window accumulators, chip registers); it never sees energy registers, tariffs, keys or time
# of day. The metrology core owns the energy registers and everything derived from them.
#
# Units and meaning of the fields for second `second` (the interval [second, second + 1)):
#   ENERGY_MWS + p   signed active energy of phase p in mWs (millijoule); + import, - export.
#                    Summed over seconds it must equal the true energy to the front-end's
#                    accuracy: a front-end carries its own sub-mWs remainders.
#   POWER_MW + p     signed mean active power of phase p over its last window, mW
#   VOLTAGE_DV + p   RMS voltage, 0.1 V
#   CURRENT_MA + p   RMS current, mA
#   FREQUENCY_MHZ    line frequency, mHz
#   FLAGS            FLAG_* bits
from micropython import const

ENERGY_MWS = const(0)  # 3 fields
POWER_MW = const(3)  # 3 fields
VOLTAGE_DV = const(6)  # 3 fields
CURRENT_MA = const(9)  # 3 fields
FREQUENCY_MHZ = const(12)
FLAGS = const(13)
FIELDS = const(14)

FLAG_NO_LOAD = const(0x01)  # below the no-load (creep) threshold: no energy counted
FLAG_NO_VOLTAGE = const(0x02)  # supply absent on every phase (power failure in progress)
