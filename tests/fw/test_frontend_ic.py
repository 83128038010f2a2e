# The metering-IC supplier: the emulated ADE7953 (hal.unix.metering_ic) behaves like the chip on
# the wire and in its registers, and the firmware driver (metering.ade7953, ic_frontend) uses
# it right: frames, widths, read-with-reset, roll-over, no-load, accumulation modes, unlock,
# soft reset, write verification, and an allocation-free measure() on a plain SPI bus; and the
# chip's scales as the datasheet gives them (metering/ade7953.py header), on the reference
# board's network (ic_frontend.REFERENCE_DESIGN): full-scale codes, PGA, clipping, the HPF.
import math
import micropython
from array import array

from contract import frontend as fe
from hal.unix import distortion as dist
from hal.unix import metering_ic as mic
from hal.unix.frontends import build_measuring
from hal.unix.reference_bench import DistortedWorld
from hal.unix.signals import ConstantWorld, Mains, Sensor
from metering import ade7953 as ade
from metering.ic_frontend import BOARD_SCALE, REFERENCE_DESIGN, IcFrontend

# The figures, written out again here rather than taken from the code under test:
RMS_FS = 9032007  # VRMS / IRMSA of a full-scale sine (secondary: EngineerZone, a driver)
AWATT_FS = 4862401  # AWATT with full-scale sines in phase (secondary: a driver)
ENERGY_FS_HZ = 206900  # AENERGYA LSB/s at full scale (datasheet p. 25, "approximately")
INPUT_PEAK = 0.5  # V, +-500 mV at PGA 1
DIVIDER, SHUNT, PGA_V, PGA_I = 1022, 150e-6, 1, 16  # the reference board
V_FS = INPUT_PEAK * DIVIDER / PGA_V / math.sqrt(2)  # line V rms of a full-scale sine, 361.3
I_FS = INPUT_PEAK / (PGA_I * SHUNT) / math.sqrt(2)  # line A rms, 147.3
W_LSB = AWATT_FS / (V_FS * I_FS)  # AWATT per W at unity gains, 91.35
E_LSB = ENERGY_FS_HZ / (V_FS * I_FS)  # AENERGYA per Ws at unity gains, 3.887


def chipset(irms=5.0, phi=0.0, vrms=230.0, phases=3, unlocked=True, pga=True):
    """Chips with ideal sensors; `unlocked`: with the datasheet's 0x120 setting done; `pga`:
    with the reference board's PGA gains set (x1 on V, x16 on I). Gains stay at unity."""
    mains = Mains(ConstantWorld(vrms, irms, phi, 50.0, tuple(range(phases))), phases, (), ())
    cs = mic.ChipSet(mains, [Sensor()] * 3)
    for p in range(phases):
        if unlocked:
            write(cs, p, mic.UNLOCK, 0xAD)
            write(cs, p, mic.RESERVED_120, 0x30)
        if pga:
            write(cs, p, mic.PGA_IA, 4)  # code 4: x16
    return cs


def frame(cs, pin, tx):
    rx = bytearray(len(tx))
    pin(0)
    cs.bus.write_readinto(bytearray(tx), rx)
    pin(1)
    return rx


def read(cs, p, addr):
    w = mic.width_of(addr)
    rx = frame(cs, cs.pins[p], [addr >> 8, addr & 0xFF, 0x80] + [0] * w)
    v = 0
    for b in rx[3:]:
        v = v << 8 | b
    return v


def write(cs, p, addr, value):
    w = mic.width_of(addr)
    frame(cs, cs.pins[p], [addr >> 8, addr & 0xFF, 0x00] + [(value >> (8 * (w - 1 - k))) & 0xFF
                                                            for k in range(w)])


