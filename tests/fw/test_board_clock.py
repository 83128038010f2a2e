# hal.board.clock: RTC tuples <-> meter epoch, and monotonic seconds across the 2**30 tick wrap.
from board_fakes import FakeRTC, WrapTicks
from hal.board.clock import BoardClock, meter_to_rtc, rtc_to_meter
from util.tz import UNIX_OFFSET, parse_iso

# RTC tuples are calendar fields, the same on RP2 (1970 epoch) and ESP32 (2000 epoch).
assert rtc_to_meter((2000, 1, 1, 5, 0, 0, 0, 0)) == 0
assert rtc_to_meter((2026, 3, 29, 6, 0, 59, 58, 0)) == parse_iso("2026-03-29T00:59:58Z")
assert rtc_to_meter((1970, 1, 1, 3, 0, 0, 0, 0)) == -UNIX_OFFSET
# weekday 0 = Monday; 2000-01-01 was a Saturday, 2024-02-29 a Thursday
assert meter_to_rtc(0) == (2000, 1, 1, 5, 0, 0, 0, 0)
assert meter_to_rtc(parse_iso("2024-02-29T23:59:59Z")) == (2024, 2, 29, 3, 23, 59, 59, 0)
t = 0
while t < 40 * 366 * 86400:  # every ~3 days for 40 years: leap days and year ends included
    assert rtc_to_meter(meter_to_rtc(t)) == t, t
    t += 3 * 86400 + 3607

# Start 1.5 s before the tick counter wraps and run 10 s in 250 ms steps.
ticks = WrapTicks((1 << 30) - 1500)
rtc = FakeRTC((2026, 6, 1, 0, 11, 59, 50, 0))
clock = BoardClock(rtc, ticks)
t0 = parse_iso("2026-06-01T11:59:50Z")
assert clock.speed == 1
assert clock.mono() == 0 and clock.utc() == t0
for step in range(40):
    ticks.advance(250)
    assert clock.mono() == (step + 1) * 250 // 1000, (step, clock.mono())
assert ticks.ticks_ms() < 10000, "the fake counter did wrap"
assert clock.mono() == 10 and clock.utc() == t0 + 10 and clock.utc_at(3) == t0 + 3
assert clock.mono_ms() == 10000

# Readings far apart (just under 2**29 ms, the limit of ticks_diff) stay exact.
ticks.advance((1 << 29) - 1)
assert clock.mono_ms() == 10000 + (1 << 29) - 1
# ... and ticks that seem to go back (never on a board) never move monotonic time backwards.
m = clock.mono()
clock._last = ticks.ticks_ms() + 5
assert clock.mono() == m

# Setting and shifting the clock: utc moves, mono does not, the shift is reported once and
# the RTC is written with the corrected time (so it survives a reset).
ticks = WrapTicks((1 << 30) - 100)
rtc = FakeRTC((2026, 10, 25, 6, 0, 30, 0, 0))
clock = BoardClock(rtc, ticks)
ticks.advance(2000)
clock.adjust(-3600)
assert clock.mono() == 2
assert clock.utc() == parse_iso("2026-10-24T23:30:02Z")
assert clock.take_adjustment() == -3600 and clock.take_adjustment() == 0
assert rtc.writes[-1] == meter_to_rtc(parse_iso("2026-10-24T23:30:02Z"))
clock.set_utc(parse_iso("2026-10-25T00:30:02Z"))
assert clock.utc() == parse_iso("2026-10-25T00:30:02Z") and clock.take_adjustment() == 3600
ticks.advance(1000)
clock.save()
assert rtc.dt == meter_to_rtc(parse_iso("2026-10-25T00:30:03Z"))

# sleep_until returns at once for a second that has passed.
import asyncio


async def late():
    await clock.sleep_until(0)
    return 1


assert asyncio.run(late()) == 1
print("OK")
