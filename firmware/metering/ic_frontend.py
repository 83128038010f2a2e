# meterkast: supplier B of the front-end contract: one ADE7953 metering IC per phase over SPI
# MIT license
#
# The chip does the sampling, the DSP and the energy integration; this adapter loads the
# calibration at boot, then once per meter second reads each chip's active-energy accumulator
# (read-with-reset, so nothing falls between two reads; or, with read_with_reset=False, the
# free-running register whose 24-bit roll-over is undone by differencing), converts chip LSBs
# to mWs with the remainder carried, and fills the contract fields from the chip's RMS, power,
# power-factor, period and no-load registers.
#
# The no-load (creep) threshold lives in the chip (AP_NOLOAD): below it the chip does not
# accumulate at all. It is set to the same level as the ADC front-end's: half the class-1
# starting load, 0.5 * Un * 0.004 Ib.
#
# `advance` is the emulator's hook: the emulated chips' physics is run up to the end of the
# second before it is read. On a board time passes by itself and advance is None.
from array import array
from micropython import const

from contract.frontend import (
    CURRENT_MA,
    ENERGY_MWS,
    FLAG_NO_LOAD,
    FLAG_NO_VOLTAGE,
    FLAGS,
    FREQUENCY_MHZ,
    POWER_FACTOR,
    POWER_MW,
    VOLTAGE_DV,
)
from metering import ade7953 as ade
from metering.power import power_factor

_NO_VOLTAGE_DV = const(200)

# How the board's front-end network scales the chip registers (divider, shunt or CT, PGA):
# VRMS LSB per 0.1 V, IRMSA LSB per mA, AWATT mW per LSB (num/den), AENERGYA mWs per LSB
# (num/den), PERIOD clock Hz. These match hal/unix/metering_ic.py.
BOARD_SCALE = (2000, 100, 5, 2, 125, 8, 223750)


class IcFrontend:
    def __init__(self, chips, calibration, scale=BOARD_SCALE, ib_ma=5000, un_dv=2300,
                 read_with_reset=True, advance=None):
        """chips: one metering.ade7953.Ade7953 per phase; calibration: per phase
        (AVGAIN, AIGAIN, AWGAIN, PHCALA) from the meter's factory calibration."""
        self.phases = len(chips)
        self._chips = chips
        self._advance = advance
        self._rwr = read_with_reset
        (self._v_div, self._i_div, self._w_num, self._w_den, self._e_num, self._e_den,
         self._clock) = scale
        creep_mw = un_dv * (ib_ma * 4 // 1000) // 20  # 0.5 * Un * Ist, as the ADC front-end
        no_load = creep_mw * self._w_den // self._w_num  # in AWATT LSB
        self._rem = array("i", [0, 0, 0])  # energy below one mWs, in 1/e_den mWs
        self._last = array("i", [0, 0, 0])  # roll-over mode: the register at the last read
        self.overflows = 0  # seconds in which a chip's energy register overflowed (lost energy)
        for ph in range(self.phases):
            avgain, aigain, awgain, phcal = calibration[ph]
            chips[ph].setup(avgain, aigain, awgain, phcal, no_load, read_with_reset)
            if read_with_reset:
                chips[ph].read(ade.AENERGYA)  # start from zero
            else:
                self._last[ph] = chips[ph].read(ade.AENERGYA)

    def measure(self, second, out):
        if self._advance is not None:
            self._advance(second + 1)
        dead = 0
        idle = 0
        for ph in range(3):
            if ph >= self.phases:
                out[ENERGY_MWS + ph] = 0
                out[POWER_MW + ph] = 0
                out[VOLTAGE_DV + ph] = 0
                out[CURRENT_MA + ph] = 0
                out[POWER_FACTOR + ph] = 0
                continue
            chip = self._chips[ph]
            if self._rwr:
                e = chip.read_s24(ade.AENERGYA)
            else:
                raw = chip.read(ade.AENERGYA)
                e = (raw - self._last[ph]) & 0xFFFFFF
                if e & 0x800000:
                    e -= 0x1000000
                self._last[ph] = raw
            t = e * self._e_num + self._rem[ph]
            mws = t // self._e_den
            self._rem[ph] = t - mws * self._e_den
            out[ENERGY_MWS + ph] = mws
            p = chip.read_s24(ade.AWATT) * self._w_num // self._w_den
            out[POWER_MW + ph] = p
            dv = chip.read(ade.VRMS) // self._v_div
            out[VOLTAGE_DV + ph] = dv
            ma = chip.read(ade.IRMSA) // self._i_div
            out[CURRENT_MA + ph] = ma
            # the chip's PFA register holds the same; computing it saves a frame per phase
            out[POWER_FACTOR + ph] = power_factor(p, dv, ma)
            # At full scale the 24-bit register overflows after ~8 s, so a look at the overflow
            # flag every 4 s (phases in turn) is enough.
            if (second & 3) == ph and chip.read(ade.RSTIRQSTATA) & ade.AEOFA:
                self.overflows += 1
            if dv < _NO_VOLTAGE_DV:
                dead += 1
            elif e == 0 and chip.read(ade.ACCMODE) & ade.ACTNLOAD_A:
                idle += 1  # (a chip that accumulated anything this second was not idle)
        period = self._chips[0].read(ade.PERIOD)
        out[FREQUENCY_MHZ] = self._clock * 1000 // (period + 1) if period < 0xFFFF else 0
        flags = 0
        if dead == self.phases:
            flags |= FLAG_NO_VOLTAGE
            out[FREQUENCY_MHZ] = 0
        elif dead + idle == self.phases:
            flags |= FLAG_NO_LOAD
        out[FLAGS] = flags


def from_board(machine, spec, clock):
    """hal.board factory (see hal/board/frontend.py), for a board entry or /meter.json like
    {"kind": "ic", "module": "metering.ic_frontend", "spi": 0, "sck": 18, "mosi": 19,
     "miso": 16, "cs": [17, 20, 21], "calibration": [[AVGAIN, AIGAIN, AWGAIN, PHCALA], ...]}
    One chip select per phase. SPI mode 3 (SCLK idles high, data sampled on the rising edge,
    as the datasheet's timing diagram shows; "polarity"/"phase" override it). The calibration
    is the meter's own, from production: there is no default, an uncalibrated meter does not
    boot."""
    cal = spec.get("calibration")
    if not cal or len(cal) != len(spec["cs"]):
        raise ValueError("metering IC front-end: one calibration entry per chip is required")
    pin = machine.Pin
    spi = machine.SPI(spec.get("spi", 0), baudrate=spec.get("baudrate", 1000000),
                      polarity=spec.get("polarity", 1), phase=spec.get("phase", 1),
                      sck=pin(spec["sck"]), mosi=pin(spec["mosi"]), miso=pin(spec["miso"]))
    chips = [ade.Ade7953(spi, pin(p, pin.OUT, value=1)) for p in spec["cs"]]
    return IcFrontend(chips, cal, tuple(spec.get("scale", BOARD_SCALE)),
                      spec.get("ib_ma", 5000), spec.get("un_dv", 2300))
