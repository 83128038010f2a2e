# meterkast: the metering-IC front-end on a board: ADE7953 chips on machine.SPI
# MIT license
#
# The board table (firmware/boards) names this module as the front-end factory. One ADE7953
# per phase shares the SPI bus, each with its own chip-select pin; the driver and the contract
# adapter are metering.ade7953 and metering.ic_frontend (supplier B), which receive the bus
# and the pins and never import `machine` themselves. On a board the chips integrate in real
# time, so there is no `advance` hook.
#
# Spec fields (board table, or "frontend" in /meter.json): spi (bus id), sck, mosi, miso, cs
# (one GPIO per phase), baud (<= 2 MHz), phases (default: one per cs). The analog network:
# by default ic_frontend.REFERENCE_DESIGN, a 1:1022 voltage divider on PGA x1 and a 150 uOhm
# shunt on PGA x16 per phase (+-500 mV peak is 511 V and 208 A peak: a crest-factor-3 current
# at Imax, 180 A peak, fits), with BOARD_SCALE its register scales (derived in ic_frontend.py
# from the datasheet's full-scale codes). A board with another network gives "scale" (the
# BOARD_SCALE fields) and "pga" ([PGA_V, PGA_IA] gains). "hpf": true keeps the chip's DC
# high-pass filters (a CT cannot pass DC anyway); the default, off, measures a load's DC as a
# meter must (metering/README.md). The per-phase factory calibration (AVGAIN, AIGAIN, AWGAIN,
# PHCALA) is "calibration" in /meter.json, written by the calibration bench; without it the
# chips run at unity gain and the meter's accuracy is that of its parts (the natural scales
# of REFERENCE_DESIGN are within 0.5 % of BOARD_SCALE).
import machine
from micropython import const

from hal.board.frontend import FrontendMissing
from metering.ade7953 import Ade7953, BusError
from metering.ic_frontend import BOARD_SCALE, REFERENCE_DESIGN, IcFrontend

_UNITY = const(0x400000)  # gain registers: value / 0x400000


def from_board(_machine, spec, clock):
    Pin = machine.Pin
    spi = machine.SPI(spec["spi"], baudrate=spec.get("baud", 1000000), polarity=1, phase=1,
                      sck=Pin(spec["sck"]), mosi=Pin(spec["mosi"]), miso=Pin(spec["miso"]))
    pins = spec["cs"][: spec.get("phases", len(spec["cs"]))]
    chips = []
    for cs in pins:
        chips.append(Ade7953(spi, Pin(cs, Pin.OUT, value=1)))
    calibration = spec.get("calibration") or [(_UNITY, _UNITY, _UNITY, 0)] * len(chips)
    try:
        return IcFrontend(chips, calibration, spec.get("scale") or BOARD_SCALE,
                          pga=tuple(spec.get("pga") or REFERENCE_DESIGN[2:]),
                          hpf=bool(spec.get("hpf", False)))
    except BusError as e:
        raise FrontendMissing(
            "the ADE7953 metering IC does not answer on SPI %s (CS GPIO %s): %s; check its "
            "wiring and supply (docs/board.md)" % (spec["spi"], ", ".join(str(p) for p in pins), e)
        )
