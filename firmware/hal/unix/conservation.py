# meterkast: 24 h energy conservation bench: 86,400 meter seconds through a front-end, the
# metrology registers and the LED, against the exact integral of the synthesised signals
# MIT license
#
# What it proves: the per-second energy path (front-end remainders, window -> second scaling,
# net import/export split, tariff registers with their remainders, pulse output with its
# remainder) neither loses nor creates energy over a day of the 1 s steps of a real meter.
#
# Why a special source: a day at the sample level is 830 million samples, hours of MicroPython;
# and a realistic source leaves a legitimate measurement error (a few 0.001 %) that over a
# day's ~25 kWh is larger than the 1 Wh to be checked, hiding any leak of that size. So:
#   waveform: each meter second is measured from one representative window (the path the
#     emulator runs above real time), fed with square waves in whole samples: 64 per cycle,
#     V = +-7360 counts (230 V at 1/32 V per count), I = +-B counts (1/320 A) shifted k samples
#     (PF (32 - 2k) / 32). Their exact integral per second is B (32 - 2k) * 2875/128 mWs, an
#     integer sum the window DSP must reproduce to the mWs, edges included.
#   ic: the same per-second energies served as chip registers (ChipFeed, below) to the real
#     driver and IcFrontend.
# The load: a synthetic Dutch weekday (fridge, kettle, oven, washer at PF 0.81, dishwasher at
# PF 0.875, PV export on L1 around noon, a home battery exporting after 23:00 in the low
# tariff), per-minute steps plus a per-second wobble, never
# within 5 W of zero on a phase (below the creep threshold a meter rightly counts nothing).
import math
from array import array

import micropython
from util.tz import to_seconds

_A = 7360  # voltage amplitude, counts of 1/32 V
_T0 = to_seconds(2026, 3, 3, 23, 0, 0)  # local midnight (CET) starting Wednesday 4 March 2026
DAY = 86400


@micropython.viper
def _square(buf: ptr16, n: int, first: int, amp: int):
    """buf[j] = +amp for (first + j) mod 64 in [0, 32), else -amp."""
    j = 0
    while j < n:
        if (first + j) & 63 < 32:
            buf[j] = amp
        else:
            buf[j] = 0 - amp
        j += 1


class DayProfile:
    """Per phase and second: current amplitude B (counts of 1/320 A, negative = export) and
    shift k (samples): power 0.71875 * B * (32 - 2k) / 32 W, exact energy B (32-2k) 2875/128 mWs."""

    def __init__(self):
        self.b = [array("h", bytes(2 * 1440)) for _ in range(3)]
        self.k = [array("b", bytes(1440)) for _ in range(3)]
        for m in range(1440):
            w = [45.0, 30.0, 35.0]
            k = [0, 0, 0]
            if m % 60 < 20:
                w[0] += 90  # fridge
            if 600 <= m < 640:
                w[0] += 2000  # washer
                k[0] = 3
            if 420 <= m < 1080:
                w[0] -= 3200 * math.sin(math.pi * (m - 420) / 660) ** 1.3  # PV
            for start in (435, 750, 960, 1260):
                if start <= m < start + 3:
                    w[1] += 2200  # kettle
            if 1050 <= m < 1410:
                w[1] += 60  # lights
            if 1050 <= m < 1095:
                w[2] += 2200  # oven
            if 1080 <= m < 1115:
                w[2] += 2800  # cooking
            if 1200 <= m < 1225:
                w[2] += 1900  # dishwasher
                k[2] = 2
            if 1385 <= m < 1420:
                w[2] -= 2500  # home battery selling at night: export in the low tariff
            for p in range(3):
                per_count = 0.71875 * (32 - 2 * k[p]) / 32
                b = int(round(w[p] / per_count))
                if -10 < b < 10:
                    b = 10 if b >= 0 else -10  # keep out of the creep band (10 counts ~ 7 W)
                self.b[p][m] = b
                self.k[p][m] = k[p]

    def at(self, second, p):
        m = second // 60
        b = self.b[p][m]
        wobble = (second * (p + 3)) % 5 - 2  # +-2 counts: the power changes every second
        return (b + wobble if b > 0 else b - wobble), self.k[p][m]


class SquareSource:
    """The sample-source contract (hal/unix/waveform_source.py) over DayProfile square waves."""

    fs = 3200
    phases = 3

    def __init__(self, profile):
        self.profile = profile
        self.n0 = (0, 21, 43)  # phase rotation, whole samples (~120 and ~240 degrees)

    def read(self, second, phase, offset, n, vbuf, ibuf):
        first = (second * 3200 + offset - self.n0[phase]) & 63
        _square(vbuf, n, first, _A)
        b, k = self.profile.at(second, phase)
        _square(ibuf, n, (first - k) & 63, b)

    def factory_calibration(self):
        return [(1 / 32, 1 / 320, 0.0, 0, 0)] * 3


