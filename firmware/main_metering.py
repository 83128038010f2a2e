# meterkast: the metering module's board: measure, keep the registers and the profile, send
# MIT license
#
# Entry point of the metering image (`meterkast build --module metering` installs it as
# main.py). Nothing but the internal link's TX line leaves this board; its image carries no
# keys, no crypto and no port code (firmware/manifest.py).
from hal.board.boot import start
from metering.module import build_metering


def run_board():
    hal, cfg = start("metering")
    if hal is None:
        return
    from meter import Meter

    metering = build_metering(hal, hal.link, hal.frontend_kind, int(cfg["serial"]))
    hal.serve(Meter(hal, metering))


if __name__ == "__main__":  # a board runs main.py as __main__; the board emulator calls it
    run_board()
