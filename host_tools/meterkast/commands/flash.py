"""meterkast flash: put the firmware, the meter's identity and its keys on a board with mpremote.

Steps, each one `mpremote connect PORT resume ...` run:
1. hold: write /hold (main.py then starts no meter) and read the current /meter.json. A running
   meter is interrupted by mpremote's Ctrl-C, but its hardware watchdog cannot be stopped, so on
   a board the device is reset next: it comes back held, with no watchdog, for the slow copy.
2. copy: delete the old firmware files (only the names the new build has; /data, where the
   meter keeps its registers and invocation counters, is never touched), copy the build tree,
   write /meter.json (serial, board; P3 on TCP and the WiFi network with --p3/--wifi-ssid) and,
   with --keys, /keys.json (read by comms only); with --wifi-key-file, /wifi.key.
3. verify (--verify): SHA-256 of every file written, computed on the device, compared with the
   local files. A mismatch leaves the board held: it does not run a damaged firmware.
4. release: delete /hold and reset; the board boots the new firmware.

`resume` keeps mpremote from soft-resetting first; the board emulator needs it (a soft reset
ends the unix port) and a board does not mind. A flash interrupted half-way leaves /hold in
place: run the command again.
"""








from meterkast.commands.build import TARGETS
from meterkast.image.flash import (
    flash,
)

HELP = "deploy the firmware to a board (or the board emulator) with mpremote"


def add_arguments(p):
    p.add_argument("--port", required=True, help="serial port of the board's REPL (e.g. /dev/ttyACM0)")
    p.add_argument("--board", required=True, choices=TARGETS,
                   help="build target: rp2 (Pico, Pico 2), esp32 (DevKitC) or emu (board emulator)")
    p.add_argument("--model", help="board table entry (pico, pico2, devkitc, emu); default: detected on the board")
    p.add_argument("--build", metavar="DIR", help="deploy this build tree (default: build now into a temp folder)")
    p.add_argument("--module", choices=("single", "metering", "comms"), default="single",
                   help="what the board is: both modules (single, default), or the metering or "
                        "the comms module of a two-board meter (docs/board.md)")
    p.add_argument("--keys", metavar="FILE", help="keys file (meterkast keys new) written to the comms keystore")
    p.add_argument("--move-keys", action="store_true",
                   help="put keys on this board although they were flashed to another one (that "
                        "board must never run with them again)")
    p.add_argument("--serial", type=int, help="meter serial number (needed on the first flash)")
    p.add_argument("--phases", type=int, choices=(1, 3), help="metering ICs fitted (default: one per phase, 3)")
    p.add_argument("--p3", metavar="SPEC",
                   help="where P3 is served: tcp-wrapper:PORT (IEC 62056-47 over TCP, e.g. "
                        "tcp-wrapper:4059), tcp:PORT (HDLC over TCP), uart (the board's P3 UART, "
                        "the default) or off; TCP needs a board with a network (devkitc, emu)")
    p.add_argument("--wifi-ssid", metavar="SSID", help="the WiFi network a WLAN board joins")
    p.add_argument("--wifi-key-file", metavar="FILE",
                   help="file holding the WiFi key (written to /wifi.key, never printed; an "
                        "empty file: an open network)")
    p.add_argument("--verify", action="store_true", help="read every file back (SHA-256) before releasing the board")
    p.add_argument("--no-reset", action="store_true", help="leave the board held at the REPL after copying")


def main(args):
    flash(args.port, args.board, args.build, args.keys, args.serial, args.model, args.verify,
          reset=not args.no_reset, phases=args.phases, move_keys=args.move_keys,
          module=args.module, p3=args.p3, wifi_ssid=args.wifi_ssid,
          wifi_key_file=args.wifi_key_file)
    return 0