def wire_format():
    cs = chipset()
    assert read(cs, 0, mic.VERSION) == 0x80  # 8-bit register
    assert read(cs, 0, mic.CONFIG) == 0x8004  # 16-bit, the datasheet default
    assert read(cs, 0, mic.AP_NOLOAD) == 0x00E419  # 24-bit default 58,393
    assert read(cs, 0, mic.LCYCMODE) == 0x40  # read-with-reset on by default
    # the 32-bit view (0x3xx) of a signed 24-bit register is sign-extended: export power
    cs = chipset(irms=-5.0)
    cs.run_until(1)
    awatt = read(cs, 0, mic.AWATT)
    assert awatt & 0x800000 and read(cs, 0, mic.AWATT + 0x100) == awatt | 0xFF000000
    assert abs(0x1000000 - awatt - 1150 * W_LSB) <= 1150 * W_LSB * 2e-4, awatt  # 0.005 % noise
    # nobody selected, or two chips at once: MISO floats high
    rx = bytearray(6)
    cs.bus.write_readinto(bytearray([2, 0x12, 0x80, 0, 0, 0]), rx)
    assert rx == b"\xff" * 6
    cs.pins[0](0)
    cs.pins[1](0)
    cs.bus.write_readinto(bytearray([2, 0x12, 0x80, 0, 0, 0]), rx)
    assert rx == b"\xff" * 6
    cs.pins[0](1)
    cs.pins[1](1)


def bytewise_equals_framewise():
    cs = chipset()
    cs.run_until(1)
    pin = cs.pins[1]
    pin(0)
    cs.bus.write(bytearray([0x02, 0x1C, 0x80]))  # VRMS: header first, data clocked after
    data = bytearray(3)
    cs.bus.readinto(data)
    pin(1)
    v = data[0] << 16 | data[1] << 8 | data[2]
    assert v == read(cs, 1, mic.VRMS) and abs(v - 230 / V_FS * RMS_FS) <= 1, v
    pin(0)
    cs.bus.write(bytearray([0x02, 0x03, 0x00, 0x00, 0x01]))  # a write split over two calls
    cs.bus.write(bytearray([0x23]))
    pin(1)
    assert read(cs, 1, mic.AP_NOLOAD) == 0x123


def writes():
    cs = chipset(unlocked=False)
    write(cs, 0, mic.AP_NOLOAD, 920)
    # the check registers tell what the last frame was; reading them leaves them alone
    assert read(cs, 0, mic.LAST_OP) == 0xCA and read(cs, 0, mic.LAST_ADD) == mic.AP_NOLOAD
    assert read(cs, 0, mic.LAST_RWDATA24) == 920 and read(cs, 0, mic.LAST_OP) == 0xCA
    assert read(cs, 0, mic.AP_NOLOAD) == 920
    assert read(cs, 0, mic.LAST_OP) == 0x35  # now a read was the last
    assert read(cs, 1, mic.AP_NOLOAD) == 0xE419  # only the selected chip took it
    write(cs, 0, mic.AWATT, 12345)  # read-only: ignored
    assert read(cs, 0, mic.AWATT) == 0
    frame(cs, cs.pins[0], [0x02, 0x03, 0x00, 0x01])  # a short write does nothing
    assert read(cs, 0, mic.AP_NOLOAD) == 920
    # 0x120 only after the unlock key, as the datasheet asks
    write(cs, 0, mic.RESERVED_120, 0x30)
    assert read(cs, 0, mic.RESERVED_120) == 0
    write(cs, 0, mic.UNLOCK, 0xAD)
    write(cs, 0, mic.RESERVED_120, 0x30)
    assert read(cs, 0, mic.RESERVED_120) == 0x30
    # soft reset: CONFIG bit 7
    write(cs, 0, mic.CONFIG, 0x8084)
    assert read(cs, 0, mic.AP_NOLOAD) == 0xE419 and read(cs, 0, mic.RESERVED_120) == 0


def read_with_reset_and_rollover():
    cs = chipset(irms=60.0)  # 13.8 kW: 53,640 LSB a second
    cs.run_until(1)
    e = read(cs, 0, mic.AENERGYA)
    assert abs(e - 13800 * E_LSB) <= 10, e  # within the chip's 0.005 % noise
    assert read(cs, 0, mic.AENERGYA) == 0  # read with reset: nothing left, nothing lost
    write(cs, 0, mic.LCYCMODE, 0)  # free-running: the register wraps at 2^23
    total = 0
    for s in range(2, 330):  # 2^24 LSB take 313 s at this load
        cs.run_until(s)
        total += 13800 * E_LSB
    e = read(cs, 0, mic.AENERGYA)
    assert e == read(cs, 0, mic.AENERGYA)  # no reset now
    assert total > 1 << 24 and abs(e - (total % (1 << 24))) <= total * 1e-4, (e, total)
    assert read(cs, 0, mic.IRQSTATA) & mic.AEOFA
    assert read(cs, 0, mic.RSTIRQSTATA) & mic.AEOFA
    assert read(cs, 0, mic.IRQSTATA) == 0  # read-and-clear


