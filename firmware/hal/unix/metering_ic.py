# meterkast: an emulated metering chip (modelled on the ADE7953) behind an emulated SPI bus
# MIT license
#
# One chip per phase, as a three-phase meter built from single-phase chips would have, on one
# SPI bus with a chip-select pin each. The firmware driver (metering/ade7953.py) sees only
# machine.SPI / machine.Pin behaviour: CS low, bytes clocked both ways, CS high.
#
# Modelled on the ADE7953 datasheet and its register map (Pfannex/ADE7953_Breakoutboard
# ADE7953_REG.h; ESPHome ade7953_spi): 16-bit address, command byte 0x80 read / 0x00 write, then
# the data MSB first; the register width follows from the address (0x0xx 8 bits, 0x1xx 16,
# 0x2xx 24, 0x3xx the same registers as 32 bits, signed ones sign-extended); AENERGYA is a 24-bit
# signed accumulator, read-with-reset while LCYCMODE bit 6 (RSTREAD, the default) is set and
# wrapping with the overflow flag otherwise; no-load: while |AWATT| < AP_NOLOAD the energy does
# not accumulate and ACCMODE bit 16 (ACTNLOAD_A) is set; ACCMODE bit 10 (APSIGN_A) is the sign
# of the active power; AVGAIN/AIGAIN/AWGAIN scale by value / 0x400000; PHCALA delays the current
# in steps of 1/223.75 kHz (sign-magnitude); PERIOD counts a 223.75 kHz clock per line cycle;
# the unlock write (0xAD to 0x0FE, then 0x30 to 0x120) is required for rated accuracy; writes
# are reflected in LAST_OP / LAST_ADD / LAST_RWDATA (reads of those three leave them alone:
# an assumption, so a driver can check a write with two reads). Chosen for the emulation (the real scale
# depends on the PGA and the board's divider and shunt): VRMS 20,000 LSB/V, IRMSA 100,000 LSB/A,
# AWATT 400 LSB/W, AENERGYA 1/64 Ws per LSB, the IRQSTATA bit positions, and the error model
# (the Sensor of the phase before calibration, plus 2 mW + 0.005 % noise on the power).
#
# Checked against the public datasheet (ADE7953 Rev. B, pages seen in this project's search):
# register widths and the 32-bit view sign-extending the 24-bit value, PHCALA/PHCALB
# sign-magnitude, LAST_OP 0x35 read / 0xCA write, LCYCMODE default 0x40 (p. 60); ACCMODE bits
# AWATTACC[1:0] 00 signed / 01 positive-only / 10 absolute, APSIGN_A bit 10, ACTNLOAD_A bit 16
# (p. 65); active power accumulated every 143 us (6.99 kHz = CLKIN/512) into an internal 48-bit
# register that feeds the 24-bit AENERGYA, signed, at most ~206.9 kHz of LSBs with full-scale
# inputs (p. 25); AWATT and the other instantaneous registers updated at 6.99 kHz (p. 37); 1.23 kHz
# measurement bandwidth (p. 1). NOT consistent with the datasheet (left for a change that also
# touches tests/fw/test_frontend_ic.py and ic_frontend.BOARD_SCALE): with 20,000 VRMS LSB/V and
# 100,000 IRMSA LSB/A the RMS full-scale code (9,032,007 at 0.5 V peak, PGA 1: an EngineerZone
# answer and a public driver, not the primary page) puts full scale at 451.6 V and 90.3 A rms;
# AWATT would then be 4,862,401 / 40,789 W = 119 LSB/W (here 400) and AENERGYA 206,900 / 40,789 W
# = 5.07 LSB/Ws (here 64). The 90 A rms full scale (128 A peak) would also clip a crest-factor-3
# current at Imax (180 A peak); a board needs ~50,000 IRMSA LSB/A (255 A peak) for that. The
# PHCALA step (here 1/223.75 kHz = 4.47 us) is 1/895 kHz = 1.117 us (0.02 degrees at 50 Hz) in a
# public driver: unverified either way. The distortion benches see the chip as exact (its own
# sampling at ~900 kHz and its 1.23 kHz bandwidth are not modelled).
#
# The chip's physics runs per meter second (ChipSet.run_until): the world of hal.unix.signals,
# integrated exactly, through the phase's sensor and the chip's calibration registers.
import math

