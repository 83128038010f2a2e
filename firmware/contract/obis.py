# meterkast: the meter's data objects by OBIS code, the one table both ports and the host use
# MIT license
#
# Pure constants, importable by MicroPython and CPython alike. Every logical name (the six OBIS
# value groups A-F) lives in one bytes object, LNS, six bytes each, and is named by its index:
# one allocation for the whole table instead of one object per code (a board's heap is small).
# P1 writes a code as text "A-B:C.D.E"; the comms module's P1 telegram (comms.p1.telegram) and
# DLMS objects (comms.dlms.cosem) take their codes from here, and the host's head-end reader and
# tests read this module from the firmware tree (meterkast.firmware_module), so the meter and
# its tools cannot disagree on a code.
from micropython import const

from contract import reading as rd

# -- logical names: index into LNS ----------------------------------------------------------------
VERSION = const(0)  # 1-3:0.2.8, P1 version information
CLOCK = const(1)  # 0-0:1.0.0
DEVICE_NAME = const(2)  # 0-0:42.0.0, COSEM logical device name
ASSOCIATION = const(3)  # 0-0:40.0.0, current association
IC_SERVER = const(4)  # 0-0:43.1.0, the meter's invocation counter
IC_CLIENT = const(5)  # 0-0:43.1.1, the last one accepted from the client
SECURITY_SETUP = const(6)  # 0-0:43.0.0, security setup of the management association
EQUIPMENT_ID = const(7)  # 0-0:96.1.1, P1 equipment identifier
EQUIPMENT_ID_P3 = const(8)  # 0-0:96.1.0, the same on P3 (DSMR P3)
PROFILE_STATUS = const(9)  # 0-0:96.10.1
TARIFF = const(10)  # 0-0:96.14.0, tariff indicator
EVENT_CODE = const(11)  # 0-0:96.11.0, newest event code of the standard log
IMPORT_T1 = const(12)  # 1-0:1.8.1, energy imported, tariff 1 (low)
IMPORT_T2 = const(13)  # 1-0:1.8.2
EXPORT_T1 = const(14)  # 1-0:2.8.1
EXPORT_T2 = const(15)  # 1-0:2.8.2
IMPORT_W = const(16)  # 1-0:1.7.0, power imported
EXPORT_W = const(17)  # 1-0:2.7.0
POWER_FAILURES = const(18)  # 0-0:96.7.21
LONG_POWER_FAILURES = const(19)  # 0-0:96.7.9
POWER_FAILURE_LOG = const(20)  # 1-0:99.97.0
POWER_FAILURE_DURATION = const(21)  # 0-0:96.7.19, its duration column
TEXT_MESSAGE = const(22)  # 0-0:96.13.0
PROFILE = const(23)  # 1-0:99.1.0, the quarter-hour profile
EVENT_LOG = const(24)  # 0-0:99.98.0, the standard event log
SAGS_L1 = const(25)  # 1-0:32.32.0
SAGS_L2 = const(26)  # 1-0:52.32.0
SAGS_L3 = const(27)  # 1-0:72.32.0
SWELLS_L1 = const(28)  # 1-0:32.36.0
SWELLS_L2 = const(29)  # 1-0:52.36.0
SWELLS_L3 = const(30)  # 1-0:72.36.0
VOLTAGE_L1 = const(31)  # 1-0:32.7.0
VOLTAGE_L2 = const(32)  # 1-0:52.7.0
VOLTAGE_L3 = const(33)  # 1-0:72.7.0
CURRENT_L1 = const(34)  # 1-0:31.7.0
CURRENT_L2 = const(35)  # 1-0:51.7.0
CURRENT_L3 = const(36)  # 1-0:71.7.0
PHASE_IMPORT_W_L1 = const(37)  # 1-0:21.7.0
PHASE_IMPORT_W_L2 = const(38)  # 1-0:41.7.0
PHASE_IMPORT_W_L3 = const(39)  # 1-0:61.7.0
PHASE_EXPORT_W_L1 = const(40)  # 1-0:22.7.0
PHASE_EXPORT_W_L2 = const(41)  # 1-0:42.7.0
PHASE_EXPORT_W_L3 = const(42)  # 1-0:62.7.0
# 0-0:43.0.1, security setup of the P1 port's keys: instance 1 of 0-0:43.0.e, the first after the
# management association's (IDIS numbers the security setups e = 0, 1, ...; DSMR has none for P1)
P1_SECURITY_SETUP = const(43)

