# meterkast: the emulator's control line (a pty from the host tool): stop, shift the clock
# MIT license
#
# This is the emulator's window on the physical world (pulling the plug, moving the RTC), not a
# meter interface: commands arrive from `meterkast run`, never over P1 or P3.
from hal.unix.uart import PtyUart


class ControlLine:
    def __init__(self, path):
        self._port = PtyUart(path, baudrate=10_000_000)
        self._buf = bytearray(128)
        self._line = bytearray()

    async def wait(self, timeout_ms):
        """Until a command may have arrived, or timeout_ms."""
        if not self._line or self._line.find(b"\n") < 0:
            await self._port.wait_rx(timeout_ms)

    def poll(self):
        """One complete command line (str) or None."""
        n = self._port.readinto(self._buf)
        if n:
            self._line.extend(self._buf[:n])
        i = self._line.find(b"\n")
        if i < 0:
            if len(self._line) > 1024:
                self._line = bytearray()  # garbage without newline: drop it
            return None
        text = bytes(self._line[:i]).decode().strip()
        self._line = self._line[i + 1 :]
        return text
