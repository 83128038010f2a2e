# meterkast: ADE7953 single-phase metering IC driver, SPI transport
# MIT license
#
# Register access only; what the registers mean for the meter is metering/ic_frontend.py.
# The bus and chip-select pin are handed in (machine.SPI and machine.Pin on a board: mode 3,
# MSB first, up to 2 MHz; the emulated ones from hal/unix/metering_ic.py on the emulator).
# Frame: address (16 bits, MSB first), command 0x80 read / 0x00 write, data MSB first; the
# width follows from the address: 0x0xx 8 bits, 0x1xx 16, 0x2xx 24 (0x3xx is the 32-bit view,
# not used here: 32-bit values would not stay small ints on a 32-bit board).
# A UART transport would subclass Ade7953 and override _transfer (the register layer stays).
#
# What the registers mean, as the public datasheet (ADE7953 Rev. B, the pages this project's
# search holds) states it; "secondary" marks a figure taken from a public driver or forum answer
# because the datasheet page itself was not seen:
# - Register widths by address range, 24-bit signed values sign-extended in the 32-bit view,
#   PHCALA/PHCALB sign-magnitude, LAST_OP 0x35 read / 0xCA write, LCYCMODE default 0x40
#   (RSTREAD): "ADE7953 Registers", Table 13/14, p. 60.
# - ACCMODE: AWATTACC[1:0] 00 signed / 01 positive-only / 10 absolute, APSIGN_A bit 10
#   (1 = negative active power, energy flowing back to the grid), ACTNLOAD_A bit 16: Table 21,
#   p. 65. Active power is signed; "more than 90 degrees" between V and I gives negative power,
#   "negative energy is subtracted from positive energy": "Sign of Active Power Calculation" and
#   "Active Energy Calculation", p. 25.
# - Energy: the active power is accumulated every 143 us (6.99 kHz) into an internal 48-bit
#   register; each time it crosses a fixed threshold one LSB goes into the 24-bit AENERGYA, "a
#   maximum accumulation rate of approximately 206.9 kHz with full-scale inputs" (p. 25).
#   AENERGY_FULL_SCALE_HZ below. Instantaneous registers (AWATT, ...) update at 6.99 kHz =
#   CLKIN/512 (p. 37), so CLKIN = 3.58 MHz; the 3.579545 MHz crystal value is secondary.
# - Analog inputs: +-500 mV peak at PGA gain 1 on every channel; PGA_V (0x007), PGA_IA (0x008)
#   bits[2:0]: 0 x1, 1 x2, 2 x4, 3 x8, 4 x16, 5 x22 (x22 current channels only). The register
#   addresses are Table 13 (p. 60) and "up to x22" is p. 1; the +-500 mV and the code table are
#   secondary (Analog Devices' no-OS ade7953.h, SparkFun and Mongoose OS drivers agree).
# - RMS: a full-scale sine (500 mV peak at PGA 1) reads 9,032,007 in VRMS / IRMSA; AWATT reads
#   4,862,401 with full-scale sines on both channels in phase. Secondary: an EngineerZone
#   question ("RMS register gives value 9032007 at full scale, according to datasheet"; its own
#   numbers fit a 0.5 V *peak* sine, 0.354 V rms) and a public Python driver (both constants,
#   with 1/206,900 s per energy LSB at full scale, consistent with p. 25).
# - CONFIG (0x102, default 0x8004): bit 2 HPFEN, the high-pass filters that remove DC, on by
#   default, one bit for all channels; bit 7 SWRST. Bit positions: no-OS ade7953.h; "all
#   channels": SparkFun's register map (secondary).
# - PHCALA: one LSB = 1/894.9 kHz = 1.117 us (0.02 degrees at 50 Hz), CLKIN/4. Secondary and
#   unverified: a public driver (1/895,000 s) and an EngineerZone calibration thread (893,850).
# - PERIOD: the line period in counts of a 223.75 kHz clock (about CLKIN/16), as this driver
#   always had it; the page was not seen again for this header (unverified).
from micropython import const

DISNOLOAD = const(0x001)
LCYCMODE = const(0x004)
PGA_V = const(0x007)
PGA_IA = const(0x008)
LAST_OP = const(0x0FD)
UNLOCK = const(0x0FE)
CONFIG = const(0x102)
PHCALA = const(0x108)
PFA = const(0x10A)
PERIOD = const(0x10E)
RESERVED_120 = const(0x120)
LAST_ADD = const(0x1FE)
ACCMODE = const(0x201)
AP_NOLOAD = const(0x203)
AWATT = const(0x212)
IRMSA = const(0x21A)
VRMS = const(0x21C)
AENERGYA = const(0x21E)
IRQSTATA = const(0x22D)
RSTIRQSTATA = const(0x22E)
AIGAIN = const(0x280)
AVGAIN = const(0x281)
AWGAIN = const(0x282)
LAST_RWDATA24 = const(0x2FF)
VERSION = const(0x702)