LNS = (
    b"\x01\x03\x00\x02\x08\xff"  # VERSION
    b"\x00\x00\x01\x00\x00\xff"  # CLOCK
    b"\x00\x00\x2a\x00\x00\xff"  # DEVICE_NAME
    b"\x00\x00\x28\x00\x00\xff"  # ASSOCIATION
    b"\x00\x00\x2b\x01\x00\xff"  # IC_SERVER
    b"\x00\x00\x2b\x01\x01\xff"  # IC_CLIENT
    b"\x00\x00\x2b\x00\x00\xff"  # SECURITY_SETUP
    b"\x00\x00\x60\x01\x01\xff"  # EQUIPMENT_ID
    b"\x00\x00\x60\x01\x00\xff"  # EQUIPMENT_ID_P3
    b"\x00\x00\x60\x0a\x01\xff"  # PROFILE_STATUS
    b"\x00\x00\x60\x0e\x00\xff"  # TARIFF
    b"\x00\x00\x60\x0b\x00\xff"  # EVENT_CODE
    b"\x01\x00\x01\x08\x01\xff"  # IMPORT_T1
    b"\x01\x00\x01\x08\x02\xff"  # IMPORT_T2
    b"\x01\x00\x02\x08\x01\xff"  # EXPORT_T1
    b"\x01\x00\x02\x08\x02\xff"  # EXPORT_T2
    b"\x01\x00\x01\x07\x00\xff"  # IMPORT_W
    b"\x01\x00\x02\x07\x00\xff"  # EXPORT_W
    b"\x00\x00\x60\x07\x15\xff"  # POWER_FAILURES
    b"\x00\x00\x60\x07\x09\xff"  # LONG_POWER_FAILURES
    b"\x01\x00\x63\x61\x00\xff"  # POWER_FAILURE_LOG
    b"\x00\x00\x60\x07\x13\xff"  # POWER_FAILURE_DURATION
    b"\x00\x00\x60\x0d\x00\xff"  # TEXT_MESSAGE
    b"\x01\x00\x63\x01\x00\xff"  # PROFILE
    b"\x00\x00\x63\x62\x00\xff"  # EVENT_LOG
    b"\x01\x00\x20\x20\x00\xff"  # SAGS_L1
    b"\x01\x00\x34\x20\x00\xff"  # SAGS_L2
    b"\x01\x00\x48\x20\x00\xff"  # SAGS_L3
    b"\x01\x00\x20\x24\x00\xff"  # SWELLS_L1
    b"\x01\x00\x34\x24\x00\xff"  # SWELLS_L2
    b"\x01\x00\x48\x24\x00\xff"  # SWELLS_L3
    b"\x01\x00\x20\x07\x00\xff"  # VOLTAGE_L1
    b"\x01\x00\x34\x07\x00\xff"  # VOLTAGE_L2
    b"\x01\x00\x48\x07\x00\xff"  # VOLTAGE_L3
    b"\x01\x00\x1f\x07\x00\xff"  # CURRENT_L1
    b"\x01\x00\x33\x07\x00\xff"  # CURRENT_L2
    b"\x01\x00\x47\x07\x00\xff"  # CURRENT_L3
    b"\x01\x00\x15\x07\x00\xff"  # PHASE_IMPORT_W_L1
    b"\x01\x00\x29\x07\x00\xff"  # PHASE_IMPORT_W_L2
    b"\x01\x00\x3d\x07\x00\xff"  # PHASE_IMPORT_W_L3
    b"\x01\x00\x16\x07\x00\xff"  # PHASE_EXPORT_W_L1
    b"\x01\x00\x2a\x07\x00\xff"  # PHASE_EXPORT_W_L2
    b"\x01\x00\x3e\x07\x00\xff"  # PHASE_EXPORT_W_L3
    b"\x00\x00\x2b\x00\x01\xff"  # P1_SECURITY_SETUP
)
COUNT = const(44)

# the four energy registers in the order of a reading's and a profile entry's registers
ENERGY = (IMPORT_T1, IMPORT_T2, EXPORT_T1, EXPORT_T2)

