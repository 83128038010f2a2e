# meterkast: a DLMS server on a pty with a fake clock, readings and quarter-hour profile
# MIT license
#
# For the end-to-end tests and the benchmark, before (and besides) the full meter:
#
#   micropython -m hal.unix.p3bench.harness --tty PATH|FD --storage DIR [--keys FILE] [--start ISO]
#                             [--rows N] [--capacity N] [--bad I,J] [--inactivity S]
#                             [--framing hdlc|wrapper] [--settable 1]
#
# The clock starts at --start (UTC) and runs in real time. The profile holds --rows rows, the
# newest at the last quarter hour before --start; rows listed in --bad fail their checksum.
# With --settable the management client may SET the clock (it moves the fake clock; the whole
# meter's clock set, with its captures, is tested on the emulator).
# Commands on stdin, one per line: "mem" prints "mem <bytes allocated after gc.collect()>",
# "stats" prints the server's counters and the firmware's own time in the P3 port's framing and
# server since the last "stats" (busy_us), "quit" stops.
import asyncio
import gc
import select
import sys
import time
from array import array

from comms.dlms.server import DlmsServer
from comms.events import EventLog
from comms.dlms.p3 import P3Port
from hal.unix.uart import PtyUart
from hal.unix.p3bench.fakes import FakeClock, FakeProfile, day_rows, load_keys, make_readings
from util import tz


def parse_args(argv):
    opts = {
        "start": "2024-03-12T10:07:00Z",
        "rows": "96",
        "capacity": "960",
        "bad": "",
        "keys": None,
        "storage": None,
        "tty": None,
        "inactivity": "120",
        "framing": "hdlc",
        "settable": "",
    }
    i = 0
    while i < len(argv):
        k = argv[i][2:]
        opts[k] = argv[i + 1]
        i += 2
    return opts


def time_feed(port):
    """Count the microseconds spent handling received bytes (framing, server, replies)."""
    busy = [0]
    feed = port.hdlc.feed

    def timed(data, n):
        t0 = time.ticks_us()
        feed(data, n)
        busy[0] += time.ticks_diff(time.ticks_us(), t0)

    port.hdlc.feed = timed
    return busy


async def control(server, port, busy):
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    while True:
        if p.poll(0):
            line = sys.stdin.readline().strip()
            if line == "mem":
                gc.collect()
                print("mem", gc.mem_alloc())
            elif line == "stats":
                print(
                    "stats refused=%d errors=%d bad_frames=%d bytes_in=%d busy_us=%d"
                    % (server.refused, port.errors, port.hdlc.frames_bad, port.bytes_in, busy[0])
                )
                busy[0] = 0
            elif line == "quit" or line == "":
                return
        await asyncio.sleep_ms(20)


async def main(opts):
    clock = FakeClock(tz.parse_iso(opts["start"]))
    count = int(opts["rows"])
    last = (clock.utc() // 900) * 900
    rows = day_rows(last, count) if count else array("i")
    bad = tuple(int(x) for x in opts["bad"].split(",") if x)
    profile = FakeProfile(rows, int(opts["capacity"]), bad)
    readings = make_readings(clock, rows)
    keys = load_keys(opts["keys"]) if opts["keys"] else None
    identity = {"equipment_id": "MKS0000000000001", "logical_device_name": "MKS-NG0000000001"}
    events = EventLog(opts["storage"], clock) if opts["storage"] else None  # empty event logs
    server = DlmsServer(clock, readings, profile, identity, keys, opts["storage"], events=events)
    if opts["settable"]:
        server.offer_clock(clock.set_utc)
    tty = opts["tty"]
    uart = PtyUart(int(tty) if tty.isdigit() else tty)
    port = P3Port(uart, server, clock, int(opts["inactivity"]), framing=opts["framing"])
    busy = time_feed(port)
    task = asyncio.create_task(port.run())
    print("ready")
    await control(server, port, busy)
    task.cancel()


asyncio.run(main(parse_args(sys.argv[1:])))
