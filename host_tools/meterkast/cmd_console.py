"""meterkast console: read a P1 port (any pyserial URL or device) and show each telegram."""
import json
import sys
import time

from meterkast.cli import CliError
from meterkast.p1 import P1StreamDecoder

HELP = "show the telegrams arriving on a serial port, decoded, with their CRC status"


def add_arguments(p):
    p.add_argument("url", help="device path, pty path, or pyserial URL (e.g. socket://127.0.0.1:2001)")
    p.add_argument("--json", action="store_true", help="one JSON object per telegram")
    p.add_argument("--count", type=int, help="stop after N telegrams")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--timeout", type=float, help="give up after S seconds without a telegram")


def open_port(url, baud):
    import serial

    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=0.1)
    except (serial.SerialException, ValueError) as exc:
        raise CliError("cannot open %s: %s" % (url, exc))


def summary(t):
    f = t.fields
    imp = f.get("1-0:1.7.0", 0.0)
    exp = f.get("1-0:2.7.0", 0.0)
    regs = [f.get(k, 0.0) for k in ("1-0:1.8.1", "1-0:1.8.2", "1-0:2.8.1", "1-0:2.8.2")]
    tariff = f.get("0-0:96.14.0", "?")
    volts = "/".join("%.1f" % f[k] for k in ("1-0:32.7.0", "1-0:52.7.0", "1-0:72.7.0") if k in f)
    return "%s  T%s  +%6.3f kW  -%6.3f kW  import %.3f/%.3f kWh  export %.3f/%.3f kWh  %s V  CRC %s" % (
        f.get("0-0:1.0.0", "?"), str(tariff).lstrip("0"), imp, exp, regs[0], regs[1], regs[2], regs[3],
        volts, "ok" if t.crc_ok else "BAD",
    )


def stream(port, count=None, timeout=None, stop=None):
    """Yield decoded telegrams from an open port."""
    dec = P1StreamDecoder()
    seen = 0
    last = time.monotonic()
    while stop is None or not stop.is_set():
        data = port.read(4096)
        if data:
            for t in dec.feed(data):
                seen += 1
                last = time.monotonic()
                yield t
                if count is not None and seen >= count:
                    return
        elif timeout is not None and time.monotonic() - last > timeout:
            raise CliError("no telegram for %.0f s" % timeout)


def run_console(url, as_json=False, count=None, baud=115200, timeout=None, stop=None, out=None):
    out = out or sys.stdout
    port = open_port(url, baud)
    bad = 0
    try:
        for t in stream(port, count, timeout, stop):
            if not t.crc_ok:
                bad += 1
            if as_json:
                out.write(json.dumps(t.as_json()) + "\n")
            else:
                out.write(summary(t) + "\n")
            out.flush()
    finally:
        port.close()
    return bad


def main(args):
    bad = run_console(args.url, args.json, args.count, args.baud, args.timeout)
    return 1 if bad else 0