def no_load_and_modes():
    cs = chipset(irms=0.005, vrms=264.5)  # 115 % Un, 1.3 W: below the 2.3 W threshold
    level = int(2.3 * W_LSB)  # 2.3 W in AWATT LSB
    write(cs, 0, mic.AP_NOLOAD, level)
    write(cs, 1, mic.AP_NOLOAD, level)
    write(cs, 1, mic.DISNOLOAD, 1)  # chip 1: no-load detection off
    for s in range(1, 200):
        cs.run_until(s)
        assert read(cs, 0, mic.ACCMODE) & mic.ACTNLOAD_A
    assert read(cs, 0, mic.AENERGYA) == 0
    e = read(cs, 1, mic.AENERGYA)  # without no-load detection the creep is counted
    assert abs(e / (199 * 264.5 * 0.005 * E_LSB) - 1) < 0.001, e
    cs = chipset(irms=-1.0)  # 230 W export
    for p in range(3):  # the default threshold (58,393 LSB) is 640 W on this network
        write(cs, p, mic.AP_NOLOAD, level)
    write(cs, 0, mic.ACCMODE, 1)  # positive only
    write(cs, 1, mic.ACCMODE, 2)  # absolute
    cs.run_until(1)
    assert read(cs, 0, mic.AENERGYA) == 0 and read(cs, 0, mic.ACCMODE) & mic.APSIGN_A
    assert abs(read(cs, 1, mic.AENERGYA) - 230 * E_LSB) <= 2
    assert abs(0x1000000 - read(cs, 2, mic.AENERGYA) - 230 * E_LSB) <= 2  # signed, the default


def driver_setup_and_modes():
    mains = Mains(ConstantWorld(230.0, 60.0, 0.3, 50.0, (0, 1, 2)), 3)
    front = build_measuring("ic", mains)
    cs = front.chipset
    cal = cs.factory_calibration()
    for p in range(3):
        assert read(cs, p, mic.RESERVED_120) == 0x30  # set up for rated accuracy
        # AVGAIN as measured from the truncated VRMS register: within its last LSB of the model
        assert abs(read(cs, p, mic.AVGAIN) - cal[p][0]) <= 1
        assert read(cs, p, mic.PHCALA) == cal[p][3]
        # 0.5 * 230 V * 20 mA = 2.3 W, in AWATT LSB of BOARD_SCALE (mW per LSB, num / den)
        assert read(cs, p, mic.AP_NOLOAD) == 2300 * BOARD_SCALE[3] // BOARD_SCALE[2]
        assert read(cs, p, mic.PGA_V) == 0 and read(cs, p, mic.PGA_IA) == 4  # x1, x16
        assert read(cs, p, mic.CONFIG) == 0x8004 & ~mic.HPFEN  # DC passes: HPFEN off
    # roll-over mode gives the same energy as read-with-reset, across the 24-bit wraps
    mains2 = Mains(ConstantWorld(230.0, 60.0, 0.3, 50.0, (0, 1, 2)), 3)
    roll = build_measuring("ic", mains2, read_with_reset=False)
    out = array("i", [0] * fe.FIELDS)
    sums = [0, 0]
    seconds = 330  # 13.2 kW: ~51,000 LSB/s, past 2^23 after 164 s and 2^24 after 329 s
    for s in range(seconds):
        front.measure(s, out)
        sums[0] += out[fe.ENERGY_MWS]
        roll.measure(s, out)
        sums[1] += out[fe.ENERGY_MWS]
    assert sums[0] == sums[1] and sums[0] > seconds * 13200 * 1000 * 0.9, sums
    assert front.overflows == 0 and roll.overflows > 0  # the flag says the register wrapped


def bus_errors():
    bus = mic.EmulatedSpi()
    pin = mic.EmulatedPin()  # nothing behind this chip select: MISO reads 0xFF
    chip = ade.Ade7953(bus, pin)
    try:
        chip.write(ade.AP_NOLOAD, 920)
        raise AssertionError("a write nobody acknowledged passed")
    except ade.BusError:
        pass
    assert chip.read(ade.VRMS) == 0xFFFFFF


