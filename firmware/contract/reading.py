# meterkast: the reading record, the one-way contract from metrology to secure comms
# MIT license
#
# Metrology publishes one reading per meter second into a preallocated ring; the comms side
# copies the newest one out. Nothing flows back. Every field is an int (no floats cross the
# boundary), and field positions are constants so both suppliers' modules agree on the layout
# without sharing code beyond this file.
#
# Units: time in meter-epoch seconds (UTC, since 2000-01-01; see util.tz), power in W,
# energy in Wh, voltage in 0.1 V, current in mA, frequency in mHz.
from array import array
from micropython import const

T = const(0)  # RTC time of the reading, meter epoch, UTC
SEQ = const(1)  # monotonic meter second since boot; never jumps with clock changes
STATUS = const(2)  # STATUS_* bits below
TARIFF = const(3)  # 1 = low (dal), 2 = normal, Dutch convention
IMPORT_W = const(4)  # total active power imported (+P), W, >= 0
EXPORT_W = const(5)  # total active power exported (-P), W, >= 0
IMPORT_T1_WH = const(6)  # energy registers, Wh: 1-0:1.8.1
IMPORT_T2_WH = const(7)  # 1-0:1.8.2
EXPORT_T1_WH = const(8)  # 1-0:2.8.1
EXPORT_T2_WH = const(9)  # 1-0:2.8.2
PHASE_IMPORT_W = const(10)  # 3 fields, L1..L3
PHASE_EXPORT_W = const(13)  # 3 fields
VOLTAGE_DV = const(16)  # 3 fields, 0.1 V
CURRENT_MA = const(19)  # 3 fields, mA
POWER_FAILURES = const(22)  # 0-0:96.7.21, any phase
LONG_POWER_FAILURES = const(23)  # 0-0:96.7.9
SAGS = const(24)  # 3 fields
SWELLS = const(27)  # 3 fields
FREQUENCY_MHZ = const(30)
PF_LOG_N = const(31)  # entries used in PF_LOG (0..PF_LOG_MAX)
PF_LOG = const(32)  # PF_LOG_MAX pairs: (end time meter epoch, duration s), newest first
PF_LOG_MAX = const(10)
FIELDS = const(52)

# STATUS bits; the clock and validity bits mirror the IDIS profile status byte
STATUS_DST = const(0x08)
STATUS_CLOCK_ADJUSTED = const(0x20)
STATUS_DATA_NOT_VALID = const(0x04)
STATUS_CLOCK_INVALID = const(0x02)
STATUS_CRITICAL_ERROR = const(0x01)


def new_reading():
    """A zeroed reading buffer, for the consumer's own copy."""
    return array("i", bytes(4 * FIELDS))


class ReadingQueue:
    """Preallocated single-producer ring of readings.

    The producer fills `write_slot()` in place and calls `commit()`; consumers call
    `copy_latest(dst)` (or `copy_since`) and get a private copy. The ring never blocks
    the producer: a slow consumer simply sees the newest reading.
    """

    def __init__(self, slots=4):
        self._slots = slots
        self.buf = array("i", bytes(4 * FIELDS * slots))
        self.published = 0  # number of readings committed so far
        self._write = 0
        self.on_commit = None  # called after each commit: a consumer's wake-up (e.g. Event.set)

    def write_slot(self):
        """Offset into `buf` of the slot the producer fills next."""
        return self._write * FIELDS

    def commit(self):
        self.published += 1
        self._write = (self._write + 1) % self._slots
        if self.on_commit is not None:
            self.on_commit()

    def copy_latest(self, dst):
        """Copy the newest reading into `dst` (an array from new_reading()).

        Returns the reading's publication number (1-based), or 0 when none exists yet.
        """
        n = self.published
        if n == 0:
            return 0
        src = self.buf
        off = ((self._write - 1) % self._slots) * FIELDS
        for i in range(FIELDS):
            dst[i] = src[off + i]
        return n
