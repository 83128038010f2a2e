# meterkast: the comms module's board: the link in, P1 and P3 out, the keys
# MIT license
#
# Entry point of the comms image (`meterkast build --module comms` installs it as main.py). It
# believes the metering board only what the link brings and its checks pass (comms.link.port);
# its image carries no metrology (firmware/manifest.py).
from comms.secure import build_comms, identity_for
from comms.secure import BOARD_KEYS
from hal.board.boot import exists, start


def run_board():
    hal, cfg = start("comms")
    if hal is None:
        return
    from meter import Meter

    serial = int(cfg["serial"])
    keys_path = BOARD_KEYS if exists(BOARD_KEYS) else None
    comms = build_comms(hal, hal.link, identity_for(serial), keys_path)
    hal.serve(Meter(hal, comms=comms, identity=identity_for(serial)))


if __name__ == "__main__":  # a board runs main.py as __main__; the board emulator calls it
    run_board()
