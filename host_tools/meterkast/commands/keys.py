"""meterkast keys: make a meter's keys file (P1 and management keys, system title)."""
from meterkast.keys.file import check_keys, new_keys, write_keys

HELP = "create a keys file for a meter (meterkast keys new --out FILE)"


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


def main(args):
    if args.action == "new":
        keys = new_keys(args.serial, args.smarty_ak)
        write_keys(args.out, keys, args.force)
        print("wrote %s (system title %s); keep it secret: it decrypts and signs" % (
            args.out, keys["system_title"]))
        return 0
    keys = check_keys(args.file, plain_p1=True)
    print("system title %s" % keys["system_title"].hex().upper())
    print("encrypted P1: %s" % ("yes" if "p1" in keys else "no"))
    print("P3 management client: %s" % ("yes" if "management" in keys else "no"))
    return 0
