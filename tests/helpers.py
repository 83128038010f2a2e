"""Test helpers: start emulated meters, read their ports with the independent oracles."""
import time
from decimal import Decimal

import serial
from dsmr_parser import telegram_specifications
from dsmr_parser.clients.telegram_buffer import TelegramBuffer
from dsmr_parser.parsers import TelegramParser
from meterkast.emu.emulator import Emulator

UNIX_2000 = 946684800


def read_raw_telegrams(url, count, timeout=30.0):
    """Up to `count` telegram strings from a port, framed by dsmr_parser's own buffer."""
    port = serial.serial_for_url(url, baudrate=115200, timeout=0.1)
    buf = TelegramBuffer()
    out = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < count and time.monotonic() < deadline:
            data = port.read(4096)
            if data:
                buf.append(data.decode("ascii"))
                out.extend(buf.get_all())
    finally:
        port.close()
    return out[:count]


def parse_v5(text):
    """dsmr_parser's DSMR 5 parse with the CRC checked (raises on a bad CRC)."""
    return TelegramParser(telegram_specifications.V5).parse(text, throw_ex=True)


def wh(value):
    """dsmr_parser kWh Decimal -> integer Wh, exactly."""
    d = Decimal(value) * 1000
    assert d == d.to_integral_value(), value
    return int(d)


def meter(**kw):
    kw.setdefault("report", True)
    return Emulator(**kw)