RSTREAD = const(0x40)  # LCYCMODE: AENERGYx read with reset
HPFEN = const(0x04)  # CONFIG: high-pass filters on (all channels)
CONFIG_DEFAULT = const(0x8004)
ACTNLOAD_A = const(0x10000)  # ACCMODE: channel A active power below AP_NOLOAD
APSIGN_A = const(0x400)  # ACCMODE: channel A active power negative
AEOFA = const(0x08)  # IRQSTATA: channel A active energy register overflowed

# datasheet figures (see the header for where each comes from)
INPUT_FULL_SCALE_UV = const(500000)  # +-500 mV peak at PGA 1
RMS_FULL_SCALE = const(9032007)  # VRMS / IRMSA of a full-scale sine
AWATT_FULL_SCALE = const(4862401)  # AWATT with full-scale sines in phase on V and I
AENERGY_FULL_SCALE_HZ = const(206900)  # AENERGYA LSB per second at that full-scale power
CLKIN_HZ = const(3579545)
PERIOD_CLOCK_HZ = const(223750)  # PERIOD counts this clock per line cycle
PHCAL_STEP_HZ = const(894886)  # CLKIN / 4: one PHCALA LSB delays by 1 / this (secondary)
PGA_GAINS = (1, 2, 4, 8, 16, 22)  # PGA_x register code = index

_LAST_OP_WRITE = const(0xCA)
_READ = const(0x80)


class BusError(Exception):
    pass


class Ade7953:
    def __init__(self, spi, cs):
        self._spi = spi
        self._cs = cs
        cs(1)
        self._tx = bytearray(7)
        self._rx = bytearray(7)
        tx = memoryview(self._tx)
        rx = memoryview(self._rx)
        # one view per frame length (8, 16, 24 bits of data): made once, reused
        self._txv = (tx[:4], tx[:5], tx[:6])
        self._rxv = (rx[:4], rx[:5], rx[:6])

    @staticmethod
    def width(reg):
        if reg < 0x100 or reg >= 0x700:
            return 1
        if reg < 0x200:
            return 2
        return 3

    def _transfer(self, n):
        self._cs(0)
        self._spi.write_readinto(self._txv[n - 1], self._rxv[n - 1])
        self._cs(1)

    def read(self, reg):
        """Unsigned register value (8, 16 or 24 bits)."""
        n = 1 if reg < 0x100 or reg >= 0x700 else (2 if reg < 0x200 else 3)
        tx = self._tx
        tx[0] = reg >> 8
        tx[1] = reg & 0xFF
        tx[2] = _READ
        tx[3] = tx[4] = tx[5] = 0
        cs = self._cs
        cs(0)
        self._spi.write_readinto(self._txv[n - 1], self._rxv[n - 1])
        cs(1)
        rx = self._rx
        if n == 3:
            return rx[3] << 16 | rx[4] << 8 | rx[5]
        if n == 2:
            return rx[3] << 8 | rx[4]
        return rx[3]

    def read_s24(self, reg):
        v = self.read(reg)
        return v - 0x1000000 if v & 0x800000 else v

    def read_s16(self, reg):
        v = self.read(reg)
        return v - 0x10000 if v & 0x8000 else v

    def write(self, reg, value, verify=True):
        n = self.width(reg)
        tx = self._tx
        tx[0] = reg >> 8
        tx[1] = reg & 0xFF
        tx[2] = 0
        for k in range(n):
            tx[2 + n - k] = (value >> (8 * k)) & 0xFF
        self._transfer(n)
        # the chip reports the last successful write: a dead or noisy bus shows here
        if verify and (self.read(LAST_OP) != _LAST_OP_WRITE or self.read(LAST_ADD) != reg):
            raise BusError("write of 0x%03x not acknowledged" % reg)

    def setup(self, avgain, aigain, awgain, phcala, no_load, read_with_reset=True, pga_v=1,
              pga_i=1, hpf=True):
        """Bring the chip to rated accuracy and load the meter's calibration. pga_v / pga_i:
        the PGA gains of the board's design (1, 2, 4, 8, 16; 22 for the current); hpf: keep
        the high-pass filters (the default) or pass DC, e.g. a half-wave rectified load's."""
        self.write(UNLOCK, 0xAD, verify=False)  # the datasheet's required setting of 0x120
        self.write(RESERVED_120, 0x30)
        self.write(PGA_V, PGA_GAINS.index(pga_v))
        self.write(PGA_IA, PGA_GAINS.index(pga_i))
        self.write(CONFIG, CONFIG_DEFAULT if hpf else CONFIG_DEFAULT & ~HPFEN)
        self.write(AVGAIN, avgain)
        self.write(AIGAIN, aigain)
        self.write(AWGAIN, awgain)
        self.write(PHCALA, phcala)
        self.write(AP_NOLOAD, no_load)
        self.write(DISNOLOAD, 0)
        self.write(ACCMODE, 0)  # signed accumulation: export counts negative
        self.write(LCYCMODE, RSTREAD if read_with_reset else 0)
        self.read(RSTIRQSTATA)
