"""Running the firmware on this machine: the emulated meter as one or two `micropython`
processes with their flash images, RTC files and lines (`emulator`), checks of the files and
ports a run is given (`runcheck`), and the board emulator that boots a built board image under
the unix port with an emulated `machine` module (`boardemu`, with `boardemu_mp/`, the MicroPython
side it runs), and two of them, a metering board and a comms board, joined by the internal link
(`boardpair`)."""
