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
from micropython import const

DISNOLOAD = const(0x001)
LCYCMODE = const(0x004)
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
ACTNLOAD_A = const(0x10000)  # ACCMODE: channel A active power below AP_NOLOAD
APSIGN_A = const(0x400)  # ACCMODE: channel A active power negative
AEOFA = const(0x08)  # IRQSTATA: channel A active energy register overflowed
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

    def setup(self, avgain, aigain, awgain, phcala, no_load, read_with_reset=True):
        """Bring the chip to rated accuracy and load the meter's calibration."""
        self.write(UNLOCK, 0xAD, verify=False)  # the datasheet's required setting of 0x120
        self.write(RESERVED_120, 0x30)
        self.write(AVGAIN, avgain)
        self.write(AIGAIN, aigain)
        self.write(AWGAIN, awgain)
        self.write(PHCALA, phcala)
        self.write(AP_NOLOAD, no_load)
        self.write(DISNOLOAD, 0)
        self.write(ACCMODE, 0)  # signed accumulation: export counts negative
        self.write(LCYCMODE, RSTREAD if read_with_reset else 0)
        self.read(RSTIRQSTATA)
