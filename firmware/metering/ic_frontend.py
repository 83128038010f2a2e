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

# The reference board: a 5(60) A direct-connected meter, Un 230 V. How its analog network and
# the chip's full-scale codes (metering/ade7953.py header: which are datasheet figures and which
# secondary) give the register scales:
#   Voltage: a divider of 1:1022 (1.021 MOhm over 1 kOhm), PGA_V x1. The chip's +-500 mV peak
#     is 511 V peak on the line, 361.33 V rms; 115 % Un (264.5 V rms, 374 V peak) is 73 % of it.
#     VRMS: 9,032,007 / 361.33 V = 24,996 LSB/V; calibrated (AVGAIN ~1.0001) to 25,000 LSB/V.
#   Current: a 150 uOhm shunt (passes DC), PGA_IA x16: +-500 mV / 16 = +-31.25 mV is 208.3 A
#     peak, 147.3 A rms. A crest-factor-3 current at Imax is 3 x 60 = 180 A peak: 86 % of full
#     scale, with 14 % left for sensor tolerance. (x22 would clip it at 151.5 A peak; x8 would
#     halve the resolution.) IRMSA: 9,032,007 / 147.31 A = 61,311 LSB/A; calibrated (AIGAIN
#     ~0.995) to 61,000 LSB/A. Ist (20 mA) is 1,220 LSB; the datasheet's 0.1 % over 3000:1
#     (p. 1) reaches down to 49 mA.
#   Power: with both channels calibrated, full scale is (9,032,007 / 25,000 V) x (9,032,007 /
#     61,000 A) = 361.28 V x 148.07 A = 53,493 W. AWATT: 4,862,401 LSB there, 90.90 LSB/W, so
#     11.0014 mW/LSB, taken as 11 (AWGAIN trims the 0.013 %). AENERGYA: 206,900 LSB/s there,
#     3.8678 LSB/Ws, 258.546 mWs/LSB, taken as 517/2 (AWGAIN trims the 0.018 %; the two
#     roundings differ by 0.005 % in the AWATT reading).
#   Headroom of the registers: at Imax and 115 % Un (15.9 kW) AENERGYA grows by 61,400 LSB/s,
#     so the 24-bit register (+-2^23) overflows after 137 s when not read with reset (40.5 s at
#     full scale); 61,400 x 517 stays far below 2^30.
# BOARD_SCALE: VRMS LSB per 0.1 V, IRMSA LSB per mA, AWATT mW per LSB (num/den), AENERGYA mWs
# per LSB (num/den), PERIOD clock Hz. REFERENCE_DESIGN: (voltage divider ratio, shunt in uOhm,
# PGA_V, PGA_IA), what the emulated chips (hal/unix/metering_ic.py) are wired to.
BOARD_SCALE = (2500, 61, 11, 1, 517, 2, ade.PERIOD_CLOCK_HZ)
REFERENCE_DESIGN = (1022, 150, 1, 16)


class IcFrontend:
    def __init__(self, chips, calibration, scale=BOARD_SCALE, ib_ma=5000, un_dv=2300,
                 read_with_reset=True, advance=None, pga=REFERENCE_DESIGN[2:], hpf=False):
        """chips: one metering.ade7953.Ade7953 per phase; calibration: per phase
        (AVGAIN, AIGAIN, AWGAIN, PHCALA) from the meter's factory calibration; pga: the
        design's (PGA_V, PGA_IA) gains; hpf: the chip's DC-removing high-pass filters, off by
        default: a meter must register a load's DC (a half-wave rectified load draws a third
        of its peak as DC, and with the filters on the chip reads its Irms as the AC part
        only, 32.7 A instead of 42.4 A in the half-wave test, and its PF too high). The
        energy is the same either way (the grid voltage has no DC). What the filters also
        removed is the chip's own ADC offset: on a board it is nulled at no load with the
        offset registers (AIRMSOS, VRMSOS, AWATTOS; not yet written by this driver), and the
        creep threshold keeps an offset's power from counting."""
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
            chips[ph].setup(avgain, aigain, awgain, phcal, no_load, read_with_reset, pga[0],
                            pga[1], hpf)
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
            # Read with reset nothing overflows; free-running, the 24-bit register overflows
            # after 40 s at full scale (206,900 LSB/s), so a look at the overflow flag every
            # 4 s (phases in turn) is enough.
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
    and, for a network other than REFERENCE_DESIGN, "scale" (BOARD_SCALE's fields), "pga"
    ([PGA_V, PGA_IA] gains) and "hpf" (true: keep the chip's high-pass filters).
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
                      spec.get("ib_ma", 5000), spec.get("un_dv", 2300),
                      pga=tuple(spec.get("pga", REFERENCE_DESIGN[2:])), hpf=spec.get("hpf", False))
