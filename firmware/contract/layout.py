# meterkast: the records a meter keeps on flash, as data: the one description of each layout
# MIT license
#
# Pure constants, importable by MicroPython and CPython alike: the firmware's stores write and
# read with them (metering.store, util.qhstore, metering.profile), and the host's `meterkast
# dump` decodes flash images with the same ones (meterkast.image.flashimage loads this module
# from the firmware tree). tests/host/test_layout_contract.py holds both sides to it: records the
# firmware writes under MicroPython are decoded by the host and must give the values written.
from micropython import const

EPOCH_UNIX = const(946684800)  # meter epoch: seconds since 2000-01-01T00:00:00Z

# -- the register record: A/B slot files, newest seq wins -----------------------------------
# 0  'MKR1' magic          4  seq u32            8  t i32 (RTC at persist, meter epoch)
# 12 mono u32 (unused on load: monotonic time restarts at boot)
# 16 pending status u8 (profile bits owed to the next capture) + 3 pad
# 20 wh[4] u32             36 residual mWs[4] u32
# 52 power failures u32    56 long failures u32  60 log entries u32
# 64 log (end i32, duration u32) x 10            144 sags[3] u32   156 swells[3] u32
# 168 crc32 of bytes 0..167
REG_MAGIC = b"MKR1"
REG_FMT = "<4sIiIB3x4I4I3I20i3I3I"
REG_SIZE = const(172)
REG_BODY = const(168)  # the crc32 covers bytes 0..REG_BODY-1 and follows them
REG_SLOTS = ("regs.a", "regs.b")
# field positions in the unpacked tuple
REG_SEQ = const(1)
REG_T = const(2)
REG_PENDING = const(4)
REG_WH = const(5)  # 4 fields: import T1, import T2, export T1, export T2
REG_RESIDUAL = const(9)  # 4 fields
REG_PF = const(13)
REG_LONG_PF = const(14)
REG_LOG_N = const(15)
REG_LOG = const(16)  # (end, duration) x REG_LOG_MAX
REG_LOG_MAX = const(10)
REG_SAGS = const(36)  # 3 fields
REG_SWELLS = const(39)  # 3 fields

# -- a quarter-hour entry: segment files <dir>/NNNNNN.bin of SEGMENT_ENTRIES entries ---------
# t u32 (meter epoch), status u8, 3 pad, import T1, import T2, export T1, export T2 (u32 Wh),
# seq u32 (entry number since the first capture), crc32 of bytes 0..27
ENTRY_FMT = "<IB3xIIIII"
ENTRY_SIZE = const(32)
ENTRY_BODY = const(28)
SEGMENT_ENTRIES = const(96)
PROFILE_DIR = "qh"  # the metering module's quarter-hour register
PROFILE_COPY_DIR = "qhc"  # the comms module's checked copy

# -- IDIS profile status bits ----------------------------------------------------------------
POWER_DOWN = const(0x80)
CLOCK_ADJUSTED = const(0x20)
DAYLIGHT_SAVING = const(0x08)
DATA_NOT_VALID = const(0x04)
CLOCK_INVALID = const(0x02)
CRITICAL_ERROR = const(0x01)
STATUS_NAMES = (
    (POWER_DOWN, "power_down"),
    (CLOCK_ADJUSTED, "clock_adjusted"),
    (DAYLIGHT_SAVING, "daylight_saving"),
    (DATA_NOT_VALID, "data_not_valid"),
    (CLOCK_INVALID, "clock_invalid"),
    (CRITICAL_ERROR, "critical_error"),
)
