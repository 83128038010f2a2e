# hal.board: the HAL built from the board table with a fake `machine`; UART contract; watchdog.
import os
import sys

from board_fakes import FakeMachine, FakePin, FakeUART, FakeWDT, WrapTicks, ram_flash

machine = FakeMachine().install()  # before hal.board imports `machine`
from boards import board, detect, names
from hal.board import build
from hal.board.frontend import FrontendMissing
from hal.board.uart import BoardUart
from hal.board.watchdog import TaskWatchdog

# --- the board table ------------------------------------------------------------------------
assert detect("Raspberry Pi Pico with RP2040") == "pico"
assert detect("Raspberry Pi Pico2 with RP2350") == "pico2"
assert detect("Generic ESP32 module with ESP32") == "devkitc"
assert detect("some other board") is None
for name in names():
    b = board(name)
    assert b["p1"]["invert"], "DSMR P1 is an inverted signal on every board"
    assert b["wdt_ms"] <= 8388, "RP2 hardware maximum"
    assert b["p1"]["tx"] != b["p3"]["tx"] and b["p1"]["uart"] != b["p3"]["uart"]
b["p1"]["tx"] = 99
assert board(b["name"])["p1"]["tx"] != 99, "entries are fresh copies, not shared state"
try:
    board("uno")
    raise AssertionError("unknown board accepted")
except ValueError as e:
    assert "pico" in str(e)

# --- a front-end stand-in, found by module name as a real supplier would be -------------------
made = []


class fake_frontend_module:
    @staticmethod
    def from_board(machine, spec, clock):
        made.append(spec)
        return "frontend for %s" % spec["adc"]


sys.modules["fake_frontend_module"] = fake_frontend_module

storage = ram_flash("/board_test") + "/meter/data"
ticks = WrapTicks((1 << 30) - 2000)
cfg = {
    "board": "pico",
    "serial": 7,
    "storage": storage,
    "frontend": {"kind": "waveform", "module": "fake_frontend_module", "adc": [26, 27, 28]},
}
hal = build(cfg, ticks)
for attr in ("clock", "frontend", "p1", "p3", "control", "storage", "watchdog", "report", "nominal_dv"):
    assert hasattr(hal, attr), attr
assert hal.control is None and hal.nominal_dv == 2300 and hal.report.enabled is False
assert hal.frontend == "frontend for [26, 27, 28]" and made[0]["adc"] == [26, 27, 28]
assert hal.storage == storage and os.stat(storage)[0] & 0x4000, "storage directory made"
p1, p3 = machine.uarts
assert p1.id == 0 and p1.kw["baudrate"] == 115200 and p1.kw["bits"] == 8
assert p1.kw["parity"] is None and p1.kw["stop"] == 1 and p1.kw["timeout"] == 0
assert p1.kw["invert"] == FakeUART.INV_TX, "P1 is inverted"
assert p1.kw["tx"].pin == 0 and p1.kw["txbuf"] >= 1200
assert p3.id == 1 and p3.kw["invert"] == 0 and p3.kw["tx"].pin == 4 and p3.kw["rx"].pin == 5
request = [p for p in machine.pins if p.pin == 2][0]
assert request.mode == FakePin.IN and request.pull == FakePin.PULL_DOWN
assert len(machine.wdts) == 1 and machine.wdts[0].timeout == 8000

# --- P1: the data-request line gates sending; reads check in with the watchdog ---------------
assert not hal.p1.txdone(), "no data request: nothing is sent"
request.level = 1
assert hal.p1.txdone()
p1.busy = True
assert not hal.p1.txdone()
p1.busy = False
frame = bytearray(b"/MKS5\r\n!ABCD\r\nspare")
assert hal.p1.write(frame, 14) == 14 and bytes(p1.sent) == b"/MKS5\r\n!ABCD\r\n"
p1.rx.extend(b"x" * 100)
scratch = bytearray(64)
assert hal.p1.drain(scratch) == 100 and hal.p1.readinto(scratch) == 0 and hal.p1.rx_discarded == 100

# --- the watchdog: fed while every task checks in, starved when one goes quiet ---------------
wd = hal.watchdog
wdt = machine.wdts[0]


class FakeMetrology:
    listeners = []


class FakeMetering:
    metrology = FakeMetrology()


class FakeMeter:
    metering = FakeMetering()


hal.attach(FakeMeter())
beat = FakeMetrology.listeners[0]
for second in range(30):  # 30 s across the tick wrap; every task alive
    for _ in range(50):
        ticks.advance(20)
        hal.p1.readinto(scratch)
        hal.p3.readinto(scratch)
        assert wd.feed()
    beat.second_done(None, second)
assert wdt.feeds == 1500 and wd.starved_by is None
for _ in range(200):  # P3 stops polling: within its 3 s limit feeding goes on, then stops
    ticks.advance(20)
    hal.p1.readinto(scratch)
    if _ % 50 == 0:
        beat.second_done(None, 0)
    wd.feed()
assert wd.starved_by == "p3"
assert 1500 + 140 <= wdt.feeds <= 1500 + 151, wdt.feeds
hal.p3.readinto(scratch)
assert wd.feed(), "a task that checks in again is trusted again"

# Metrology's limit is longer: a 4 s gap is tolerated, 6 s is not.
wd2 = TaskWatchdog(FakeWDT(), ticks)
m = wd2.watch("metrology", 5000)
ticks.advance(4000)
assert wd2.feed()
ticks.advance(2000)
assert not wd2.feed() and wd2.starved_by == "metrology"
m.second_done(None, 0)
assert wd2.feed()

# --- no front-end: a clear error at boot, and the watchdog was never started ------------------
machine.forget()
try:
    build({"board": "devkitc", "storage": storage, "frontend": None}, ticks)
    raise AssertionError("a board without a front-end booted")
except FrontendMissing as e:
    assert "devkitc" in str(e) and "frontend" in str(e)
assert machine.wdts == [] and machine.uarts == []
# the table's metering IC, but no chip on the bus
try:
    build({"board": "devkitc", "storage": storage}, ticks)
    raise AssertionError("booted without an answering metering IC")
except FrontendMissing as e:
    assert "ADE7953" in str(e) and "SPI 2" in str(e) and "5, 21, 22" in str(e), e
assert machine.spis[0][0] == 2 and machine.spis[0][1]["polarity"] == 1 and machine.spis[0][1]["phase"] == 1
assert machine.wdts == [] and machine.uarts == []
try:
    build({"board": "pico", "storage": storage, "frontend": {"kind": "ic", "module": "no_such_ic"}}, ticks)
    raise AssertionError("missing module accepted")
except FrontendMissing as e:
    assert "no_such_ic" in str(e)

# --- ESP32 pins, no data-request pin on the emulator board; P3 can be switched off -----------
machine.forget()
hal = build({"board": "devkitc", "storage": storage, "p3": False,
             "frontend": {"kind": "ic", "module": "fake_frontend_module", "adc": []}}, ticks)
assert hal.p3 is None and len(machine.uarts) == 1
assert machine.uarts[0].id == 2 and machine.uarts[0].kw["tx"].pin == 17
u = BoardUart(FakeUART(0))
assert u.txdone() and u.readinto(scratch) == 0

print("OK")
