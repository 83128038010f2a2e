# meterkast: choose the board's measurement front-end from configuration
# MIT license
#
# The front-end contract is contract/frontend.py. Which supplier a board carries (sampled
# waveform on the ADC, or a metering IC on SPI/UART) is configuration: the board table entry
# (firmware/boards) or a "frontend" object in /meter.json, of the form
#
#   {"kind": "waveform" | "ic", "module": "<module>", "factory": "from_board", ...}
#
# The named module's factory is called as factory(machine, spec, clock) and returns the
# front-end; it builds its own ADC/SPI/UART objects from the pins in `spec`, so this file needs
# no knowledge of any supplier. A board without a configured front-end does not boot: it raises
# FrontendMissing with the fix in the message. It never falls back to invented measurements.
# (The board emulator runs the same front-end code; its chips are emulated behind machine.SPI.)


class FrontendMissing(Exception):
    pass


def build_frontend(machine, spec, clock, board_name):
    if not spec:
        raise FrontendMissing(
            "board %r has no measurement front-end configured: add a \"frontend\" entry "
            "(kind waveform or ic, module, factory, pins) to its entry in firmware/boards or to "
            "/meter.json; the meter does not run without real measurements" % board_name
        )
    kind = spec.get("kind")
    name = spec.get("module")
    if not name:
        raise FrontendMissing("front-end %r of board %r names no module" % (kind, board_name))
    try:
        module = __import__(name, None, None, ("_",))
    except ImportError as e:
        raise FrontendMissing("front-end module %r is not on this flash (%s)" % (name, e))
    factory = getattr(module, spec.get("factory", "from_board"), None)
    if factory is None:
        raise FrontendMissing("front-end module %r has no factory %r" % (name, spec.get("factory", "from_board")))
    return factory(machine, spec, clock)