class PlainSpi:
    """A register file behind a machine.SPI-like write_readinto, allocation-free."""

    def __init__(self):
        self.regs = {}
        for reg, v in ((ade.AENERGYA, 4449), (ade.AWATT, 104545), (ade.VRMS, 230 * 25000),
                       (ade.IRMSA, 5 * 61000), (ade.PERIOD, 4474), (ade.ACCMODE, 0),
                       (ade.RSTIRQSTATA, 0), (ade.LAST_OP, 0xCA)):
            self.regs[reg] = v
        self.last = 0

    def write_readinto(self, tx, rx):
        reg = tx[0] << 8 | tx[1]
        if tx[2] == 0:
            self.last = reg
            return
        v = self.last if reg == ade.LAST_ADD else self.regs.get(reg, 0)
        n = len(tx) - 3
        for k in range(n):
            rx[3 + k] = (v >> (8 * (n - 1 - k))) & 0xFF


def cs_pin(v=None):
    return 1


def measure_allocates_nothing():
    chips = [ade.Ade7953(PlainSpi(), cs_pin) for _ in range(3)]
    front = IcFrontend(chips, [(0x400000, 0x400000, 0x400000, 7)] * 3)
    out = array("i", [0] * fe.FIELDS)
    front.measure(0, out)
    total = array("i", [0])
    micropython.heap_lock()
    try:
        for s in range(1, 101):
            front.measure(s, out)
            total[0] += out[fe.ENERGY_MWS]
    finally:
        micropython.heap_unlock()
    # ~1150 J a second at 517/2 mWs per LSB, LSBs to mWs exactly (the remainder carried)
    assert total[0] == 100 * 4449 * 517 // 2
    assert out[fe.POWER_MW] == 104545 * 11 and out[fe.VOLTAGE_DV] == 2300  # 11 mW, 25,000/V
    assert out[fe.CURRENT_MA] == 5000 and out[fe.POWER_FACTOR] == 1000
    assert out[fe.FREQUENCY_MHZ] == 223750000 // 4475  # 50.0 Hz from PERIOD (223.75 kHz)


def chip_accuracy_path():
    # calibration registers undo the sensor's errors; without the unlock the chip is off spec
    s = Sensor(0.012, -0.008, 0.55)
    mains = Mains(ConstantWorld(230.0, 5.0, math.acos(0.5), 50.0, (0,)), 1, (), ())
    cs = mic.ChipSet(mains, [s])
    chip = ade.Ade7953(cs.bus, cs.pins[0])
    cal = cs.factory_calibration()[0]
    mws_per_lsb = BOARD_SCALE[4] / BOARD_SCALE[5]
    chip.setup(cal[0], cal[1], cal[2], cal[3], 209, True, 1, 16, False)
    cs.run_until(10)
    e = chip.read_s24(ade.AENERGYA) * mws_per_lsb
    assert abs(e / (10 * 575000) - 1) < 0.001, e
    chip.write(ade.CONFIG, 0x8084, verify=False)  # reset: gains, PGA and unlock gone
    chip.write(ade.PGA_IA, 4)  # the PGA back (the board's design), the rest left off
    chip.write(ade.AP_NOLOAD, 209)
    cs.run_until(20)
    e = chip.read_s24(ade.AENERGYA) * mws_per_lsb
    assert abs(e / (10 * 575000) - 1) > 0.005, e  # uncalibrated: the sensor's errors show


def board_factory():
    # hal.board calls from_board(machine, spec, clock): here machine.SPI and machine.Pin are the
    # emulated bus and chip selects
    cs = chipset()
    from metering.ic_frontend import from_board

    class Machine:
        class Pin:
            OUT = 1

            def __new__(cls, n, mode=None, value=None):
                return cs.pins[n - 17] if 17 <= n < 20 else object.__new__(cls)

            def __init__(self, *a, **k):
                pass

        @staticmethod
        def SPI(idx, **kw):
            assert kw["polarity"] == 1 and kw["phase"] == 1 and kw["baudrate"] <= 2000000
            return cs.bus

    # ideal sensors: the calibration only trims the design's natural scale to BOARD_SCALE
    spec = {"cs": [17, 18, 19], "sck": 2, "mosi": 3, "miso": 4,
            "calibration": cs.factory_calibration()}
    f = from_board(Machine, spec, None)
    out = array("i", [0] * fe.FIELDS)
    cs.run_until(1)
    f.measure(1, out)
    assert abs(out[fe.ENERGY_MWS + 2] - 1150000) < 200, out
    assert abs(out[fe.VOLTAGE_DV] - 2300) <= 1, out  # 0.1 V, the register truncated
    spec["calibration"] = None  # an uncalibrated meter does not boot
    try:
        from_board(Machine, spec, None)
        raise AssertionError("booted without calibration")
    except ValueError:
        pass


