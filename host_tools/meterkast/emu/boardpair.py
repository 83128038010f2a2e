"""Two emulated boards joined by the internal link: a metering board and a comms board.

The two-board meter of docs/board.md, made of two board emulators (meterkast.emu.boardemu), each
with its own flash image, console and `machine`:

* the **metering board** (`meterkast flash --module metering`): its only UART is the link's
  (the board table's `link` entry); what it sends there goes into the host, never to the outside;
* the **comms board** (`--module comms`): the link's UART is P1's (the board table says so: P1
  only sends, the link only receives): its TX goes to the P1 pty, its RX is fed by the link and
  nothing else; P3 on its own UART, as on a single board;
* the **link**: a meterkast.line.paced.Line from the metering board's UART to the comms board's,
  one-way, paced at the link's baud rate (115200 8N1), with the fault injector of `meterkast run
  --link-faults` (`link_faults=SPEC`). Nothing is wired back: the metering board's RX stays
  open. While the comms board is off, what the link carries is lost, as on the wires.
  `link_monitor=SPEC` (pty, pty:LINK, tcp:HOST:PORT) gives a read-only copy of what the comms
  board receives, as `meterkast run --link-monitor` does (meterkast.line.paced.LineMonitor).

    with BoardPair(workdir) as pair:
        # meterkast flash --port pair.metering.port --board emu --module metering --serial N
        # meterkast flash --port pair.comms.port --board emu --module comms --serial N --keys K
        pair.comms.uart_port("p1"), pair.comms.uart_port("p3"), pair.link.stats()
        pair.monitor.endpoint  # with link_monitor=SPEC
        pair.comms.power_cycle()
"""
from pathlib import Path

from meterkast.emu.boardemu import BoardEmulator
from meterkast.emu.emulator import _Diode
from meterkast.line.endpoints import PtyEndpoint, open_endpoint
from meterkast.line.paced import LineMonitor

LINK_BAUD = 115200  # docs/link.md; a board table entry may say otherwise ("baud")


class P1Jack(PtyEndpoint):
    """P1's outside end on a comms board: the meter only sends. The UART's RX pin is the
    link's, so whatever a P1 reader might send is read and thrown away."""

    def read(self):
        super().read()
        return b""


class MeteringBoard(BoardEmulator):
    """A board whose only wired UART is the link's TX, into `link_rx` (the comms board's end)."""

    def __init__(self, link_rx, link_faults=None, **kw):
        super().__init__(p1=False, p3=False, **kw)
        self._link_rx = link_rx
        self._link_faults = link_faults
        self.link = None

    def _wire_uarts(self, uarts, board):
        spec = board["link"]
        uarts[str(spec["uart"])] = self._uart("link", spec.get("baud", LINK_BAUD),
                                              _Diode(self._link_rx), self._link_faults)
        self.link = self._lines[-1]


class CommsBoard(BoardEmulator):
    """A board with P1 (TX to the outside, RX from the link) and P3."""

    def _wire_uarts(self, uarts, board):
        if board["link"]["uart"] != board["p1"]["uart"]:
            raise ValueError("the board table puts the link on another UART than P1; "
                             "this emulator wires the comms board's link RX to P1's UART")
        uarts[str(board["p1"]["uart"])] = self._uart("p1", 115200, P1Jack())
        if self.wire_p3:
            uarts[str(board["p3"]["uart"])] = self._uart("p3", 115200)

    @property
    def link_rx(self):
        """The host's end of the UART whose RX pin the link drives."""
        return self._masters["p1"]


class BoardPair:
    """A metering board and a comms board, joined by the link (see the module's docstring).
    Both start blank (or from the images in `workdir`); flash them with `meterkast flash`."""

    def __init__(self, workdir, seed=1, scenario=None, heapsize=None, link_faults=None,
                 comms_heapsize=None, link_monitor=None):
        self.workdir = Path(workdir)
        self._args = dict(seed=seed, scenario=scenario, link_faults=link_faults,
                          heapsize=heapsize, comms_heapsize=comms_heapsize or heapsize)
        self.link_monitor = link_monitor
        self.metering = None
        self.comms = None
        self.monitor = None

    def start(self):
        a = self._args
        self.comms = CommsBoard(workdir=self.workdir / "comms", seed=a["seed"] + 1,
                                heapsize=a["comms_heapsize"]).start()
        try:
            self.metering = MeteringBoard(self.comms.link_rx, a["link_faults"],
                                          workdir=self.workdir / "metering", seed=a["seed"],
                                          scenario=a["scenario"], heapsize=a["heapsize"]).start()
            if self.link_monitor is not None:  # "out": metering -> comms, as delivered
                self.monitor = LineMonitor("link", open_endpoint(self.link_monitor, LINK_BAUD,
                                                                 "link monitor"), "out")
                self.link.taps.append(self.monitor.tap)
                self.monitor.start()
        except BaseException:
            self.close()
            raise
        return self

    @property
    def link(self):
        """The link's Line: stats(), taps (e.g. a LineMonitor's tap), its fault injectors."""
        return self.metering.link

    def close(self):
        # The metering board first: its link writes into the comms board's UART.
        for board in (self.metering, self.comms):
            if board is not None:
                board.close()
        if self.monitor is not None:
            self.monitor.close()
            self.monitor.endpoint.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
