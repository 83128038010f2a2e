"""meterkast keys: make a meter's keys file (P1 and management keys, system title, master key),
check one, or rotate the management or the P1 keys of a running meter over P3
(global_key_transfer)."""
import serial

from meterkast.dlms.client import DlmsError
from meterkast.dlms.hdlc import HdlcError
from meterkast.dlms.security import CounterState, SecurityError
from meterkast.dlms.wrapper import WrapperError
from meterkast.dlms.wrapper import parse_spec as wrapper_url
from meterkast.errors import CliError
from meterkast.keys.file import check_keys, new_keys, write_keys
from meterkast.keys.rotate import rotate, rotate_p1

HELP = "create, check or rotate a meter's keys (meterkast keys new --out FILE)"


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    n = sub.add_parser("new", help="write fresh random keys (file mode 0600)")
    n.add_argument("--out", required=True, metavar="FILE")
    n.add_argument("--serial", type=int, default=1, help="meter serial, part of the system title")
    n.add_argument("--smarty-ak", action="store_true",
                   help="use the E-Meter P1 specification's fixed P1 authentication key "
                        "(what Luxembourg Smarty readers expect) instead of a random one")
    n.add_argument("--force", action="store_true", help="overwrite an existing file")
    s = sub.add_parser("check", help="validate a keys file and show what it enables")
    s.add_argument("file")
    r = sub.add_parser("rotate", help="give a meter new management (or P1) keys over P3 "
                       "(global_key_transfer, wrapped with the master key) and update the file")
    r.add_argument("url", help="the meter's P3 port: a pyserial URL or device (HDLC), or "
                   "tcp-wrapper:HOST:PORT (IEC 62056-47)")
    r.add_argument("--keys", required=True, metavar="FILE",
                   help="the keys file in force; it gets the new keys, the old ones go to "
                        "FILE.old")
    r.add_argument("--baud", type=int, default=115200)
    r.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")
    r.add_argument("--port", choices=("management", "p1"), default="management",
                   help="whose keys: the management client's (0.0.43.0.0.255, default) or the "
                        "P1 port's (0.0.43.0.1.255; the file's \"p1\" section)")
    r.add_argument("--p1-url", metavar="URL",
                   help="with --port p1: the meter's P1 port; the rotation counts as done when a "
                        "telegram read there verifies under the new keys (without it: when the "
                        "meter answers success)")
    r.add_argument("--p1-wait", type=float, default=30.0, metavar="S",
                   help="seconds to wait for that telegram")


def main(args):
    if args.action == "new":
        keys = new_keys(args.serial, args.smarty_ak)
        write_keys(args.out, keys, args.force)
        print("wrote %s (system title %s); keep it secret: it decrypts and signs" % (
            args.out, keys["system_title"]))
        return 0
    if args.action == "rotate":
        return _rotate(args)
    keys = check_keys(args.file, plain_p1=True)
    print("system title %s" % keys["system_title"].hex().upper())
    print("encrypted P1: %s" % ("yes" if "p1" in keys else "no"))
    print("P3 management client: %s" % ("yes" if "management" in keys else "no"))
    print("key rotation (master key): %s" % (
        "yes" if "kek" in keys.get("management", {}) else "no"))
    return 0


def _rotate(args):
    try:
        counters = CounterState(args.keys + ".ic")
    except ValueError as exc:
        raise CliError(str(exc))
    try:
        try:
            url = wrapper_url(args.url)
            port = serial.serial_for_url(url or args.url, baudrate=args.baud, timeout=0.05)
        except (serial.SerialException, ValueError) as exc:
            raise CliError("cannot open %s: %s" % (args.url, exc))
        p1 = None
        try:
            if args.port == "p1":
                if args.p1_url:
                    try:
                        p1 = serial.serial_for_url(args.p1_url, baudrate=115200, timeout=0.05)
                    except (serial.SerialException, ValueError) as exc:
                        raise CliError("cannot open %s: %s" % (args.p1_url, exc))
                print(rotate_p1(port, args.keys, counters, args.timeout, url is not None, p1,
                                args.p1_wait))
            else:
                if args.p1_url:
                    raise CliError("--p1-url goes with --port p1")
                print(rotate(port, args.keys, counters, args.timeout, url is not None))
        except (HdlcError, WrapperError, DlmsError, SecurityError,
                serial.SerialException) as exc:
            raise CliError("%s: %s (the keys in force are unchanged unless %s.new says "
                           "otherwise: run the command again)" % (args.url, exc, args.keys))
        finally:
            if p1 is not None:
                p1.close()
            port.close()
    finally:
        counters.close()
    return 0
