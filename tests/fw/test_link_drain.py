# metering.link_tx at an orderly stop, under the real MicroPython: the drain spreads its capture
# frames (and three repeats of the newest reading) out in time, so one line break anywhere in it
# (shorter than 400 ms) still leaves two copies of each of the newest four captures and of the
# reading: comms confirms, and can judge, a capture made just before a stop.
import time

import asyncio
from contract import link as L
from contract import reading as rd
from metering.link_tx import LinkSender


class RecordingUart:
    """A line that is always free; remembers when each frame went out."""

    def __init__(self):
        self.frames = []  # (ms since the first write, bytes)
        self.t0 = None

    def txdone(self):
        return True

    def write(self, buf, n):
        now = time.ticks_ms()
        if self.t0 is None:
            self.t0 = now
        self.frames.append((time.ticks_diff(now, self.t0), bytes(buf[:n])))


T_LAST = 1_779_999_300 + 900 * 9  # the newest capture's time


class Readings:
    """The newest reading: the second of the newest capture."""

    def copy_latest(self, r):
        r[rd.T] = T_LAST
        r[rd.SEQ] = 5000
        r[rd.TARIFF] = 1
        r[rd.IMPORT_T1_WH] = 900
        r[rd.VOLTAGE_DV] = r[rd.VOLTAGE_DV + 1] = r[rd.VOLTAGE_DV + 2] = 2300
        r[rd.FREQUENCY_MHZ] = 50000


uart = RecordingUart()
sender = LinkSender(uart, Readings(), b"TST", b"1")
for i in range(10):
    sender.capture(i, 1_779_999_300 + 900 * i, 0, [100 * i, 0, 0, 0])
sender.second_done(None, T_LAST)  # the last second before the stop went out as usual
uart.frames.clear()
uart.t0 = None

t_start = time.ticks_ms()
asyncio.run(sender.drain())
took = time.ticks_diff(time.ticks_ms(), t_start)
assert 1000 <= took <= 1500 + 100, took  # spread out, and bounded

# Which capture (or reading: -1) each frame carried, decoded as comms decodes it.
copies = []  # (ms, capture index or -1)
for ms, frame in uart.frames:
    dec = L.LinkDecoder()
    got = dec.feed(frame, len(frame))
    if got == 2:
        assert dec.last_type == L.CAPTURE and dec.reading[rd.T] == T_LAST, frame
        copies.append((ms, -1))
    else:
        assert got == 1 and dec.last_type == L.CAPTURE, (got, dec.last_type, frame)
    copies.append((ms, dec.capture[L.CAP_INDEX]))
assert len(copies) == 24 + 3, len(copies)
newest = (-1, 6, 7, 8, 9)
for i in newest:
    assert sum(1 for _, c in copies if c == i) >= 3, (i, copies)

# A break of 350 ms starting anywhere (every 10 ms) from before the drain to after it.
BREAK_MS = 350
worst = 99
for start in range(-BREAK_MS, took + 10, 10):
    for i in newest:
        left = sum(1 for ms, c in copies if c == i and not (start <= ms < start + BREAK_MS))
        worst = min(worst, left)
        assert left >= 2, (start, i, copies)
print("drain: %d frames over %d ms; fewest copies left after one %d ms break: %d"
      % (len(copies), took, BREAK_MS, worst))
print("OK")
