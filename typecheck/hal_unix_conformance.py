# Checked by mypy only (typecheck/mypy-unix.ini), never run: the unix back end and the single
# board's in-memory link implement the HAL contract (firmware/contract/hal.pyi).
from contract.hal import MeterClock, P1Line, P3Line, ReportLine, RxLine, TxLine
from hal.memlink import MemoryLink
from hal.unix.clock import SimClock
from hal.unix.report import Report
from hal.unix.uart import PtyUart


def uart_lines(u: PtyUart) -> tuple[TxLine, RxLine, P1Line, P3Line]:
    return (u, u, u, u)


def memory_link(m: MemoryLink) -> tuple[TxLine, RxLine]:
    return (m, m)


def clock(c: SimClock) -> MeterClock:
    return c


def report(r: Report) -> ReportLine:
    return r
