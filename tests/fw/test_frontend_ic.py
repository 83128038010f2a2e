# The metering-IC supplier: the emulated ADE7953 (hal.unix.metering_ic) behaves like the chip on
# the wire and in its registers, and the firmware driver (metering.ade7953, ic_frontend) uses
# it right: frames, widths, read-with-reset, roll-over, no-load, accumulation modes, unlock,
# soft reset, write verification, and an allocation-free measure() on a plain SPI bus.
import math
import micropython
from array import array

from contract import frontend as fe
from hal.unix import metering_ic as mic
from hal.unix.frontends import build_measuring
from hal.unix.signals import ConstantWorld, Mains, Sensor
from metering import ade7953 as ade
from metering.ic_frontend import IcFrontend


def chipset(irms=5.0, phi=0.0, vrms=230.0, phases=3, unlocked=True):
    """Chips with ideal sensors; `unlocked`: with the datasheet's 0x120 setting done."""
    mains = Mains(ConstantWorld(vrms, irms, phi, 50.0, tuple(range(phases))), phases, (), ())
    cs = mic.ChipSet(mains, [Sensor()] * 3)
    for p in range(phases if unlocked else 0):
        write(cs, p, mic.UNLOCK, 0xAD)
        write(cs, p, mic.RESERVED_120, 0x30)
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
    assert abs(0x1000000 - awatt - 1150 * 400) <= 120, awatt  # 400 LSB/W; 0.005 % noise
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
    assert (data[0] << 16 | data[1] << 8 | data[2]) == read(cs, 1, mic.VRMS) == 230 * 20000
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
    cs = chipset(irms=60.0)  # 13.8 kW: 883,200 LSB a second at 1/64 Ws
    cs.run_until(1)
    e = read(cs, 0, mic.AENERGYA)
    assert abs(e - 13800 * 64) <= 100, e  # within the chip's 0.005 % noise
    assert read(cs, 0, mic.AENERGYA) == 0  # read with reset: nothing left, nothing lost
    write(cs, 0, mic.LCYCMODE, 0)  # free-running: the register wraps at 2^23
    total = 0
    for s in range(2, 14):
        cs.run_until(s)
        total += 13800 * 64
    e = read(cs, 0, mic.AENERGYA)
    assert e == read(cs, 0, mic.AENERGYA)  # no reset now
    assert abs(e - (total % (1 << 24))) <= 400, (e, total)  # the count wrapped once
    assert read(cs, 0, mic.IRQSTATA) & mic.AEOFA
    assert read(cs, 0, mic.RSTIRQSTATA) & mic.AEOFA
    assert read(cs, 0, mic.IRQSTATA) == 0  # read-and-clear


def no_load_and_modes():
    cs = chipset(irms=0.005, vrms=264.5)  # 115 % Un, 1.3 W: below the 2.3 W threshold
    write(cs, 0, mic.AP_NOLOAD, 920)  # 2.3 W
    write(cs, 1, mic.AP_NOLOAD, 920)
    write(cs, 1, mic.DISNOLOAD, 1)  # chip 1: no-load detection off
    for s in range(1, 200):
        cs.run_until(s)
        assert read(cs, 0, mic.ACCMODE) & mic.ACTNLOAD_A
    assert read(cs, 0, mic.AENERGYA) == 0
    e = read(cs, 1, mic.AENERGYA)  # without no-load detection the creep is counted
    assert abs(e / (199 * 264.5 * 0.005 * 64) - 1) < 0.001, e
    cs = chipset(irms=-1.0)  # 230 W export
    write(cs, 0, mic.ACCMODE, 1)  # positive only
    write(cs, 1, mic.ACCMODE, 2)  # absolute
    cs.run_until(1)
    assert read(cs, 0, mic.AENERGYA) == 0 and read(cs, 0, mic.ACCMODE) & mic.APSIGN_A
    assert abs(read(cs, 1, mic.AENERGYA) - 230 * 64) <= 5
    assert abs(0x1000000 - read(cs, 2, mic.AENERGYA) - 230 * 64) <= 5  # signed, the default


