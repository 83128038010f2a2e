# meterkast: which files each firmware image carries: the metering module, the comms module, or
# both on one board
# MIT license
#
# One tree, three images. The metering module's image holds no keys, crypto, P1, P3 or network
# code at all; the comms module's holds no metrology. Both carry the contract (the link format,
# the reading record, the front-end contract), util and the board HAL. Paths are relative to
# firmware/; an entry ending in "/" is a whole folder. `meterkast build --module` and
# `meterkast flash --module` use this table (loaded as plain Python, like boards/), and
# tests/host/test_flash_build.py checks the built images against it.

_COMMON = ("meter.py", "boards/", "contract/", "util/", "hal/__init__.py", "hal/aio.py",
           "hal/board/__init__.py", "hal/board/boot.py", "hal/board/uart.py",
           "hal/board/watchdog.py")
_METERING = ("metering/", "hal/rtc.py", "hal/board/clock.py", "hal/board/frontend.py",
             "hal/board/ic.py")
# hal/board/net.py: P3 on TCP (WLAN/LAN) on a board with a network; only comms has P3
_COMMS = ("comms/", "hal/board/net.py")

MODULES = ("single", "metering", "comms")


def entry(module):
    """The image's entry point, installed on the board as main.py."""
    if module == "metering":
        return "main_metering.py"
    if module == "comms":
        return "main_comms.py"
    if module == "single":
        return "main.py"
    raise ValueError("unknown module %r; one of %s" % (module, ", ".join(MODULES)))


def files(module):
    """The entries of one image's manifest."""
    if module == "metering":
        return (entry(module),) + _COMMON + _METERING
    if module == "comms":
        return (entry(module),) + _COMMON + _COMMS
    if module == "single":
        return (entry(module),) + _COMMON + _METERING + _COMMS + ("hal/memlink.py",)
    raise ValueError("unknown module %r; one of %s" % (module, ", ".join(MODULES)))


def carries(module, rel):
    """Is firmware file `rel` (e.g. "comms/crypto/gcm.py") part of the image of `module`?"""
    for entry in files(module):
        if rel == entry or (entry.endswith("/") and rel.startswith(entry)):
            return True
    return False