# ChipFeed's own register scale in ic_frontend.BOARD_SCALE's fields (VRMS per 0.1 V, IRMSA per
# mA, AWATT mW per LSB, AENERGYA mWs per LSB, PERIOD clock): whole numbers of 1/128 mWs, so the
# day's reference stays exact (not the reference board's scale, which the emulated chips use)
FEED_SCALE = (2000, 100, 5, 2, 125, 8, 223750)


class ChipFeed:
    """A fast stand-in for the three chips on the SPI bus, serving the DayProfile: per phase the
    energy of each second in AENERGYA LSBs (1/64 Ws) with a chip's own sub-LSB carry, read with
    reset; AWATT, VRMS, IRMSA and PERIOD of the same second; every write acknowledged. The
    emulated ADE7953 (hal/unix/metering_ic.py, tested on its own in tests/fw/test_frontend_ic.py)
    costs ~280 us a meter second in float physics and byte-level SPI; this a fraction of that,
    and the firmware above it (driver, IcFrontend, metrology) is exactly the meter's."""

    def __init__(self, profile):
        self.profile = profile
        self.second = 0
        self.energy = [0, 0, 0]  # LSBs not yet read
        self.frac = [0, 0, 0]  # below one LSB, in 1/128 mWs (one LSB is 2000 of them)
        self.regs = [{}, {}, {}]
        self.written = [0, 0, 0]

    def run_until(self, end):
        while self.second < end:
            s = self.second
            for p in range(3):
                b, k = self.profile.at(s, p)
                e = b * (32 - 2 * k) * 2875  # this second, 1/128 mWs
                whole = (self.frac[p] + e) // 2000
                self.frac[p] += e - whole * 2000
                self.energy[p] += whole
                r = self.regs[p]
                r[0x212] = (e // 320) & 0xFFFFFF  # AWATT: 2.5 mW = 320/128 mWs a second
                r[0x21C] = 230 * 20000  # VRMS
                r[0x21A] = abs(b) * 100000 // 320  # IRMSA
                r[0x10E] = 4474  # PERIOD: 50 Hz
            self.second += 1

    def spi(self, p):
        feed = self

        class Spi:
            def write_readinto(self, tx, rx):
                reg = tx[0] << 8 | tx[1]
                if tx[2] == 0:
                    feed.written[p] = reg
                    return
                if reg == 0x21E:  # AENERGYA, read with reset
                    v = feed.energy[p] & 0xFFFFFF
                    feed.energy[p] = 0
                elif reg == 0x0FD:
                    v = 0xCA  # LAST_OP: a write
                elif reg == 0x1FE:
                    v = feed.written[p]  # LAST_ADD
                else:
                    v = feed.regs[p].get(reg, 0)
                n = len(tx) - 3
                for j in range(n):
                    rx[3 + j] = (v >> (8 * (n - 1 - j))) & 0xFF

        return Spi()


def _no_pin(value=None):
    return 1


def _frontend(kind, profile):
    if kind == "waveform":
        from metering.adc_frontend import AdcFrontend

        src = SquareSource(profile)
        return AdcFrontend(src, src.factory_calibration(), full_rate=False)
    if kind == "ic":
        from metering.ade7953 import Ade7953
        from metering.ic_frontend import IcFrontend

        feed = ChipFeed(profile)
        chips = [Ade7953(feed.spi(p), _no_pin) for p in range(3)]
        return IcFrontend(chips, [(0x400000, 0x400000, 0x400000, 0)] * 3, FEED_SCALE,
                          advance=feed.run_until)
    raise ValueError(kind)


def conservation(kind, emit, seconds=DAY):
    from hal.unix.reference_bench import _metrology

    profile = DayProfile()
    front = _frontend(kind, profile)
    m = _metrology(front, _T0)
    # the reference, in 1/128 mWs: import/export x tariff 1 (night) / 2 (day), and |net|
    ref = [0, 0, 0, 0]
    absolute = 0
    for s in range(seconds):
        m.step()
        net = 0
        for p in range(3):
            b, k = profile.at(s, p)
            net += b * (32 - 2 * k) * 2875
        hour = (s // 3600) % 24  # a weekday without holidays: T2 from 07:00 to 23:00 local
        t = 1 if 7 <= hour < 23 else 0
        if net >= 0:
            ref[t] += net
        else:
            ref[2 + t] -= net
        absolute += net if net >= 0 else -net
    regs = m.registers
    got = [regs.total_mws(r) * 128 for r in range(4)]
    diff_wh = [(got[r] - ref[r]) / 128 / 3600000 for r in range(4)]
    emit({"kind": "conservation", "frontend": kind, "seconds": seconds,
          "registers_wh": [regs.wh[r] for r in range(4)],
          "reference_wh": [ref[r] / 128 / 3600000 for r in range(4)],
          "difference_wh": diff_wh,
          "pulses": m.pulse.pulses, "reference_pulses": absolute // (128 * 3600000),
          "total_kwh": absolute / 128 / 3.6e9})
