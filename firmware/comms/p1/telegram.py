# meterkast: the DSMR 5.0.2 P1 telegram, written into one preallocated buffer
# MIT license
#
# The telegram layout is a table (the OBIS lines in order, each with its value format), and the
# builder writes ASCII digits straight into a bytearray: no string formatting, no allocation per
# telegram. Every line ends in CRLF (readers such as dsmr_parser need it); the CRC-16/ARC covers
# '/' through '!' and is sent as four upper-case hex digits.
from micropython import const

from comms.p1.crc16 import Crc16Arc
from contract import reading as rd
from util.tz import LocalTime, civil_into

_MAX = const(2048)
_HEX = b"0123456789ABCDEF"

# Value kinds
_V_TIME = const(1)  # YYMMDDhhmmssS/W
_V_KWH = const(2)  # Wh field -> 000000.000*kWh
_V_KW = const(3)  # W field -> 00.000*kW
_V_COUNT5 = const(4)  # 00000
_V_TARIFF = const(5)  # 0001
_V_VOLT = const(6)  # 0.1 V -> 000.0*V
_V_AMP = const(7)  # mA -> 000*A
_V_PFLOG = const(8)  # power failure event log
_V_ID = const(9)  # equipment id, hex of ASCII
_V_TEXT = const(10)  # empty text message

# (OBIS prefix incl. '(', kind, reading field, phase-dependent: 0 = always, n = only if phases >= n)
_LINES = (
    (b"1-3:0.2.8(50", 0, 0, 0),
    (b"0-0:1.0.0(", _V_TIME, rd.T, 0),
    (b"0-0:96.1.1(", _V_ID, 0, 0),
    (b"1-0:1.8.1(", _V_KWH, rd.IMPORT_T1_WH, 0),
    (b"1-0:1.8.2(", _V_KWH, rd.IMPORT_T2_WH, 0),
    (b"1-0:2.8.1(", _V_KWH, rd.EXPORT_T1_WH, 0),
    (b"1-0:2.8.2(", _V_KWH, rd.EXPORT_T2_WH, 0),
    (b"0-0:96.14.0(", _V_TARIFF, rd.TARIFF, 0),
    (b"1-0:1.7.0(", _V_KW, rd.IMPORT_W, 0),
    (b"1-0:2.7.0(", _V_KW, rd.EXPORT_W, 0),
    (b"0-0:96.7.21(", _V_COUNT5, rd.POWER_FAILURES, 0),
    (b"0-0:96.7.9(", _V_COUNT5, rd.LONG_POWER_FAILURES, 0),
    (b"1-0:99.97.0(", _V_PFLOG, rd.PF_LOG_N, 0),
    (b"1-0:32.32.0(", _V_COUNT5, rd.SAGS, 1),
    (b"1-0:52.32.0(", _V_COUNT5, rd.SAGS + 1, 2),
    (b"1-0:72.32.0(", _V_COUNT5, rd.SAGS + 2, 3),
    (b"1-0:32.36.0(", _V_COUNT5, rd.SWELLS, 1),
    (b"1-0:52.36.0(", _V_COUNT5, rd.SWELLS + 1, 2),
    (b"1-0:72.36.0(", _V_COUNT5, rd.SWELLS + 2, 3),
    (b"0-0:96.13.0(", _V_TEXT, 0, 0),
    (b"1-0:32.7.0(", _V_VOLT, rd.VOLTAGE_DV, 1),
    (b"1-0:52.7.0(", _V_VOLT, rd.VOLTAGE_DV + 1, 2),
    (b"1-0:72.7.0(", _V_VOLT, rd.VOLTAGE_DV + 2, 3),
    (b"1-0:31.7.0(", _V_AMP, rd.CURRENT_MA, 1),
    (b"1-0:51.7.0(", _V_AMP, rd.CURRENT_MA + 1, 2),
    (b"1-0:71.7.0(", _V_AMP, rd.CURRENT_MA + 2, 3),
    (b"1-0:21.7.0(", _V_KW, rd.PHASE_IMPORT_W, 1),
    (b"1-0:41.7.0(", _V_KW, rd.PHASE_IMPORT_W + 1, 2),
    (b"1-0:61.7.0(", _V_KW, rd.PHASE_IMPORT_W + 2, 3),
    (b"1-0:22.7.0(", _V_KW, rd.PHASE_EXPORT_W, 1),
    (b"1-0:42.7.0(", _V_KW, rd.PHASE_EXPORT_W + 1, 2),
    (b"1-0:62.7.0(", _V_KW, rd.PHASE_EXPORT_W + 2, 3),
)


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
        for li in range(len(_LINES)):  # by index: iterating a tuple would allocate
            line = _LINES[li]
            if line[3] > phases:
                continue
            prefix = line[0]
            kind = line[1]
            field = line[2]
            pos = self._put(pos, prefix)
            if kind == _V_TIME:
                pos = self._timestamp(pos, r[field])
            elif kind == _V_KWH:
                pos = self._fixed(pos, r[field], 6, 3)
                pos = self._put(pos, b"*kWh")
            elif kind == _V_KW:
                pos = self._fixed(pos, r[field], 2, 3)
                pos = self._put(pos, b"*kW")
            elif kind == _V_COUNT5:
                pos = self._digits(pos, r[field], 5)
            elif kind == _V_TARIFF:
                pos = self._digits(pos, r[field], 4)
            elif kind == _V_VOLT:
                pos = self._fixed(pos, r[field], 3, 1)
                pos = self._put(pos, b"*V")
            elif kind == _V_AMP:
                pos = self._digits(pos, (r[field] + 500) // 1000, 3)
                pos = self._put(pos, b"*A")
            elif kind == _V_ID:
                ident = self._id
                for k in range(len(ident)):
                    ch = ident[k]
                    b[pos] = _HEX[ch >> 4]
                    b[pos + 1] = _HEX[ch & 15]
                    pos += 2
            elif kind == _V_PFLOG:
                n = r[rd.PF_LOG_N]
                pos = self._digits(pos, n, 1 if n < 10 else 2)
                pos = self._put(pos, b")(0-0:96.7.19")
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
