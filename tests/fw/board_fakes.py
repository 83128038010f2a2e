# Fakes of the board's `machine` pieces and tick source, for hal.board tests on the unix port.
from micropython import const

_PERIOD = const(1 << 30)  # ticks_ms wraps here on every board port


class WrapTicks:
    """ticks_ms/ticks_diff as on a board: the counter wraps at 2**30."""

    def __init__(self, start=0):
        self.raw = start  # unbounded milliseconds; ticks_ms() shows it modulo 2**30

    def ticks_ms(self):
        return self.raw % _PERIOD

    def ticks_diff(self, a, b):
        d = (a - b) % _PERIOD
        return d - _PERIOD if d >= _PERIOD // 2 else d

    def advance(self, ms):
        self.raw += ms


class FakePin:
    IN = 0
    OUT = 1
    PULL_DOWN = 2
    PULL_UP = 1

    def __init__(self, pin, mode=-1, pull=-1, value=0):
        self.pin = pin
        self.mode = mode
        self.pull = pull
        self.level = value

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v

    def __call__(self, v=None):
        return self.value(v)


class FakeSPI:
    """A bus with nothing on it: MISO floats high."""

    def __init__(self, spi_id, **kw):
        self.id = spi_id
        self.kw = kw

    def write_readinto(self, tx, rx):
        for k in range(len(rx)):
            rx[k] = 0xFF


class FakeUART:
    INV_TX = 1
    INV_RX = 2

    def __init__(self, uart_id, **kw):
        self.id = uart_id
        self.kw = kw
        self.sent = bytearray()
        self.rx = bytearray()
        self.busy = False

    def write(self, buf):
        self.sent.extend(buf)
        return len(buf)

    def txdone(self):
        return not self.busy

    def any(self):
        return len(self.rx)

    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        if n == 0:
            return None
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n


class FakeRTC:
    def __init__(self, dt=(2026, 3, 29, 6, 0, 59, 58, 0)):
        self.dt = dt
        self.writes = []

    def datetime(self, dt=None):
        if dt is None:
            return self.dt
        self.dt = dt
        self.writes.append(dt)


class FakeWDT:
    def __init__(self, timeout=5000):
        self.timeout = timeout
        self.feeds = 0

    def feed(self):
        self.feeds += 1


class FakeMachine:
    """A `machine` module stand-in that remembers what the HAL built. Install it before
    hal.board is imported: install() puts it in sys.modules as `machine`."""

    Pin = FakePin

    def __init__(self, rtc=None):
        self.rtc = rtc or FakeRTC()
        self.forget()
        self.spi_bus = None  # an emulated bus with chips (hal.unix.metering_ic), or nothing
        self.pin_objects = {}  # GPIO number -> pin object to hand out (chip selects)
        machine = self

        class UART(FakeUART):
            def __init__(self, uart_id, **kw):
                FakeUART.__init__(self, uart_id, **kw)
                machine.uarts.append(self)

        class Pin(FakePin):
            def __new__(cls, pin, *args, **kw):
                if pin in machine.pin_objects:
                    return machine.pin_objects[pin]
                return object.__new__(cls)

            def __init__(self, pin, mode=-1, pull=-1, value=0):
                if pin in machine.pin_objects:
                    return
                FakePin.__init__(self, pin, mode, pull, value)
                machine.pins.append(self)

        def SPI(spi_id, **kw):
            machine.spis.append((spi_id, kw))
            return machine.spi_bus if machine.spi_bus is not None else FakeSPI(spi_id, **kw)

        self.UART = UART
        self.Pin = Pin
        self.SPI = SPI

    def forget(self):
        self.uarts = []
        self.pins = []
        self.wdts = []
        self.spis = []

    def install(self):
        import sys

        sys.modules["machine"] = self
        return self

    def RTC(self):
        return self.rtc

    def WDT(self, timeout=5000):
        w = FakeWDT(timeout)
        self.wdts.append(w)
        return w


class RamBlockDevice:
    """A small flash chip in RAM, for a LittleFS the HAL can use as its storage."""

    def __init__(self, blocks=16, size=4096):
        self.size = size
        self.blocks = blocks
        self.data = bytearray(b"\xff" * (blocks * size))

    def readblocks(self, n, buf, off=0):
        o = n * self.size + off
        buf[:] = self.data[o : o + len(buf)]

    def writeblocks(self, n, buf, off=None):
        o = n * self.size + (off or 0)
        self.data[o : o + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:
            o = arg * self.size
            self.data[o : o + self.size] = b"\xff" * self.size
        return 0


def ram_flash(mount_point):
    """Mount a fresh in-memory LittleFS at mount_point (nothing is written to the host)."""
    import vfs

    bdev = RamBlockDevice()
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), mount_point)
    return mount_point
