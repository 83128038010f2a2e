"""meterkast dump: decode a stopped meter's flash image (registers, counters, log, profile)."""
import json
import os
import sys

from meterkast.errors import CliError
from meterkast.image.flashimage import dump

HELP = "print the registers, power-failure log and quarter-hour profile stored in a flash image"


def add_arguments(p):
    p.add_argument("--state", required=True, metavar="DIR",
                   help="the meter's --state directory (or a flash image file)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--last", type=int, metavar="N", help="only the newest N profile entries")


def main(args):
    if not os.path.exists(args.state):
        raise CliError("--state %s: no such directory or flash image: give a meter's --state "
                       "directory" % args.state)
    d = dump(args.state)
    if args.last is not None:
        d["profile"] = d["profile"][-args.last:] if args.last else []
    if args.json:
        json.dump(d, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return 0
    regs = d.get("registers")
    print("register slots: %s" % ", ".join("%s %s" % kv for kv in d["register_slots"].items()))
    if regs is None:
        print("no valid register record (a blank or damaged meter)")
    else:
        print("saved at %s (record %d)" % (d["saved_at"], d["seq"]))
        for k, v in regs.items():
            print("  %-14s %12.3f kWh" % (k.replace("_wh", ""), v / 1000))
        print("power failures: %d (long: %d)" % (d["power_failures"], d["long_power_failures"]))
        for e in d["power_failure_log"]:
            print("  long failure ended %s, lasted %d s" % (e["end"], e["duration_s"]))
        print("voltage sags %s, swells %s" % (d["voltage_sags"], d["voltage_swells"]))
    prof = d["profile"]
    damaged = sum(1 for e in prof if e.get("damaged"))
    print("quarter-hour profile: %d entries, %d damaged" % (len(prof), damaged))
    print("  %-20s %-4s %12s %12s %12s %12s  flags" % ("time (UTC)", "st", "imp T1 Wh", "imp T2 Wh",
                                                    "exp T1 Wh", "exp T2 Wh"))
    for e in prof:
        if e.get("damaged"):
            print("  DAMAGED entry in %s at offset %d%s" % (e["segment"], e["offset"],
                                                           " (torn write)" if e.get("torn") else ""))
            continue
        print("  %-20s 0x%02X %12d %12d %12d %12d  %s" % (
            e["time"], e["status"], e["import_t1_wh"], e["import_t2_wh"], e["export_t1_wh"],
            e["export_t2_wh"], ",".join(e["flags"])))
    return 0