def datasheet_scales():
    # the driver's figures are the ones written out above
    assert (ade.RMS_FULL_SCALE, ade.AWATT_FULL_SCALE, ade.AENERGY_FULL_SCALE_HZ) == (
        RMS_FS, AWATT_FS, ENERGY_FS_HZ)
    assert ade.INPUT_FULL_SCALE_UV == INPUT_PEAK * 1e6 and ade.PGA_GAINS.index(16) == 4
    assert ade.CLKIN_HZ // 512 == 6991  # "6.99 kHz (CLKIN/512)", p. 37
    assert REFERENCE_DESIGN == (DIVIDER, round(SHUNT * 1e6), PGA_V, PGA_I)
    # headroom: a crest-factor-3 current at Imax (3 x 60 A peak) and 115 % Un fit the inputs
    assert 3 * 60 < 0.9 * I_FS * math.sqrt(2) < 0.9 * 208.4
    assert 264.5 * math.sqrt(2) < 0.75 * V_FS * math.sqrt(2)
    # BOARD_SCALE: VRMS and IRMSA a small trim (AVGAIN, AIGAIN) from the network's natural LSB
    v_lsb = BOARD_SCALE[0] * 10  # per V
    i_lsb = BOARD_SCALE[1] * 1000  # per A
    assert abs(v_lsb / (RMS_FS / V_FS) - 1) < 0.001
    assert abs(i_lsb / (RMS_FS / I_FS) - 1) < 0.01
    # ... and power and energy follow from those two and the full-scale codes, to AWGAIN's trim
    p_fs = (RMS_FS / v_lsb) * (RMS_FS / i_lsb)  # W at full scale once V and I are calibrated
    mw_per_awatt = BOARD_SCALE[2] / BOARD_SCALE[3]
    mws_per_energy = BOARD_SCALE[4] / BOARD_SCALE[5]
    assert abs(mw_per_awatt / (1000 * p_fs / AWATT_FS) - 1) < 5e-4
    assert abs(mws_per_energy / (1000 * p_fs / ENERGY_FS_HZ) - 1) < 5e-4
    assert BOARD_SCALE[6] == 223750
    # the emulated chip reads those scales: a sine at full scale gives the full-scale codes
    cs = chipset(irms=I_FS * 0.999, vrms=V_FS * 0.999, phases=1)
    write(cs, 0, mic.AP_NOLOAD, 0)
    cs.run_until(1)
    assert abs(read(cs, 0, mic.VRMS) / (0.999 * RMS_FS) - 1) < 1e-6
    assert abs(read(cs, 0, mic.IRMSA) / (0.999 * RMS_FS) - 1) < 1e-6
    assert abs(read(cs, 0, mic.AWATT) / (0.998 * AWATT_FS) - 1) < 2e-4
    assert abs(read(cs, 0, mic.AENERGYA) / (0.998 * ENERGY_FS_HZ) - 1) < 2e-4
    assert cs.chips[0].clipped == 0


def one_chip(shape, hpf):
    """One chip on the reference network at unity gains, a distorted current on L1, one second:
    (Irms in A from IRMSA, energy in Ws from AENERGYA, the exact energy in Ws, the chip)."""
    mains = Mains(DistortedWorld(shape), 1, (), ())
    cs = mic.ChipSet(mains, [Sensor()])
    write(cs, 0, mic.UNLOCK, 0xAD)
    write(cs, 0, mic.RESERVED_120, 0x30)
    write(cs, 0, mic.PGA_IA, 4)
    write(cs, 0, mic.AP_NOLOAD, 0)
    if not hpf:
        write(cs, 0, mic.CONFIG, 0x8004 & ~mic.HPFEN)
    cs.run_until(1)
    mains.load(0)
    return (read(cs, 0, mic.IRMSA) / (RMS_FS / I_FS), read(cs, 0, mic.AENERGYA) / E_LSB,
            mains.exact_mws(0) / 1000, cs.chips[0])


