# meterkast: what every board image does at boot: the hold flag, the configuration, the HAL
# MIT license
#
# `meterkast flash` writes /meter.json (identity and board settings, "module": what this board
# is) and, for a comms or single board, the comms keystore (comms.crypto.keystore). While it replaces the
# firmware it leaves /hold, and the meter does not start.
import json
import os

BOARD_CONFIG = "/meter.json"
BOARD_HOLD = "/hold"


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def start(module):
    """(hal, config) for an image of `module`, or (None, None) with the reason printed."""
    if exists(BOARD_HOLD):
        print("meterkast: %s present, firmware update in progress: meter not started" % BOARD_HOLD)
        return None, None
    if not exists(BOARD_CONFIG):
        print("meterkast: no %s: set the board up with `meterkast flash`" % BOARD_CONFIG)
        return None, None
    with open(BOARD_CONFIG) as f:
        cfg = json.load(f)
    if cfg.get("module", "single") != module:
        print("meterkast: %s says this board is %r, but this is the %s image: flash it again "
              "with --module" % (BOARD_CONFIG, cfg.get("module", "single"), module))
        return None, None
    from hal.board import build

    return build(cfg), cfg
