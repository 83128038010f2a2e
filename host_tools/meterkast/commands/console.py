"""meterkast console: inspect a serial port (any pyserial URL or device) and show what is on it.

It finds plain P1 telegrams, encrypted P1 frames, HDLC frames, internal link frames (the
metering module to the comms module, docs/link.md) and unknown bytes by itself
(meterkast.wire.frames), verifies each one (CRC and strict syntax, GCM tag with --keys, HCS/FCS, the
link receiver's checks) and keeps counters. Three ways to show it: a live terminal view (the
default on a terminal), one line per frame (--plain), or one JSON object per frame (--json, for
scripts):

    {"1-0:1.8.1": {"value": 1234.567, "unit": "kWh"}, "0-0:96.1.1": "4B38...", ...,
     "crc_ok": true, "spec": "dsmr5", "kind": "p1", "ok": true, "length": 917}
    {..., "kind": "p1-encrypted", "ok": true, "system_title": "...", "frame_counter": 42,
     "tag_ok": true}
    {"crc_ok": false, "kind": "p1", "ok": false, "error": "CRC mismatch ...", "length": 917}
    {"kind": "hdlc", "ok": true, "dst": 16, "src": 1, "control": "I ns=0 nr=1 P/F", ...}
    {"type": "link_reading", "time": "2026-07-01T10:15:03+00:00", "mono": 3, ...,
     "import_t1_wh": 1234567, ..., "seq": 12, "kind": "link", "ok": true, "length": 126}
    {"type": "link_rejected", "frame_type": "reading", "kind": "link", "ok": false,
     "error": "FCS mismatch", "length": 126}
    {"kind": "unknown", "ok": null, "hex": "..."}  {"kind": "skipped", "bytes": 4096, ...}

Values carry their unit, in the units --units asks for (dsmr5: kW, kWh, m3 as DSMR 5 uses, the
default; si: W, Wh, J; native: as the meter sent them); ids and other text are strings, times ISO
8601 (meterkast.wire.p1_values). --flat gives the earlier form, values as sent without units
("1-0:1.8.1": 1234.567), for scripts written for it. "crc_ok" is null for a telegram sent
without a CRC (DSMR 2.2/3, Q3D): accepted on its syntax, never verified. "spec" names the
telegram specification (meterkast.wire.p1_spec) it was checked against: detected, or --spec.

DLMS push ports (HAN meters: Aidon, Kamstrup, Kaifa, Iskra, Landis+Gyr, Sagemcom, Siemens;
meterkast.wire.push): a data-notification in an HDLC frame (segments and general-block-transfer
blocks joined), in M-Bus long frames (segments joined) or in a raw 0xDB frame (Austria) keeps
its frame's kind ("hdlc", "mbus" or "p1-encrypted") and carries its values at the top level
with the same keys and units as P1, plus a "push" object; an encrypted one is opened with the
"p1" key of --keys:

    {"1-0:1.7.0": {"value": 4.027, "unit": "kW"}, "0-0:96.1.0": "7359992890497997",
     "0-0:1.0.0": "2025-12-14T16:00:00+00:00", ..., "crc_ok": true,
     "push": {"format": "obis", "invoke_id": 1073741824, "authenticated": null,
              "list": "AIDON_V0001"}, "spec": "dlms-push obis", "kind": "hdlc", "ok": true, ...}
    {"kind": "hdlc", "ok": false, ..., "push_error": "tag mismatch: wrong key or tampered frame"}
    {"kind": "mbus", "ok": true, "address": 255, "ci": "00", "segment": 0, "last": false,
     "push_segment": true, "length": 256}

"format" is "obis" (the frame names its values), "capture objects" (Landis+Gyr), a positional
list ("kaifa list 3 (3 phases)", "iskra list (18 values)", "list 1") or "unnamed" (values kept by
position under "unnamed", never given a P1 key by guess). "authenticated" is true when a GCM tag
was verified (security control 0x30), false (and "crc_ok" null) for 0x20, which encrypts
without a tag, and null for a push sent in clear (its HDLC FCS is its only check).

A rejected telegram never carries OBIS values at the top level (with --show-bad they appear under
"unverified"), so a script that reads values cannot take a corrupted one by mistake.
"""


import json
import sys

from meterkast.console.live import (
    run_console,
)
from meterkast.console.view import Stats
from meterkast.keys.file import Keys
from meterkast.wire.p1_spec import SPEC_NAMES
from meterkast.wire.p1_units import UNIT_SYSTEMS

HELP = ("inspect a serial port: P1 telegrams, encrypted P1, HDLC frames and DLMS pushes, internal "
        "link frames, verified, with counters")




def add_arguments(p):
    p.add_argument("url", help="device path, pty path, or pyserial URL (e.g. socket://127.0.0.1:2001)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON object per frame")
    out.add_argument("--plain", action="store_true", help="one line of text per frame")
    p.add_argument("--keys", metavar="FILE", help="keys file (JSON) to decrypt and verify encrypted frames (P1 and DLMS "
                        "pushes: the \"p1\" key; HDLC management traffic: \"management\")")
    p.add_argument("--count", type=int,
                   help="stop after N frames (telegrams, HDLC frames or link frames)")
    p.add_argument("--baud", type=int, default=115200)
    p.add_argument("--framing", default="8N1", help="8N1 (DSMR 4/5, default) or 7E1 (DSMR 2.2/3)")
    p.add_argument("--timeout", type=float, help="give up after S seconds without a frame")
    p.add_argument("--show-bad", action="store_true",
                   help="with --json, include the values of rejected telegrams under 'unverified'")
    p.add_argument("--spec", choices=SPEC_NAMES,
                   help="check P1 telegrams against this specification instead of detecting it")
    p.add_argument("--units", choices=UNIT_SYSTEMS, default="dsmr5",
                   help="units of the values in --json: dsmr5 (kW, kWh, m3; default), si (W, Wh, "
                        "J) or native (as the meter sends them)")
    p.add_argument("--flat", action="store_true",
                   help="with --json, values as sent and without units (the earlier form)")
    p.add_argument("--lenient", action="store_true",
                   help="show a telegram with a value outside its specification's shape (the "
                        "value is left out and listed under 'out_of_shape') instead of rejecting it")
    p.add_argument("--reconnect", action="store_true",
                   help="when the source closes (a TCP reader, a USB adapter pulled), open it again "
                        "and go on instead of ending")
    p.add_argument("--behind", type=int, metavar="BYTES",
                   help="when more than BYTES wait unread, skip to the newest data "
                        "(default: 3 seconds of line)")


def main(args):
    keys = Keys.load(args.keys) if args.keys else None
    mode = "json" if args.json else "plain" if args.plain else None
    stats = Stats()
    try:
        bad = run_console(args.url, count=args.count, baud=args.baud, timeout=args.timeout,
                          keys=keys, mode=mode, framing=args.framing, show_bad=args.show_bad,
                          behind=args.behind, stats=stats, reconnect=args.reconnect,
                          spec=args.spec, units=args.units, flat=args.flat, lenient=args.lenient)
    except KeyboardInterrupt:
        bad = stats.errors
    if not args.json:
        print("counters: " + json.dumps(stats.as_json()), file=sys.stderr)
    return 1 if bad else 0

