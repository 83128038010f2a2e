# meterkast: the internal link's cost under MicroPython: frame sizes, a day's schedule, CPU time
# MIT license
#
# Runs under the unix port:  micropython -m hal.unix.link_bench [decode_seconds]
# (MICROPYPATH=firmware:.frozen); prints one JSON object, which `meterkast bench link` reads.
# It uses nothing of the unix port, so it runs on a board unchanged (e.g. `mpremote run`).
#
# The metering end: the firmware's encoder (the configuration of metering.link_tx) runs a
# simulated day, 86,400 calls of second() with a capture added at every quarter hour (96),
# reading first: what it emits is counted by frame type, and every second() call is timed.
# The comms end: the frames of the first `decode_seconds` meter seconds of that day are fed, a
# second's bytes at a time as a UART read would hand them over, to a bare LinkDecoder (with its
# profile copy) and to the comms module's own link port (comms.link.port.LinkPort: the decoder
# with the sink that hands every frame to the link guard, fills comms' reading queue and sets
# its clock; no flash store), each call timed. The load is steady (4.8 kW over three phases):
# the guard believes every reading and capture, and the bench checks that it did.
import json
import sys
import time

from comms.link.clock import LinkClock
from comms.link.port import LinkPort
from contract import link as L
from contract import reading as rd
from contract.reading import ReadingQueue
from metering.link_tx import FW_ID, IMAX_MA, VERSION
from metering.profile import DAYLIGHT_SAVING
from util.tz import to_seconds

DAY = 86400
DECODE_SECONDS = DAY  # default: the whole day through the comms end too
SERIAL = b"MKS0000000000001"
UN_DV = 2300
LOAD_W = 4800
_CONFIRM_S = 16  # a new capture goes out within 2 s and again 8 s later: two copies
_HIST = 2048  # histogram of the per-call times, 1 us buckets; the last one collects the rest


class _Report:
    """The comms report the link port writes to: kept, not printed (stdout is the result)."""

    def __init__(self):
        self.lines = 0

    def log(self, kind, msg):
        self.lines += 1

    def line(self, text):
        self.lines += 1


class _Timer:
    """Sum, count, maximum and a histogram of per-call times in us."""

    def __init__(self):
        self.total = 0
        self.calls = 0
        self.most = 0
        self.hist = [0] * _HIST

    def add(self, us):
        self.total += us
        self.calls += 1
        if us > self.most:
            self.most = us
        self.hist[us if us < _HIST else _HIST - 1] += 1

    def quantile(self, q):
        want = q * self.calls
        seen = 0
        for us in range(_HIST):
            seen += self.hist[us]
            if seen >= want:
                return us
        return _HIST - 1

    def summary(self):
        return {"total_us": self.total, "calls": self.calls, "max_us": self.most,
                "median_us": self.quantile(0.5), "p90_us": self.quantile(0.9)}


def encoder():
    return L.LinkEncoder(b"MKS", SERIAL, VERSION, FW_ID, 3, UN_DV, IMAX_MA, L.RING)


def frame_sizes():
    """Bytes of one frame of each type, as the encoder builds them."""
    enc = encoder()
    r = rd.new_reading()
    b = bytearray(L.MAX_FRAME)
    enc.add_capture(0, 0, 0, (0, 0, 0, 0))
    return {"reading": enc.reading(b, 0, r), "capture": enc.capture(b, 0),
            "identity": enc.identity(b, 0, 0), "status": enc.status(b, 0, r, 0)}


def steady_reading(r, t, mono, wh):
    """The reading of meter second t at a steady 4.8 kW import, three phases, summer time."""
    r[rd.T] = t
    r[rd.SEQ] = mono
    r[rd.STATUS] = rd.STATUS_DST
    r[rd.TARIFF] = 1
    r[rd.IMPORT_W] = LOAD_W
    r[rd.EXPORT_W] = 0
    for k in range(4):
        r[rd.IMPORT_T1_WH + k] = wh[k]
    for k in range(3):
        r[rd.PHASE_IMPORT_W + k] = LOAD_W // 3
        r[rd.PHASE_EXPORT_W + k] = 0
        r[rd.VOLTAGE_DV + k] = UN_DV
        r[rd.CURRENT_MA + k] = LOAD_W // 3 * 10000 // UN_DV
    r[rd.FREQUENCY_MHZ] = 50000


def day(decode_seconds):
    enc = encoder()
    dec = L.LinkDecoder(L.ProfileCopy(L.RING))
    port = LinkPort(None, ReadingQueue(), None, None, LinkClock(1), _Report(),
                    (3, UN_DV, IMAX_MA))
    r = rd.new_reading()
    wh = [1000000, 2000000, 3000, 4000]
    joules = 0
    t0 = to_seconds(2026, 6, 1, 0, 0, 0)
    index = 0
    due = 0  # captures the comms end must have stored by the end of its seconds
    frames = {}
    nbytes = {}
    most = 0  # bytes of the busiest second
    enc_t = _Timer()
    dec_t = _Timer()
    port_t = _Timer()
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    for s in range(DAY):
        t = t0 + s
        joules += LOAD_W
        wh[0] += joules // 3600
        joules %= 3600
        steady_reading(r, t, s, wh)
        if t % L.PERIOD == 0:  # the recorder's capture comes before the link's second
            enc.add_capture(index, t, DAYLIGHT_SAVING, wh)
            index += 1
            if s + _CONFIRM_S < decode_seconds:
                due += 1
        a = ticks_us()
        n = enc.second(r, 0)
        enc_t.add(ticks_diff(ticks_us(), a))
        if n > most:
            most = n
        b = enc.buf
        o = 0
        while o < n:
            typ = b[o + 2]
            size = L.OVERHEAD + b[o + 4]
            frames[typ] = frames.get(typ, 0) + 1
            nbytes[typ] = nbytes.get(typ, 0) + size
            o += size
        if s < decode_seconds:
            a = ticks_us()
            dec.feed(b, n)
            dec_t.add(ticks_diff(ticks_us(), a))
            a = ticks_us()
            port.feed(b, n)
            port_t.add(ticks_diff(ticks_us(), a))
    g = port.guard
    pd = port.decoder
    ok = (dec.frames == pd.frames and pd.readings == decode_seconds and g.readings == pd.readings
          and sum(g.counts) == 0 and port.errors == 0 and g.captures == port.stored
          and port.stored >= due
          and dec.garbage + dec.header_errors + dec.length_errors + dec.crc_errors
          + dec.value_errors + dec.seq_gaps + dec.duplicates == 0)
    names = {L.READING: "reading", L.CAPTURE: "capture", L.IDENTITY: "identity",
             L.STATUS: "status"}
    return {
        "seconds": DAY, "captures_added": index,
        "frames": {names[k]: v for k, v in frames.items()},
        "bytes": {names[k]: v for k, v in nbytes.items()}, "second_max": most,
        "encode": enc_t.summary(),
        "decode_seconds": decode_seconds, "decode_frames": dec.frames,
        "decode": dec_t.summary(), "port": port_t.summary(),
        "believed_readings": g.readings, "believed_captures": g.captures,
        "checks_ok": ok,
    }


def main(argv):
    decode_seconds = int(argv[0]) if argv else DECODE_SECONDS
    out = {"sizes": frame_sizes()}
    out.update(day(min(decode_seconds, DAY)))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
