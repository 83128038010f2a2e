# Checked by mypy only (typecheck/mypy-rp2.ini, mypy-esp32.ini), never run: the board back end
# implements the HAL contract (firmware/contract/hal.pyi).
from contract.hal import MeterClock, P1Line, P3Line, ReportLine, RxLine, TxLine
from hal.board import BoardReport
from hal.board.clock import BoardClock
from hal.board.net import NetP3
from hal.board.uart import BoardUart


def uart_lines(u: BoardUart) -> tuple[TxLine, RxLine, P1Line, P3Line]:
    return (u, u, u, u)


def clock(c: BoardClock) -> MeterClock:
    return c


def report(r: BoardReport) -> ReportLine:
    return r


def tcp_p3(p: NetP3) -> P3Line:
    return p