# register addresses (24-bit view; 0x100 higher for the 32-bit view)
DISNOLOAD = 0x001
LCYCMODE = 0x004
LAST_OP = 0x0FD
UNLOCK = 0x0FE
LAST_RWDATA8 = 0x0FF
CONFIG = 0x102
PHCALA = 0x108
PFA = 0x10A
PERIOD = 0x10E
RESERVED_120 = 0x120
LAST_ADD = 0x1FE
LAST_RWDATA16 = 0x1FF
ACCMODE = 0x201
AP_NOLOAD = 0x203
AWATT = 0x212
IRMSA = 0x21A
VRMS = 0x21C
AENERGYA = 0x21E
IRQSTATA = 0x22D
RSTIRQSTATA = 0x22E
AIGAIN = 0x280
AVGAIN = 0x281
AWGAIN = 0x282
LAST_RWDATA24 = 0x2FF
VERSION = 0x702

RSTREAD = 0x40
ACTNLOAD_A = 1 << 16
APSIGN_A = 1 << 10
AEHFA = 1 << 0  # active energy register half full
AEOFA = 1 << 3  # active energy register overflowed
CLOCK_HZ = 223750

_DEFAULTS = {
    DISNOLOAD: 0, LCYCMODE: RSTREAD, CONFIG: 0x8004, PHCALA: 0, RESERVED_120: 0, ACCMODE: 0,
    AP_NOLOAD: 0x00E419, AIGAIN: 0x400000, AVGAIN: 0x400000, AWGAIN: 0x400000, VERSION: 0x80,
}
_SIGNED = (AWATT, AENERGYA, PFA)
_CHECK = (LAST_OP, LAST_ADD, LAST_RWDATA8, LAST_RWDATA16, LAST_RWDATA24)
_READ_ONLY = (LAST_OP, LAST_RWDATA8, PFA, PERIOD, LAST_ADD, LAST_RWDATA16, AWATT, IRMSA, VRMS,
              AENERGYA, IRQSTATA, RSTIRQSTATA, LAST_RWDATA24, VERSION)
_V_LSB = 20000  # per volt
_I_LSB = 100000  # per ampere
_W_LSB = 400  # per watt
_E_LSB_PER_WS = 64


def width_of(addr):
    """Register width in bytes, from the address range."""
    if addr < 0x100 or addr >= 0x700:
        return 1
    if addr < 0x200:
        return 2
    if addr < 0x300:
        return 3
    return 4


