# meterkast: the register store: A/B slots on flash, so a power cut at any instant leaves a valid state
# MIT license
#
# The record's layout is contract.layout's (REG_*): the host's `meterkast dump` decodes flash
# images with the same constants.
import struct
from binascii import crc32


import contract.layout as L
from contract.layout import REG_BODY as _BODY
from contract.layout import REG_FMT as _FMT
from contract.layout import REG_MAGIC as _MAGIC
from contract.layout import REG_SIZE as RECORD_SIZE
from contract.layout import REG_SLOTS as _SLOTS


class RegisterStore:
    def __init__(self, root):
        self.root = root
        self.seq = 0
        self.writes = 0
        self._buf = bytearray(RECORD_SIZE)
        self._slot = 0  # slot to write next

    def load(self):
        """Newest valid record as a tuple of fields, or None on a blank device."""
        best = None
        for i in range(2):
            rec = self._read(self.root + "/" + _SLOTS[i])
            if rec is not None and (best is None or rec[1] > best[1]):
                best = rec
                self._slot = 1 - i
        if best is not None:
            self.seq = best[1]
        return best

    def _read(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            return None
        if len(data) != RECORD_SIZE or data[:4] != _MAGIC:
            return None
        if crc32(data[:_BODY]) != struct.unpack_from("<I", data, _BODY)[0]:
            return None
        return struct.unpack_from(_FMT, data, 0)

    def save(self, t, mono, pending, registers, failures, voltage_events):
        self.seq += 1
        b = self._buf
        log = failures.log
        struct.pack_into(
            _FMT, b, 0, _MAGIC, self.seq, t, mono, pending,
            registers.wh[0], registers.wh[1], registers.wh[2], registers.wh[3],
            registers.residual_mws[0], registers.residual_mws[1],
            registers.residual_mws[2], registers.residual_mws[3],
            failures.count, failures.long_count, failures.log_n,
            log[0], log[1], log[2], log[3], log[4], log[5], log[6], log[7], log[8], log[9],
            log[10], log[11], log[12], log[13], log[14], log[15], log[16], log[17], log[18],
            log[19],
            voltage_events.sags[0], voltage_events.sags[1], voltage_events.sags[2],
            voltage_events.swells[0], voltage_events.swells[1], voltage_events.swells[2],
        )
        struct.pack_into("<I", b, _BODY, crc32(memoryview(b)[:_BODY]))
        with open(self.root + "/" + _SLOTS[self._slot], "wb") as f:
            f.write(b)
        self._slot = 1 - self._slot
        self.writes += 1


def restore(rec, registers, failures, voltage_events):
    """Put a loaded record back into the live metrology objects."""
    registers.load(rec[L.REG_WH:L.REG_WH + 4], rec[L.REG_RESIDUAL:L.REG_RESIDUAL + 4])
    failures.count = rec[L.REG_PF]
    failures.long_count = rec[L.REG_LONG_PF]
    failures.log_n = rec[L.REG_LOG_N]
    for i in range(2 * L.REG_LOG_MAX):
        failures.log[i] = rec[L.REG_LOG + i]
    for i in range(3):
        voltage_events.sags[i] = rec[L.REG_SAGS + i]
        voltage_events.swells[i] = rec[L.REG_SWELLS + i]