# -- the P1 telegram --------------------------------------------------------------------------------
# value kinds: how a line's value is written
V_VERSION = const(0)  # 50
V_TIME = const(1)  # YYMMDDhhmmssS/W
V_KWH = const(2)  # Wh field -> 000000.000*kWh
V_KW = const(3)  # W field -> 00.000*kW
V_COUNT5 = const(4)  # 00000
V_TARIFF = const(5)  # 0001
V_VOLT = const(6)  # 0.1 V -> 000.0*V
V_AMP = const(7)  # mA -> 000*A
V_PFLOG = const(8)  # power failure event log
V_ID = const(9)  # equipment id, hex of ASCII
V_TEXT = const(10)  # empty text message

# the lines in order, four bytes each: logical name, kind, reading field, phase (0 = always,
# n = only if the meter has n phases or more)
P1_LINE = const(4)
P1_LINES = bytes((
    VERSION, V_VERSION, 0, 0,
    CLOCK, V_TIME, rd.T, 0,
    EQUIPMENT_ID, V_ID, 0, 0,
    IMPORT_T1, V_KWH, rd.IMPORT_T1_WH, 0,
    IMPORT_T2, V_KWH, rd.IMPORT_T2_WH, 0,
    EXPORT_T1, V_KWH, rd.EXPORT_T1_WH, 0,
    EXPORT_T2, V_KWH, rd.EXPORT_T2_WH, 0,
    TARIFF, V_TARIFF, rd.TARIFF, 0,
    IMPORT_W, V_KW, rd.IMPORT_W, 0,
    EXPORT_W, V_KW, rd.EXPORT_W, 0,
    POWER_FAILURES, V_COUNT5, rd.POWER_FAILURES, 0,
    LONG_POWER_FAILURES, V_COUNT5, rd.LONG_POWER_FAILURES, 0,
    POWER_FAILURE_LOG, V_PFLOG, rd.PF_LOG_N, 0,
    SAGS_L1, V_COUNT5, rd.SAGS, 1,
    SAGS_L2, V_COUNT5, rd.SAGS + 1, 2,
    SAGS_L3, V_COUNT5, rd.SAGS + 2, 3,
    SWELLS_L1, V_COUNT5, rd.SWELLS, 1,
    SWELLS_L2, V_COUNT5, rd.SWELLS + 1, 2,
    SWELLS_L3, V_COUNT5, rd.SWELLS + 2, 3,
    TEXT_MESSAGE, V_TEXT, 0, 0,
    VOLTAGE_L1, V_VOLT, rd.VOLTAGE_DV, 1,
    VOLTAGE_L2, V_VOLT, rd.VOLTAGE_DV + 1, 2,
    VOLTAGE_L3, V_VOLT, rd.VOLTAGE_DV + 2, 3,
    CURRENT_L1, V_AMP, rd.CURRENT_MA, 1,
    CURRENT_L2, V_AMP, rd.CURRENT_MA + 1, 2,
    CURRENT_L3, V_AMP, rd.CURRENT_MA + 2, 3,
    PHASE_IMPORT_W_L1, V_KW, rd.PHASE_IMPORT_W, 1,
    PHASE_IMPORT_W_L2, V_KW, rd.PHASE_IMPORT_W + 1, 2,
    PHASE_IMPORT_W_L3, V_KW, rd.PHASE_IMPORT_W + 2, 3,
    PHASE_EXPORT_W_L1, V_KW, rd.PHASE_EXPORT_W, 1,
    PHASE_EXPORT_W_L2, V_KW, rd.PHASE_EXPORT_W + 1, 2,
    PHASE_EXPORT_W_L3, V_KW, rd.PHASE_EXPORT_W + 2, 3,
))


def ln(index):
    """The logical name at `index` as a bytes object of its own (allocates: at start-up, or on
    the host)."""
    return LNS[6 * index:6 * index + 6]


def text(index):
    """A logical name as P1 writes it: b'1-0:1.8.1' (group F, always 255 here, is left out)."""
    g = ln(index)
    return b"%d-%d:%d.%d.%d" % (g[0], g[1], g[2], g[3], g[4])


def dotted(index):
    """A logical name as DLMS tools print it: '1.0.1.8.1.255'."""
    return ".".join(str(x) for x in ln(index))
