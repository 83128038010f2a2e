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

# -- the comms module's event logs: one preallocated file of fixed slots, rewritten in place --
# <root>/events.bin holds three regions of EVENT_SIZE-byte records: the state (EVENT_STATE_SLOTS
# slots, A/B: the newest valid one wins), the standard event log (EVENT_STANDARD_ENTRIES) and the
# power-failure event log (EVENT_POWER_ENTRIES). Record k of a region (k = 0, 1, ... as written)
# goes to slot k % entries of that region; a record is believed when its crc32 holds, its region
# byte names the region and its number is the one the slot should hold, so a torn write costs
# that one record (and the one it was replacing), never the log.
# 0 number u32 (records written to this region before it)   4 t i32 (meter epoch, UTC)
# 8 region u8   9 code u8 (IDIS event code; 0 in the state and power-failure regions)
# 10 pad u16    12 value u32 (power failure: duration s; link event: its detail; state: power
# failures seen)  16 aux u32 (state: long power failures seen)  20 crc32 of bytes 0..19
EVENT_FILE = "events.bin"
EVENT_FMT = "<IiBBHII"
EVENT_SIZE = const(24)
EVENT_BODY = const(20)
EVENT_STATE = const(0)  # region numbers, in file order
EVENT_STANDARD = const(1)
EVENT_POWER = const(2)
EVENT_STATE_SLOTS = const(2)
EVENT_STANDARD_ENTRIES = const(80)
EVENT_POWER_ENTRIES = const(10)  # as many as the metering module's log of long failures

# -- the management keys a head-end rotated (global_key_transfer), on the comms module's flash -
# Two slot files, written alternately (slot = seq % 2); the valid slot with the higher seq whose
# base matches the keys file wins, so a keys file provisioned anew (another base) is never
# overridden by keys rotated under an older one. A torn write leaves the other slot: the keys in
# force before the rotation.
# 0 'MKK1' magic  4 seq u32  8 base u32 (crc32 of the keys file's ek || ak || kek)
# 12 ek (16)  28 ak (16)  44 kek (16)  60 crc32 of bytes 0..59
KEYSET_MAGIC = b"MKK1"
KEYSET_FMT = "<4sII16s16s16s"
KEYSET_SIZE = const(64)
KEYSET_BODY = const(60)
KEYSET_SLOTS = ("keys.a", "keys.b")
