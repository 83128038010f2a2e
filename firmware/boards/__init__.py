# meterkast: the board table: which pins and peripherals each supported board uses
# MIT license
#
# Board differences are data, not code: hal.board reads one entry and builds the same HAL on
# every board. Host tools load this file too (meterkast flash checks --model, docs/board.md
# shows the pin table), so it stays plain Python with no MicroPython-only imports.
#
# An entry is built on each call rather than kept in a module-level dict: nothing here is
# mutable shared state, and the table's RAM is freed once the HAL is built.
#
# Fields:
#   port       MicroPython port ("rp2", "esp32"; "unix" for the board emulator)
#   march      mpy-cross -march for native/viper code on this board
#   machine    substring of os.uname().machine that identifies the board (auto-detection)
#   p1         consumer port: UART id, tx/rx GPIO, invert (DSMR P1 is inverted), request GPIO
#              (the 5 V data-request line through a divider; None = always send)
#   p3         grid-operator port: UART id, tx/rx GPIO (None: no P3 on this board)
#   network    the board's network interface, or None: {"kind": "wlan"} (network.WLAN station)
#              or {"kind": "lan", "args": {...}} (network.LAN(**args); a string value naming a
#              network constant, e.g. "PHY_LAN8720", is looked up). With one, /meter.json may
#              put P3 on TCP instead of the UART (hal.board.net)
#   link       the internal link when the modules are two boards (docs/board.md): the metering
#              board sends on this UART's tx pin; the comms board receives on its rx pin. It is
#              P1's UART: P1 only sends and the link only receives, so on a comms board the two
#              share one UART (TX inverted to the P1 jack, RX from the metering board)
#   wdt_ms     watchdog timeout (the RP2040/RP2350 hardware maximum is 8388 ms)
#   frontend   measurement front-end (see hal.board.frontend): here ADE7953 metering ICs on SPI
#              (hal.board.ic), one per phase; the sampled-waveform front-end needs a board
#              sample source (ADC by DMA) that does not exist yet
#   nominal_dv nominal voltage in 0.1 V


def _pico(name, chip):
    return {
        "name": name,
        "title": "Raspberry Pi %s (%s)" % ("Pico 2" if chip == "RP2350" else "Pico", chip),
        "port": "rp2",
        "march": "armv6m",  # one armv6m .mpy serves RP2040 and RP2350 (ARM cores)
        "machine": chip,
        # GP0/GP1 and GP4/GP5 are the MicroPython defaults for UART0 and UART1 on both chips.
        "p1": {"uart": 0, "tx": 0, "rx": 1, "invert": True, "request": 2},
        "p3": {"uart": 1, "tx": 4, "rx": 5},
        "network": None,  # a Pico W has WLAN, but is not in this table yet
        "link": {"uart": 0, "tx": 0, "rx": 1},
        "wdt_ms": 8000,
        # SPI0 on its default pins; chip selects for L1, L2, L3
        "frontend": {"kind": "ic", "module": "hal.board.ic", "spi": 0, "sck": 18, "mosi": 19,
                     "miso": 16, "cs": [17, 20, 21]},
        "nominal_dv": 2300,
    }


def _devkitc():
    return {
        "name": "devkitc",
        "title": "Espressif ESP32-DevKitC (ESP32-WROOM-32)",
        "port": "esp32",
        "march": "xtensawin",
        "machine": "ESP32",
        # UART0 is the USB console. UART1's default pins are wired to the SPI flash, so both
        # ports are given pins that are free and not boot-strapping pins.
        "p1": {"uart": 2, "tx": 17, "rx": 16, "invert": True, "request": 27},
        "p3": {"uart": 1, "tx": 32, "rx": 33},
        "network": {"kind": "wlan"},  # the ESP32's own WiFi, as a station
        "link": {"uart": 2, "tx": 17, "rx": 16},
        "wdt_ms": 8000,
        # VSPI (SPI 2) on its usual pins; chip selects for L1, L2, L3
        "frontend": {"kind": "ic", "module": "hal.board.ic", "spi": 2, "sck": 18, "mosi": 23,
                     "miso": 19, "cs": [5, 21, 22]},
        "nominal_dv": 2300,
    }


def _emu():
    # The board emulator (meterkast.boardemu): the unix port with an emulated `machine`, its
    # UARTs on ptys and emulated ADE7953 chips on its SPI bus, measuring a simulated household.
    return {
        "name": "emu",
        "title": "board emulator (MicroPython unix port)",
        "port": "unix",
        "march": "x64",
        "machine": "emulated board",
        "p1": {"uart": 0, "tx": 0, "rx": 1, "invert": True, "request": None},
        "p3": {"uart": 1, "tx": 4, "rx": 5},
        # an emulated WLAN (boardemu_mp/emu_network.py) that connects at once, on the host's
        # loopback, with real sockets: P3 over TCP is tested as on a DevKitC
        "network": {"kind": "wlan"},
        "link": {"uart": 0, "tx": 0, "rx": 1},
        "wdt_ms": 8000,
        "frontend": {"kind": "ic", "module": "hal.board.ic", "spi": 0, "sck": 18, "mosi": 19,
                     "miso": 16, "cs": [17, 20, 21]},
        "nominal_dv": 2300,
    }


def names():
    return ("pico", "pico2", "devkitc", "emu")


def board(name):
    """A fresh copy of one board's entry; ValueError names the known boards."""
    if name == "pico":
        return _pico("pico", "RP2040")
    if name == "pico2":
        return _pico("pico2", "RP2350")
    if name == "devkitc":
        return _devkitc()
    if name == "emu":
        return _emu()
    raise ValueError("unknown board %r; known: %s" % (name, ", ".join(names())))


def detect(machine):
    """The board whose `machine` string occurs in os.uname().machine, or None."""
    for name in names():
        if board(name)["machine"] in machine:
            return name
    return None


def networked(name):
    """Does board `name` have a network interface (so P3 may be on TCP)?"""
    return board(name).get("network") is not None


def for_port(port):
    """Board names served by one build target (rp2, esp32, emu)."""
    out = []
    for name in names():
        b = board(name)
        if b["port"] == port or (port == "emu" and name == "emu"):
            out.append(name)
    return out
