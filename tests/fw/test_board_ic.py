# hal.board.ic: the board's ADE7953 front-end, built from the board table, on the emulated chips
# of hal.unix.metering_ic (machine.SPI / machine.Pin behaviour) instead of real ones.
from board_fakes import FakeMachine, WrapTicks, ram_flash

machine = FakeMachine().install()  # before hal.board imports `machine`
from contract import frontend as fe
from hal.board import build
from hal.unix.metering_ic import CONFIG, HPFEN, PGA_IA, PGA_V, ChipSet
from hal.unix.signals import ConstantWorld, Mains, default_sensors

storage = ram_flash("/board_ic_test") + "/data"
ticks = WrapTicks(0)
# 230 V on all phases, 10 A at unity power factor on L1 only: 2300 W.
mains = Mains(ConstantWorld(230.0, 10.0, 0.0, 50.0, loaded=(0,)), 3)
chipset = ChipSet(mains, default_sensors(), seed=5)
machine.spi_bus = chipset.bus
machine.pin_objects = {17: chipset.pins[0], 20: chipset.pins[1], 21: chipset.pins[2]}
calibration = chipset.factory_calibration()

hal = build({"board": "pico", "storage": storage, "calibration": calibration}, ticks)
spi_id, kw = machine.spis[0]
assert spi_id == 0 and kw["sck"].pin == 18 and kw["mosi"].pin == 19 and kw["miso"].pin == 16
assert kw["baudrate"] <= 2000000 and kw["polarity"] == 1 and kw["phase"] == 1  # ADE7953: mode 3
assert hal.frontend.phases == 3
# the reference board's network (ic_frontend.REFERENCE_DESIGN): PGA x1 on the voltage, x16 on
# the 150 uOhm shunt (code 4), and the high-pass filters off so a load's DC is measured
for chip in chipset.chips:
    assert chip.regs[PGA_V] == 0 and chip.regs[PGA_IA] == 4, chip.regs
    assert chip.regs[CONFIG] & HPFEN == 0
out = [0] * fe.FIELDS
for second in range(3):  # on a board the chips integrate in real time; here run them a second
    chipset.run_until(second + 1)
    hal.frontend.measure(second, out)
assert abs(out[fe.ENERGY_MWS] - 2300000) < 2300000 * 0.01, out  # 2300 W for one second
assert abs(out[fe.POWER_MW] - 2300000) < 2300000 * 0.01, out
assert abs(out[fe.VOLTAGE_DV] - 2300) <= 5 and abs(out[fe.CURRENT_MA] - 10000) < 100, out
assert abs(out[fe.ENERGY_MWS + 1]) < 1000 and abs(out[fe.VOLTAGE_DV + 1] - 2300) <= 5, out
assert abs(out[fe.FREQUENCY_MHZ] - 50000) < 100, out

# A single-phase meter: "phases": 1 in /meter.json, one chip on the bus.
machine.forget()
chipset = ChipSet(Mains(ConstantWorld(230.0, 1.0, 0.0, 50.0, loaded=(0,)), 1), default_sensors(), seed=5)
machine.spi_bus = chipset.bus
machine.pin_objects = {17: chipset.pins[0]}
hal = build({"board": "pico2", "storage": storage, "phases": 1, "p3": False}, ticks)
assert hal.frontend.phases == 1
for second in range(2):
    chipset.run_until(second + 1)
    hal.frontend.measure(second, out)
# uncalibrated (unity gains): the sensor model's errors show, but it is the same load
assert abs(out[fe.ENERGY_MWS] - 230000) < 230000 * 0.05, out
print("OK")