def high_pass_filter_and_load_dc():
    # the half-wave test's current: 84.9 A peak, Irms = peak / 2, DC = peak / pi
    pk = 120 / math.sqrt(2)
    shape = dist.half_wave(pk)
    i_on, e_on, exact, _ = one_chip(shape, True)  # HPFEN on, the chip's default
    i_off, e_off, _, _ = one_chip(shape, False)
    assert abs(i_off / (pk / 2) - 1) < 1e-4, i_off  # the whole current, DC included
    ac = pk * math.sqrt(0.25 - 1 / math.pi ** 2)  # 32.7 A: what is left without the DC
    assert abs(i_on / ac - 1) < 1e-4, (i_on, ac)
    # the energy is the same either way: the grid voltage has no DC
    assert abs(e_on / exact - 1) < 2e-4 and abs(e_off / exact - 1) < 2e-4, (e_on, e_off, exact)
    # a current without DC reads the same with and without the filter
    i_on, _, _, _ = one_chip(dist.sine(pk), True)
    i_off, _, _, _ = one_chip(dist.sine(pk), False)
    assert abs(i_on - i_off) < 1e-6 and abs(i_on / (pk / math.sqrt(2)) - 1) < 1e-4


def clipping():
    # crest factor 3 at Imax: 180 A peak in 208.3 A of full scale, nothing clips
    i, e, exact, chip = one_chip(dist.crest_factor_3(180.0), False)
    assert chip.clipped == 0 and abs(e / exact - 1) < 2e-4 and abs(i / 60 - 1) < 1e-4, (i, e)
    # 80 A rms at crest factor 3 is 240 A peak: the input clips and the chip reads low
    i, e, exact, chip = one_chip(dist.crest_factor_3(240.0), False)
    assert chip.clipped == 1 and e / exact < 0.97 and i < 0.97 * 80, (i, e, exact)
    # the numerical path itself, without limits, is the exact integral
    mains = Mains(DistortedWorld(dist.crest_factor_3(180.0)), 1)
    mains.load(3)
    mws, vrms, irms = mic._clipped(mains, 0, 1.0, 1.0, 1e9, 1e9, False)
    assert abs(mws / mains.exact_mws(0) - 1) < 1e-4, (mws, mains.exact_mws(0))
    assert abs(irms / mains.rms(0)[1] - 1) < 1e-4 and abs(vrms / mains.rms(0)[0] - 1) < 1e-4


def phase_calibration_step():
    # one PHCALA LSB delays the current by 1 / (CLKIN / 4) = 1.117 us (secondary figure); 100 of
    # them at PF 0.5 inductive turn 60 degrees into 62.01 and the energy follows the cosine
    def energy(phcal):
        cs = chipset(irms=5.0, phi=math.pi / 3, phases=1)
        write(cs, 0, mic.PHCALA, phcal)
        write(cs, 0, mic.AP_NOLOAD, 0)
        cs.run_until(1)
        return read(cs, 0, mic.AENERGYA)

    step_deg = 360 * 50 / (3579545 / 4)
    assert abs(step_deg - 0.0201) < 1e-4
    e0 = energy(0)
    want = math.cos(math.radians(60 + 100 * step_deg)) / math.cos(math.radians(60))
    assert abs(energy(100) / e0 / want - 1) < 5e-4, (energy(100) / e0, want)
    want = math.cos(math.radians(60 - 100 * step_deg)) / math.cos(math.radians(60))
    assert abs(energy(0x200 | 100) / e0 / want - 1) < 5e-4  # sign-magnitude: an advance


wire_format()
bytewise_equals_framewise()
writes()
read_with_reset_and_rollover()
no_load_and_modes()
driver_setup_and_modes()
bus_errors()
measure_allocates_nothing()
chip_accuracy_path()
board_factory()
datasheet_scales()
high_pass_filter_and_load_dc()
clipping()
phase_calibration_step()
print("OK")