class Ade7953Model:
    """The chip: registers, one SPI transaction at a time, and one second of physics at a time."""

    def __init__(self, mains, phase, sensor, seed=1):
        self.mains = mains
        self.phase = phase
        self.sensor = sensor
        self.seed = seed
        self.reset()

    def reset(self):
        self.regs = dict(_DEFAULTS)
        self.regs.update({AWATT: 0, IRMSA: 0, VRMS: 0, AENERGYA: 0, IRQSTATA: 0, PFA: 0,
                          PERIOD: 0, LAST_OP: 0, LAST_ADD: 0, LAST_RWDATA8: 0, LAST_RWDATA16: 0,
                          LAST_RWDATA24: 0})
        self._unlocked = False
        self._energy_frac = 0  # the accumulator's bits below the register LSB, in 2^-16 LSB
        self._frame = None

    # -- physics -----------------------------------------------------------------------------
    def physics(self, second):
        """What the chip's ADCs and DSP see in one second, before its gain registers:
        (active energy mWs, Vrms, Irms, line frequency). The phase's sensor errors are in; the
        PHCALA delay of the current takes the CT's lead out."""
        m = self.mains
        m.load(second)
        s = self.sensor
        ph = self.regs[PHCALA]
        delay = ((ph & 0x1FF) * (-1 if ph & 0x200 else 1)) / CLOCK_HZ
        gv = 1 + s.v_gain
        gi = 1 + s.i_gain
        mws = m.exact_mws(self.phase, s.ct_lead, -delay, True) * gv * gi
        vrms, irms = m.rms(self.phase)
        return mws, vrms * gv, irms * gi, m.freq

    def run_second(self, second):
        r = self.regs
        mws, vrms, irms, freq = self.physics(second)
        g = 1 / 0x400000
        kv = r[AVGAIN] * g
        ki = r[AIGAIN] * g
        if r[RESERVED_120] != 0x30:
            ki *= 1.004  # not set up as the datasheet asks: off its rated accuracy
        mws *= kv * ki * r[AWGAIN] * g
        mws += _noise(self.seed, second, self.phase) * (2.0 + 5e-5 * abs(mws))
        vrms *= kv
        irms *= ki
        r[VRMS] = min(0xFFFFFF, int(vrms * _V_LSB))
        r[IRMSA] = min(0xFFFFFF, int(irms * _I_LSB))
        awatt = int(round(mws / 1000 * _W_LSB))
        r[AWATT] = awatt & 0xFFFFFF
        va = vrms * irms
        pf = mws / 1000 / va if va > 0 else 0.0
        r[PFA] = int(round(max(-1.0, min(1.0, pf)) * 0x7FFF)) & 0xFFFF
        r[PERIOD] = int(round(CLOCK_HZ / freq)) - 1 if vrms > 10 else 0xFFFF
        acc = r[ACCMODE] & ~(ACTNLOAD_A | APSIGN_A)
        if awatt < 0:
            acc |= APSIGN_A
        if not (r[DISNOLOAD] & 1) and abs(awatt) < r[AP_NOLOAD]:
            r[ACCMODE] = acc | ACTNLOAD_A
            return  # no-load: nothing accumulates (and nothing is carried)
        r[ACCMODE] = acc
        mode = acc & 3  # AWATTACC: 0 signed, 1 positive only, 2 absolute
        if mode == 1 and mws < 0:
            return
        if mode == 2:
            mws = abs(mws)
        frac = self._energy_frac + int(round(mws / 1000 * _E_LSB_PER_WS * 65536))
        whole = frac >> 16
        self._energy_frac = frac - (whole << 16)
        e = _s24(r[AENERGYA]) + whole
        if e >= 1 << 23 or e < -(1 << 23):
            r[IRQSTATA] |= AEOFA
        if abs(_s24(e & 0xFFFFFF)) >= 1 << 22:
            r[IRQSTATA] |= AEHFA
        r[AENERGYA] = e & 0xFFFFFF

    # -- the SPI slave --------------------------------------------------------------------------
    def select(self):
        self._frame = bytearray()
        self._out = b""

    def deselect(self):
        f = self._frame
        self._frame = None
        if f is None or len(f) < 3 or f[2] != 0x00:
            return
        addr = f[0] << 8 | f[1]
        w = width_of(addr)
        if len(f) < 3 + w:
            return  # a short write does nothing
        value = 0
        for k in range(3, 3 + w):
            value = value << 8 | f[k]
        self._write(addr, value, w)

    def clock(self, byte):
        """One byte in on MOSI, one byte out on MISO (the chip answers from byte 3 on)."""
        f = self._frame
        if f is None:
            return 0xFF
        k = len(f)
        f.append(byte)
        if k == 2 and byte == 0x80:
            addr = f[0] << 8 | f[1]
            w = width_of(addr)
            v = self._read(addr, w)
            self._out = bytes((v >> (8 * (w - 1 - j))) & 0xFF for j in range(w))
        if k >= 3 and k - 3 < len(self._out):
            return self._out[k - 3]
        return 0

    def transfer(self, tx, rx):
        """A whole frame in one call (the usual case): the same as clock() byte by byte."""
        n = len(tx)
        if self._frame is None or len(self._frame) or n < 3:
            for k in range(n):
                rx[k] = self.clock(tx[k])
            return
        addr = tx[0] << 8 | tx[1]
        w = width_of(addr)
        rx[0] = rx[1] = rx[2] = 0
        if tx[2] == 0x80:
            v = self._read(addr, w)
            for k in range(3, n):
                j = k - 3
                rx[k] = (v >> (8 * (w - 1 - j))) & 0xFF if j < w else 0
            self._frame.extend(tx)  # later bytes of this frame (if any) are ignored
            self._out = b""
        else:
            self._frame.extend(tx)  # committed when CS rises, as on the chip
            for k in range(3, n):
                rx[k] = 0

    def _key(self, addr):
        return addr - 0x100 if 0x300 <= addr < 0x400 else addr

    def _read(self, addr, w):
        key = self._key(addr)
        r = self.regs
        v = r.get(key, 0)
        if key == AENERGYA and r[LCYCMODE] & RSTREAD:
            r[AENERGYA] = 0  # read with reset: atomically, no energy falls between
        if key == RSTIRQSTATA:
            v = r[IRQSTATA]
            r[IRQSTATA] = 0
        if w == 4 and key in _SIGNED and v & 0x800000:
            v |= 0xFF000000  # 32-bit view of a signed 24-bit register
        if key not in _CHECK:  # reading the check registers leaves them as they were
            r[LAST_OP] = 0x35
            r[LAST_ADD] = addr
        return v & ((1 << (8 * w)) - 1)

    def _write(self, addr, value, w):
        key = self._key(addr)
        r = self.regs
        if key == UNLOCK:
            self._unlocked = value == 0xAD
            return
        if key == RESERVED_120 and not self._unlocked:
            return
        self._unlocked = False
        if key in _READ_ONLY or key not in r:
            return
        if key == CONFIG and value & 0x80:
            self.reset()  # SWRST
            return
        r[key] = value & ((1 << (8 * min(w, 3))) - 1)
        r[LAST_OP] = 0xCA
        r[LAST_ADD] = addr
        last = LAST_RWDATA8 if w == 1 else (LAST_RWDATA16 if w == 2 else LAST_RWDATA24)
        r[last] = r[key]


