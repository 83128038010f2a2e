# meterkast: CRC-16/X.25, the check of HDLC frames (HCS, FCS) and of the internal link's frames
# MIT license
#
# Poly 0x1021 reflected (0x8408), init 0xFFFF, xorout 0xFFFF; sent low byte first. One table,
# immutable, shared by every user (comms.dlms.hdlc, contract.link). Plain Python: CPython imports it
# too, for the link codec's host tests.


def _table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
        t.append(c)
    return tuple(t)


_TABLE = _table()

GOOD_RESIDUE = 0xF0B8  # residue() over data followed by its own CRC


def residue(buf, start, end):
    """The CRC register after buf[start:end], before the final xor."""
    crc = 0xFFFF
    t = _TABLE
    for i in range(start, end):
        crc = (crc >> 8) ^ t[(crc ^ buf[i]) & 0xFF]
    return crc


def crc16(buf, start, end):
    """CRC-16/X.25 over buf[start:end]."""
    return residue(buf, start, end) ^ 0xFFFF
