# A flash chip in RAM for LittleFS in firmware tests, whose power can be cut on purpose.
# After `steps_left` program/erase steps the next one is cut off half written (PowerCut), as
# a real interrupted program would be; -1 keeps the power on.


class PowerCut(Exception):
    pass


class RamFlash:
    def __init__(self, blocks=32, size=256):
        self.size = size
        self.blocks = blocks
        self.data = bytearray(b"\xff" * (blocks * size))
        self.steps_left = -1

    def _step(self, start, buf):
        if self.steps_left == 0:
            half = len(buf) // 2
            self.data[start : start + half] = buf[:half]
            raise PowerCut()
        if self.steps_left > 0:
            self.steps_left -= 1
        self.data[start : start + len(buf)] = buf

    def readblocks(self, n, buf, off=0):
        start = n * self.size + off
        buf[:] = self.data[start : start + len(buf)]

    def writeblocks(self, n, buf, off=None):
        self._step(n * self.size + (off or 0), buf)

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:
            self._step(arg * self.size, b"\xff" * self.size)
        return 0
