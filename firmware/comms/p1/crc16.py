# meterkast: CRC-16/ARC, the DSMR P1 telegram checksum (poly 0x8005 reflected, init 0)
# MIT license
from array import array


class Crc16Arc:
    def __init__(self):
        table = array("H", [0] * 256)
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
            table[i] = c
        self._table = table

    def compute(self, buf, start, end, crc=0):
        t = self._table
        for i in range(start, end):
            crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
        return crc