def _s24(v):
    return v - 0x1000000 if v & 0x800000 else v


def _noise(seed, second, phase):
    """Deterministic zero-mean noise of unit variance (a uniform, scaled), cheap."""
    x = (seed * 0x9E3779B1 + second * 0x85EBCA77 + phase * 0xC2B2AE3D) & 0x7FFFFFFF
    x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return (x / 0x7FFFFFFF - 0.5) * 3.4641016


class EmulatedPin:
    """machine.Pin as a chip select: pin(0) selects, pin(1) deselects the attached chip."""

    def __init__(self, value=1):
        self._v = value
        self.chip = None
        self.bus = None

    def __call__(self, value=None):
        return self.value(value)

    def value(self, value=None):
        if value is None:
            return self._v
        value = 1 if value else 0
        if value != self._v and self.chip is not None:
            if value == 0:
                self.chip.select()
                self.bus.selected += 1
                self.bus.chip = self.chip
            else:
                self.chip.deselect()
                self.bus.selected -= 1
        self._v = value

    def init(self, *args, **kw):
        pass


class EmulatedSpi:
    """machine.SPI: full duplex, the selected chip answers; MISO floats high when no chip or
    more than one is selected (a bus fight reads as garbage, here as 0xFF)."""

    def __init__(self):
        self.pins = []
        self.transfers = 0
        self.selected = 0
        self.chip = None

    def attach(self, pin, chip):
        pin.chip = chip
        pin.bus = self
        self.pins.append(pin)

    def write_readinto(self, tx, rx):
        self.transfers += 1
        if self.selected == 1:
            self.chip.transfer(tx, rx)
        else:
            for k in range(len(tx)):
                rx[k] = 0xFF

    def write(self, buf):
        if self.selected == 1:
            for b in buf:
                self.chip.clock(b)

    def readinto(self, buf, write=0):
        for k in range(len(buf)):
            buf[k] = self.chip.clock(write) if self.selected == 1 else 0xFF


class ChipSet:
    """The chips of one meter on one bus; run_until(second) lets their physics catch up."""

    def __init__(self, mains, sensors, seed=1):
        self.bus = EmulatedSpi()
        self.chips = []
        self.pins = []
        for p in range(mains.phases):
            chip = Ade7953Model(mains, p, sensors[p], seed)
            pin = EmulatedPin()
            self.bus.attach(pin, chip)
            self.chips.append(chip)
            self.pins.append(pin)
        self.second = 0

    def run_until(self, end):
        """Advance every chip through the meter seconds before `end`."""
        while self.second < end:
            for chip in self.chips:
                chip.run_second(self.second)
            self.second += 1

    def factory_calibration(self, f_nominal=50):
        """Per phase (AVGAIN, AIGAIN, AWGAIN, PHCALA) from the sensor model: the yardstick for
        hal.unix.factory, which finds them by measurement through the SPI driver."""
        cal = []
        for chip in self.chips:
            s = chip.sensor
            ph = int(round(s.ct_lead / (2 * math.pi * f_nominal) * CLOCK_HZ))
            ph = (0x200 | -ph) if ph < 0 else ph
            cal.append((int(round(0x400000 / (1 + s.v_gain))), int(round(0x400000 / (1 + s.i_gain))),
                        0x400000, ph))
        return cal
