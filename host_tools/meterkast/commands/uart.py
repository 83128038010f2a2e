"""meterkast uart: a virtual null-modem cable between two endpoints, paced, faulty on request,
captured; or the replay of a capture into a port.

    meterkast uart pty:ttyMeter tcp:127.0.0.1:2001 --faults ber=1e-4,drop=1e-4 --capture c.txt
    meterkast uart --replay c.txt pty:ttyP1 --replay-speed 10

Endpoints are the SPECs of `meterkast run`: pty, pty:LINK, tcp:HOST:PORT (a listener, like
ser2net) or a device path. Bytes from the first endpoint to the second are the "out" direction
(`>` in the capture), the others "in" (`<`). The fault SPEC is described in meterkast.line.faults,
the capture format in meterkast.line.capture.
"""
import json
import signal
import sys
import threading
import time

from meterkast.errors import CliError
from meterkast.line.capture import Capture, CaptureWriter, replay
from meterkast.line.endpoints import open_endpoint
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.line.paced import Framing, Line

HELP = "virtual null-modem between two ports (pacing, faults, capture), or replay a capture"


def add_arguments(p):
    p.add_argument("ends", nargs="*", metavar="SPEC",
                   help="two endpoints (pty, pty:LINK, tcp:HOST:PORT, device); with --replay one "
                        "(default pty)")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--framing", default="8N1", help="8N1 (default) or 7E1: 7 data bits, even parity")
    p.add_argument("--faults", metavar="SPEC",
                   help="e.g. ber=1e-4,drop=1e-4,insert=1e-5,burst=1e-6:16,break=200@30,"
                        "disconnect=3@60,seed=1,dir=both")
    p.add_argument("--capture", metavar="FILE", help="record every byte, both ways, with times")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument("--replay", metavar="FILE", help="play a capture into the port instead")
    p.add_argument("--replay-speed", type=float, default=1.0, metavar="X",
                   help="replay X times faster than recorded (default 1: original timing)")
    p.add_argument("--line", metavar="NAME", help="which line of the capture to replay (default: the first)")
    p.add_argument("--direction", choices=("out", "in"), default="out",
                   help="replay the bytes that went out of the meter (default) or into it")
    p.add_argument("--side", choices=("delivered", "sent"), default="delivered",
                   help="replay what the receiver got (default) or what the sender sent, before faults")
    p.add_argument("--loop", action="store_true", help="replay again and again")


def _stop_event(duration):
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()
    return stop


def main(args):
    framing = Framing(args.framing)
    faults = FaultSpec.parse(args.faults)
    if args.replay_speed <= 0:
        raise CliError("--replay-speed must be greater than 0")
    if args.replay:
        if len(args.ends) > 1:
            raise CliError("--replay plays into one port: give at most one SPEC")
        return _replay(args, args.ends[0] if args.ends else "pty", framing, faults)
    if len(args.ends) != 2:
        raise CliError("give two endpoints (e.g. pty tcp:127.0.0.1:2001), or --replay FILE")
    return _null_modem(args, framing, faults)


def _null_modem(args, framing, faults):
    a = open_endpoint(args.ends[0], args.baud, "first endpoint", framing)
    try:
        b = open_endpoint(args.ends[1], args.baud, "second endpoint", framing)
    except CliError:
        a.close()
        raise
    capture = CaptureWriter(args.capture) if args.capture else None
    line = Line("uart", a, b, args.baud, framing=framing, faults=faults, capture=capture)
    print("a: %s" % a.describe(), flush=True)
    print("b: %s" % b.describe(), flush=True)
    stop = _stop_event(args.duration)
    line.start()
    try:
        while not stop.is_set():
            stop.wait(0.2)
            if capture is not None:
                capture.flush()
    except KeyboardInterrupt:
        pass
    stop.set()
    line.stop()
    line.join(2)
    a.close()
    b.close()
    if capture is not None:
        capture.close()
    print("uart: " + json.dumps(line.stats()), file=sys.stderr)
    return 0


def _replay(args, spec, framing, faults):
    cap = Capture.load(args.replay)
    names = cap.line_names()
    name = args.line or (names[0] if names else None)
    if name is None:
        raise CliError("%s holds no data" % args.replay)
    if name not in names:
        raise CliError("%s has no line %r (it has %s)" % (args.replay, name, ", ".join(names)))
    symbol = {("out", "delivered"): ">", ("in", "delivered"): "<", ("out", "sent"): "}",
              ("in", "sent"): "{"}[(args.direction, args.side)]
    records = cap.select(symbol, name)
    if not records:
        raise CliError("%s: no '%s' records on line %s" % (args.replay, symbol, name))
    baud = cap.lines.get(name, {}).get("baud", args.baud)
    if faults.any_byte_faults:
        inj = FaultInjector(faults, args.direction, framing.data_bits, framing.parity != "N",
                            framing.stop_bits)
        char = framing.bits_per_char / baud
        for r in records:
            r.data = inj.apply(r.data, r.t, char)
    ep = open_endpoint(spec, baud, "replay port", framing)
    print("replay: %s" % ep.describe(), flush=True)
    stop = _stop_event(args.duration)
    wait = ep.has_client if hasattr(ep, "has_client") else None
    total = 0
    try:
        while True:
            total += replay(records, ep, args.replay_speed, stop, wait_for_client=wait)
            if not args.loop or stop.is_set():
                break
        _drain(ep, stop)
    except KeyboardInterrupt:
        pass
    finally:
        ep.close()
    print("replay: %d bytes from %d records" % (total, len(records)), file=sys.stderr)
    return 0


def _drain(ep, stop, limit=2.0, settle=0.25):
    """Give a pty reader the time to take the last bytes before the pty goes away. The kernel
    moves written bytes to the reader's queue a little later (on a loaded machine, later
    still), so the queue must stay empty for `settle` seconds, not just once."""
    pending = getattr(ep, "pending", None)
    if pending is None:
        return
    deadline = time.monotonic() + limit
    empty_since = None
    while time.monotonic() < deadline and not stop.is_set():
        now = time.monotonic()
        if pending():
            empty_since = None
        elif empty_since is None:
            empty_since = now
        elif now - empty_since >= settle:
            return
        time.sleep(0.02)
