# meterkast: the DSMR 5.0.2 P1 telegram, written into one preallocated buffer
# MIT license
#
# The telegram layout is a table (the OBIS lines in order, each with its value format), and the
# builder writes ASCII digits straight into a bytearray: no string formatting, no allocation per
# telegram. Every line ends in CRLF (readers such as dsmr_parser need it); the CRC-16/ARC covers
# '/' through '!' and is sent as four upper-case hex digits.
from micropython import const

from comms.p1.crc16 import Crc16Arc
from contract import obis as ob
from contract import reading as rd
from util.tz import LocalTime, civil_into

_MAX = const(2048)
_HEX = b"0123456789ABCDEF"

# The lines, their OBIS codes and value kinds are contract.obis's P1_LINES; a line's code is
# written from its logical name's value groups ("1-0:1.8.1"), so no text copy of it is kept.
class TelegramBuilder:
    """Builds telegrams for one meter: header and equipment id are fixed at construction."""

    def __init__(self, equipment_id, phases=3, header=b"/MKS5MK-NG-1"):
        self.buf = bytearray(_MAX)
        self.phases = phases
        self._header = header
        self._id = equipment_id.encode() if isinstance(equipment_id, str) else equipment_id
        self._crc = Crc16Arc()
        self._tz = LocalTime()
        self._civil = [0] * 7
        self.length = 0

    def _put(self, pos, data):
        b = self.buf
        for i in range(len(data)):
            b[pos + i] = data[i]
        return pos + len(data)

    def _digits(self, pos, value, width):
        """value as exactly `width` decimal digits (clamped to the field's maximum)."""
        b = self.buf
        if value < 0:
            value = 0
        limit = 1
        for _ in range(width):
            limit *= 10
        if value >= limit:
            value = limit - 1
        for i in range(width - 1, -1, -1):
            b[pos + i] = 48 + value % 10
            value //= 10
        return pos + width

    def _number(self, pos, value):
        """value (0..255) in as few digits as it needs."""
        width = 1 if value < 10 else 2 if value < 100 else 3
        return self._digits(pos, value, width)

    def _obis(self, pos, index):
        """A logical name of contract.obis as P1 writes it, A-B:C.D.E (F, 255, is not written)."""
        b = self.buf
        ln = ob.LNS
        at = 6 * index
        pos = self._number(pos, ln[at])
        b[pos] = 45  # '-'
        pos = self._number(pos + 1, ln[at + 1])
        b[pos] = 58  # ':'
        pos = self._number(pos + 1, ln[at + 2])
        b[pos] = 46  # '.'
        pos = self._number(pos + 1, ln[at + 3])
        b[pos] = 46
        return self._number(pos + 1, ln[at + 4])

    def _fixed(self, pos, value, int_width, decimals):
        """value / 10**decimals with fixed integer and decimal widths, e.g. 001234.567."""
        scale = 1
        for _ in range(decimals):
            scale *= 10
        if value < 0:
            value = 0
        top = 1
        for _ in range(int_width):
            top *= 10
        if value >= top * scale:
            value = top * scale - 1
        pos = self._digits(pos, value // scale, int_width)
        self.buf[pos] = 46  # '.'
        return self._digits(pos + 1, value % scale, decimals)

    def _timestamp(self, pos, t):
        c = self._civil
        civil_into(self._tz.local(t), c)
        pos = self._digits(pos, c[0] % 100, 2)
        for i in range(1, 6):
            pos = self._digits(pos, c[i], 2)
        self.buf[pos] = 83 if self._tz.is_summer(t) else 87  # 'S' / 'W'
        return pos + 1

    def build(self, r):
        """Write the telegram for reading r (an array from contract.reading); returns its length."""
        b = self.buf
        pos = self._put(0, self._header)
        pos = self._put(pos, b"\r\n\r\n")
        phases = self.phases
        lines = ob.P1_LINES
        o = -4
        end = len(lines) - 4
        while o < end:  # a bytes table, four bytes a line: reading it allocates nothing
            o += 4
            if lines[o + 3] > phases:
                continue
            kind = lines[o + 1]
            field = lines[o + 2]
            pos = self._obis(pos, lines[o])
            b[pos] = 40  # '('
            pos += 1
            if kind == ob.V_VERSION:
                b[pos] = 53  # '5'
                b[pos + 1] = 48  # '0'
                pos += 2
            if kind == ob.V_TIME:
                pos = self._timestamp(pos, r[field])
            elif kind == ob.V_KWH:
                pos = self._fixed(pos, r[field], 6, 3)
                pos = self._put(pos, b"*kWh")
            elif kind == ob.V_KW:
                pos = self._fixed(pos, r[field], 2, 3)
                pos = self._put(pos, b"*kW")
            elif kind == ob.V_COUNT5:
                pos = self._digits(pos, r[field], 5)
            elif kind == ob.V_TARIFF:
                pos = self._digits(pos, r[field], 4)
            elif kind == ob.V_VOLT:
                pos = self._fixed(pos, r[field], 3, 1)
                pos = self._put(pos, b"*V")
            elif kind == ob.V_AMP:
                pos = self._digits(pos, (r[field] + 500) // 1000, 3)
                pos = self._put(pos, b"*A")
            elif kind == ob.V_ID:
                ident = self._id
                for k in range(len(ident)):
                    ch = ident[k]
                    b[pos] = _HEX[ch >> 4]
                    b[pos + 1] = _HEX[ch & 15]
                    pos += 2
            elif kind == ob.V_PFLOG:
                n = r[rd.PF_LOG_N]
                pos = self._digits(pos, n, 1 if n < 10 else 2)
                pos = self._put(pos, b")(")
                pos = self._obis(pos, ob.POWER_FAILURE_DURATION)
                for i in range(n):
                    pos = self._put(pos, b")(")
                    pos = self._timestamp(pos, r[rd.PF_LOG + 2 * i])
                    pos = self._put(pos, b")(")
                    pos = self._digits(pos, r[rd.PF_LOG + 2 * i + 1], 10)
                    pos = self._put(pos, b"*s")
            b[pos] = 41  # ')'
            b[pos + 1] = 13
            b[pos + 2] = 10
            pos += 3
        b[pos] = 33  # '!'
        pos += 1
        crc = self._crc.compute(b, 0, pos)
        b[pos] = _HEX[(crc >> 12) & 15]
        b[pos + 1] = _HEX[(crc >> 8) & 15]
        b[pos + 2] = _HEX[(crc >> 4) & 15]
        b[pos + 3] = _HEX[crc & 15]
        b[pos + 4] = 13
        b[pos + 5] = 10
        self.length = pos + 6
        return self.length