def driver_setup_and_modes():
    mains = Mains(ConstantWorld(230.0, 60.0, 0.3, 50.0, (0, 1, 2)), 3)
    front = build_measuring("ic", mains)
    cs = front.chipset
    cal = cs.factory_calibration()
    for p in range(3):
        assert read(cs, p, mic.RESERVED_120) == 0x30  # set up for rated accuracy
        assert read(cs, p, mic.AVGAIN) == cal[p][0] and read(cs, p, mic.PHCALA) == cal[p][3]
        assert read(cs, p, mic.AP_NOLOAD) == 920  # 0.5 * 230 V * 20 mA = 2.3 W
    # roll-over mode gives the same energy as read-with-reset, across the 24-bit wraps
    mains2 = Mains(ConstantWorld(230.0, 60.0, 0.3, 50.0, (0, 1, 2)), 3)
    roll = build_measuring("ic", mains2, read_with_reset=False)
    out = array("i", [0] * fe.FIELDS)
    sums = [0, 0]
    for s in range(30):  # ~26 MLSB: the register wraps three times
        front.measure(s, out)
        sums[0] += out[fe.ENERGY_MWS]
        roll.measure(s, out)
        sums[1] += out[fe.ENERGY_MWS]
    assert sums[0] == sums[1] and sums[0] > 30 * 13800 * 1000 * 0.9, sums
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
        for reg, v in ((ade.AENERGYA, 73600), (ade.AWATT, 460000), (ade.VRMS, 4600000),
                       (ade.IRMSA, 500000), (ade.PERIOD, 4474), (ade.ACCMODE, 0),
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
    assert total[0] == 100 * 73600 * 125 // 8  # 1150 J a second, LSBs to mWs exactly
    assert out[fe.POWER_MW] == 1150000 and out[fe.VOLTAGE_DV] == 2300
    assert out[fe.CURRENT_MA] == 5000 and out[fe.POWER_FACTOR] == 1000
    assert out[fe.FREQUENCY_MHZ] == 223750000 // 4475  # 50.0 Hz from PERIOD


def chip_accuracy_path():
    # calibration registers undo the sensor's errors; without the unlock the chip is off spec
    s = Sensor(0.012, -0.008, 0.55)
    mains = Mains(ConstantWorld(230.0, 5.0, math.acos(0.5), 50.0, (0,)), 1, (), ())
    cs = mic.ChipSet(mains, [s])
    chip = ade.Ade7953(cs.bus, cs.pins[0])
    cal = cs.factory_calibration()[0]
    chip.setup(cal[0], cal[1], cal[2], cal[3], 920)
    cs.run_until(10)
    e = chip.read_s24(ade.AENERGYA) * 125 / 8
    assert abs(e / (10 * 575000) - 1) < 0.001, e
    chip.write(ade.CONFIG, 0x8084, verify=False)  # reset: gains and unlock gone
    chip.write(ade.AP_NOLOAD, 920)
    cs.run_until(20)
    e = chip.read_s24(ade.AENERGYA) * 125 / 8
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

    spec = {"cs": [17, 18, 19], "sck": 2, "mosi": 3, "miso": 4,
            "calibration": [[0x400000, 0x400000, 0x400000, 0]] * 3}
    f = from_board(Machine, spec, None)
    out = array("i", [0] * fe.FIELDS)
    cs.run_until(1)
    f.measure(1, out)
    assert abs(out[fe.ENERGY_MWS + 2] - 1150000) < 200 and out[fe.VOLTAGE_DV] == 2300
    spec["calibration"] = None  # an uncalibrated meter does not boot
    try:
        from_board(Machine, spec, None)
        raise AssertionError("booted without calibration")
    except ValueError:
        pass


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
print("OK")
