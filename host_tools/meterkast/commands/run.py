"""meterkast run: boot the MicroPython firmware as an emulated meter with its serial ports."""
import signal
import sys
import threading

from meterkast.emu.emulator import Emulator
from meterkast.emu.runcheck import check_output_file
from meterkast.errors import CliError

HELP = "start the emulated meter (MicroPython firmware) with P1 and optional P3 ports"


def add_arguments(p):
    p.add_argument("--p1", default="pty", metavar="SPEC",
                   help="P1 port: pty, pty:LINK, tcp:HOST:PORT or a device (default pty)")
    p.add_argument("--p3", metavar="SPEC",
                   help="grid-operator DLMS port: the same SPEC forms (HDLC), or "
                   "tcp-wrapper:HOST:PORT for DLMS over TCP with the IEC 62056-47 wrapper "
                   "(usually port 4059)")
    p.add_argument("--start", metavar="ISO8601", help="set the meter clock (UTC unless a zone is given)")
    p.add_argument("--speed", type=float, default=1.0, help="meter seconds per wall second")
    p.add_argument("--duration", type=int, metavar="S",
                   help="stop after S meter seconds (at --speed 1, S wall seconds)")
    p.add_argument("--seed", type=int, default=1, help="household seed (and default serial)")
    p.add_argument("--serial", type=int, help="meter serial number (default: the seed)")
    p.add_argument("--scenario", metavar="NAME", help="seeds/scenarios/NAME.json or a JSON path")
    p.add_argument("--state", metavar="DIR", help="keep flash image and RTC here (default: fresh temp dir)")
    p.add_argument("--keys", metavar="FILE", help="keys file: encrypt P1, enable P3 management")
    p.add_argument("--plain-p1", action="store_true",
                   help="allow a keys file without p1 keys (P1 then goes out in plain text)")
    p.add_argument("--report", metavar="FILE", help="write the firmware's per-second readings (JSON lines)")
    p.add_argument("--heapsize", metavar="SIZE",
                   help="MicroPython heap, e.g. 96K: run in a board's RAM (micropython -X heapsize)")
    p.add_argument("--console", action="store_true", help="attach the console to P1 in this terminal")
    p.add_argument("--p1-faults", metavar="SPEC",
                   help="faults on the P1 line, e.g. ber=1e-4,drop=1e-4,break=200@30,seed=1")
    p.add_argument("--p3-faults", metavar="SPEC", help="faults on the P3 line, same SPEC")
    p.add_argument("--capture", metavar="FILE", help="record every byte on the lines, with times")
    p.add_argument("--frontend", "--metering", choices=("direct", "waveform", "ic"),
                   default="direct", dest="frontend",
                   help="the metering module's measurement front-end (its supplier): the "
                        "household's power as is (direct), ADC samples through the window DSP "
                        "(waveform), or emulated ADE7953 chips (ic)")
    p.add_argument("--modules", choices=("two", "single"), default="two",
                   help="two: the metering and comms modules as two MCUs (two micropython "
                        "processes) joined by the one-way internal link (default); single: the "
                        "single-board build, both in one interpreter")
    p.add_argument("--link-faults", metavar="SPEC",
                   help="faults on the internal link line (--modules two), same SPEC as --p1-faults")
    p.add_argument("--link-monitor", metavar="SPEC",
                   help="a read-only copy of what the comms module receives on the internal link "
                        "(--modules two) at pty, pty:LINK or tcp:HOST:PORT; watch it with "
                        "meterkast console")


def main(args):
    if args.console and args.p1 is None:
        raise CliError("--console needs a P1 port")
    check_output_file(args.report, "--report")  # nothing is created before every check passed
    report_file = None

    def on_event(ev):
        if report_file is not None:
            import json

            report_file.write(json.dumps(ev) + "\n")
        kind = ev.get("ev")
        if kind == "p3_refused":
            print("firmware: %s" % refusal_text(ev), file=sys.stderr)
        if kind in ("error", "clock", "text", "warning", "critical", "overflow"):
            print("%s: %s" % ("line" if kind == "overflow" else "firmware", ev.get("msg")),
                  file=sys.stderr)

    emu = Emulator(p1=args.p1, p3=args.p3, start=args.start, speed=args.speed, seed=args.seed,
                   scenario=args.scenario, state=args.state, keys=args.keys,
                   duration=args.duration, report=bool(args.report), serial=args.serial,
                   on_event=on_event, heapsize=args.heapsize, p1_faults=args.p1_faults,
                   p3_faults=args.p3_faults, capture=args.capture, frontend=args.frontend,
                   plain_p1=args.plain_p1, modules=args.modules, link_faults=args.link_faults,
                   link_monitor=args.link_monitor)
    if args.report:  # line-buffered: `tail -f` follows the report while the meter runs
        report_file = open(args.report, "w", buffering=1)
    emu.start()
    for name in ("p1", "p3", "link"):
        if name in emu.endpoints:
            print("%s: %s" % (name, emu.describe(name)), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    console = None
    if args.console:
        from meterkast.console.live import run_console

        console = threading.Thread(target=run_console, args=(emu.port("p1"),),
                                   kwargs={"stop": stop, "keys": args.keys}, daemon=True)
        console.start()
    else:
        threading.Thread(target=_stdin_commands, args=(emu, stop), daemon=True).start()
    try:
        while emu.alive() and not stop.is_set():
            stop.wait(0.2)
    except KeyboardInterrupt:
        pass
    stop.set()
    died = not emu.alive() and emu.returncode() != 0
    code = emu.stop()
    if report_file is not None:
        report_file.close()
    if died or (code not in (0, None)):
        critical = [e["msg"] for e in emu.events if e.get("ev") == "critical"]
        err = critical or emu.stderr.strip().splitlines()
        print("meterkast run: firmware exited with status %s%s" % (
            code, (": " + err[-1]) if err else ""), file=sys.stderr)
        return 1
    return 0


# ACSE result-source-diagnostic (acse-service-user) values the meter sends in a refused AARE
DIAGNOSTICS = {1: "no reason given (a malformed request or xDLMS InitiateRequest)",
               2: "application context not supported",
               3: "calling AP title not recognised (unknown client system title)",
               11: "authentication mechanism not recognised",
               12: "authentication mechanism required",
               13: "authentication failure",
               14: "authentication required"}


def refusal_text(ev):
    """One line for a refused P3 association ({"ev": "p3_refused"} from the firmware)."""
    text = "P3 association refused (client SAP %s): %s" % (
        ev.get("client"), DIAGNOSTICS.get(ev.get("diagnostic"), "diagnostic %s" % ev.get("diagnostic")))
    why = ev.get("why")
    if why == -1:
        text += ": the request does not decipher (wrong keys, or altered)"
    elif why == -2:
        text += (": its invocation counter is not above the last one accepted (a replay, or a "
                 "head-end behind: read 0.0.43.1.1.255 as the public client and go on above it)")
    if ev.get("initiate_error", -1) >= 0:
        text += " (xDLMS initiate error %d)" % ev["initiate_error"]
    return text


def _stdin_commands(emu, stop):
    """Control commands typed into the run terminal: 'clock +3600', 'clock 2026-01-01T00:00Z',
    'stats', 'swap waveform|ic|direct' (two modules), 'stop'."""
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if line == "stop":
            stop.set()
            return
        if emu.alive():
            try:
                emu.command(line)
            except CliError as e:
                print("meterkast run: %s" % e, file=sys.stderr)
