# meterkast: the P1 consumer port task: the newest telegram whenever the line is free
# MIT license
#
# At 1x speed a telegram leaves every meter second, at the second. Faster than real time the
# port never queues: when the UART has finished the previous telegram it sends the telegram of
# the newest reading, so a reader always gets current data and the line is never overrun.
# P1 is send-only: whatever arrives on the port is read and dropped.
import asyncio
from comms.crypto.counter import CounterExhausted
from contract.reading import new_reading



class P1Port:
    def __init__(self, uart, readings, builder, framer=None, report=None, on_fatal=None):
        self.uart = uart
        self.readings = readings
        self.builder = builder
        self.framer = framer  # optional encryption (comms.p1.crypt), wraps the telegram
        self.report = report
        self.on_fatal = on_fatal  # called with the reason when no frame may be sent any more
        self.silenced = False  # set for good when the frame counter can give no fresh value
        self.sent = 0
        self._reading = new_reading()
        self._last = 0
        self._scratch = bytearray(64)
        self._fresh = asyncio.Event()  # set when metrology publishes a reading
        readings.on_commit = self._fresh.set

    def up_to_date(self):
        return self._last == self.readings.published

    def send_newest(self):
        """Send the newest reading's telegram if it is new; returns True when one was sent."""
        if self.silenced:
            return False
        seq = self.readings.copy_latest(self._reading)
        if seq == 0 or seq == self._last:
            return False
        self._last = seq
        n = self.builder.build(self._reading)
        buf = self.builder.buf
        if self.framer is not None:
            try:
                n = self.framer.wrap(buf, n)
            except CounterExhausted as e:  # no fresh IV: send nothing rather than repeat one
                self.silenced = True
                if self.on_fatal is not None:
                    self.on_fatal("P1 frame counter: %s" % e)
                return False
            buf = self.framer.buf
        self.uart.write(buf, n)
        self.sent += 1
        if self.report is not None and self.report.enabled:
            fc = self.framer.frame_counter if self.framer is not None else 0
            self.report.event("p1", self._reading, n, fc)
        return True

    async def run(self):
        """Sleep until a reading is published, then until the line is free; send the newest."""
        uart = self.uart
        while True:
            await self._fresh.wait()
            self._fresh.clear()
            uart.drain(self._scratch)
            while not uart.txdone():  # (a board's data-request line may hold it a while)
                await asyncio.sleep_ms(uart.tx_wait_ms() or 1)
                uart.drain(self._scratch)
            self.send_newest()
