# meterkast board emulator: the `machine` module of the emulated board.
#
# Only what hal.board uses, with the semantics of the RP2/ESP32 ports: UART(id, ...) on the pty
# the host wired to that id (reads return what is there, write queues and txdone() models the
# line time at the baud rate), SPI with emulated ADE7953 chips on it (emu_world) and their chip
# selects among the Pins, Pin (inputs read a level set by the host), RTC (the host's UTC clock,
# as a battery-backed RTC would hold it), WDT (records feeds), reset (the process exits and the
# host powers the board on again).
import io
import json
import select
import sys
import termios
import time

_hw = {}


def configure(path):
    with open(path) as f:
        _hw.update(json.load(f))


def hw():
    return _hw


_spi = {}  # the one emulated bus: "bus" and "pins" (chip selects), made on first use


def _chips():
    if not _spi:
        import emu_world

        _spi["bus"], _spi["pins"] = emu_world.chips(_hw, _utc_now())
    return _spi


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __new__(cls, pin, *args, **kw):
        if pin in _hw.get("spi_cs", ()):
            return _chips()["pins"][pin]  # a chip select: wired to an emulated chip
        return object.__new__(cls)

    def __init__(self, pin, mode=-1, pull=-1, value=None):
        self.pin = pin
        self._level = value if value is not None else _hw.get("pins", {}).get(str(pin), 0)

    def value(self, v=None):
        if v is None:
            return self._level
        self._level = v

    def __repr__(self):
        return "Pin(%d)" % self.pin


class UART(io.IOBase):
    """A pty as machine.UART; pollable by asyncio like the real one (ioctl gives its fd)."""

    INV_TX = 1
    INV_RX = 2

    def __init__(self, uart_id, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None,
                 txbuf=256, rxbuf=256, timeout=0, timeout_char=0, invert=0):
        path = _hw.get("uart", {}).get(str(uart_id))
        if path is None:
            raise ValueError("UART(%d) is not wired in this emulator" % uart_id)
        self.id = uart_id
        self.baudrate = baudrate
        self.invert = invert
        self._char_us = (1 + bits + (0 if parity is None else 1) + stop) * 1000000 // baudrate
        self._f = open(_hw.get("host_prefix", "") + path, "r+b")  # the host's / is at /host
        fd = self._f.fileno()
        termios.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[6][6] = 0  # VMIN: a read returns what is there, as machine.UART with timeout=0
        attrs[6][5] = 0  # VTIME
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self._poll = select.poll()
        self._poll.register(self._f, select.POLLIN)
        self._busy_until = time.ticks_us()

    def ioctl(self, req, arg):
        if req == 10:  # MP_STREAM_GET_FILENO: select.poll waits on the pty itself
            return self._f.fileno()
        return -1

    def write(self, buf):
        mv = memoryview(buf)
        n = len(mv)
        done = 0
        while done < n:
            w = self._f.write(mv[done:])
            if w:
                done += w
        now = time.ticks_us()
        if time.ticks_diff(now, self._busy_until) > 0:
            self._busy_until = now
        self._busy_until = time.ticks_add(self._busy_until, n * self._char_us)
        return n

    def txdone(self):
        return time.ticks_diff(time.ticks_us(), self._busy_until) >= 0

    def any(self):
        return 1 if self._poll.poll(0) else 0

    def readinto(self, buf, nbytes=None):
        n = self._f.readinto(buf)
        return n if n else None

    def read(self, nbytes=-1):
        data = self._f.read(nbytes if nbytes > 0 else 4096)
        return data or None


def SPI(spi_id, **kw):
    return _chips()["bus"]


def _utc_now():
    """RTC time in meter-epoch seconds (since 2000-01-01 UTC)."""
    g = RTC().datetime()
    return (_days(g[0], g[1], g[2]) - _days(2000, 1, 1)) * 86400 + g[4] * 3600 + g[5] * 60 + g[6]


class RTC:
    def __init__(self, rtc_id=0):
        pass

    def datetime(self, dt=None):
        # The host's clock is UTC seconds since 1970 as a float (the unix port); the offset
        # file models a set RTC that keeps running through resets.
        if dt is None:
            t = int(time.time()) + _hw.get("rtc_offset", 0)
            g = time.gmtime(t)  # 9 fields on the unix port, 8 on boards
            return (g[0], g[1], g[2], g[6], g[3], g[4], g[5], 0)
        # mktime on the unix port uses the host's zone; derive UTC from gmtime instead
        now = int(time.time())
        g = time.gmtime(now)
        target = _days(dt[0], dt[1], dt[2]) * 86400 + dt[4] * 3600 + dt[5] * 60 + dt[6]
        current = _days(g[0], g[1], g[2]) * 86400 + g[3] * 3600 + g[4] * 60 + g[5]
        _hw["rtc_offset"] = target - current


def _days(y, m, d):
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m - 3 if m > 2 else m + 9) + 2) // 5 + d - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        _hw["wdt"] = self

    def feed(self):
        self.feeds += 1


def reset():
    # A hard reset ends this process; the host emulator powers the board on again.
    sys.exit(0)


def soft_reset():
    sys.exit(0)


def unique_id():
    return b"\xe6\x61\x00\x00" + bytes([_hw.get("serial", 1) & 0xFF])


def idle():
    pass
