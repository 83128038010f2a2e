"""What the values of a DLMS push list mean, as data (one table per manufacturer list), for
meterkast.wire.push.

A list that names its values (OBIS code, value, scaler-unit: Aidon, Kamstrup, Kaifa and Sagemcom
in Austria) needs no table, only the scalers some meters leave out (Kamstrup). A list sent
without OBIS codes (Kaifa's "KFM_001" lists 1-3, Iskra's "ISK" lists) is read by position: each
table entry is (P1 key, scaler, unit), where scaler None marks text (an id) and unit "time" a
COSEM date-time. Every table names the public source that documents it.
"""

# DLMS unit codes (IEC 62056-62 / Blue Book, enum "unit"): the ones a household meter sends.
UNITS = {
    7: "s", 9: "°C", 13: "m3", 25: "J", 27: "W", 28: "VA", 29: "var", 30: "Wh", 31: "VAh",
    32: "varh", 33: "A", 35: "V", 44: "Hz", 56: "%", 255: None,
}

# Ids and other text: these OBIS codes are strings, never numbers (leading zeros kept).
TEXT = {"0-0:96.1.0", "0-0:96.1.1", "0-0:96.1.2", "0-0:96.1.3", "0-0:96.1.7", "0-0:42.0.0",
        "1-0:0.2.129", "1-0:0.0.5", "1-0:96.1.1", "0-0:96.13.0"}
CLOCK = "0-0:1.0.0"


def _by_quantity(scalers):
    """(C, D) of an OBIS code -> (scaler, unit) for lists that send no scaler-unit."""
    table = {}
    for cs, d, scaler, unit in scalers:
        for c in cs:
            table[(c, d)] = (scaler, unit)
    return table


_POWER = ((1, 2), 7, 0, "W"), ((3, 4), 7, 0, "var"), ((21, 22, 41, 42, 61, 62), 7, 0, "W")
# Kamstrup Omnipower/Omnia HAN lists (Norway; Kamstrup's "HAN module" description, the scalers
# amsreader-firmware applies in src/decoder/src/IEC6205675.cpp): V whole volts, current in
# 0.01 A, energy in 0.01 kWh (10 Wh). Swedish Kamstrup firmware sends energy in Wh instead
# (amsreader-firmware issue #239) and says nothing in the frame that tells them apart.
KAMSTRUP = _by_quantity(_POWER + (((31, 51, 71), 7, -2, "A"), ((32, 52, 72), 7, 0, "V"),
                                  ((1, 2), 8, 1, "Wh"), ((3, 4), 8, 1, "varh")))
# Kaifa MA304/MA105 (Norway, Sweden; the same scalers as the positional lists below).
KAIFA = _by_quantity(_POWER + (((31, 51, 71), 7, -3, "A"), ((32, 52, 72), 7, -1, "V"),
                               ((1, 2), 8, 0, "Wh"), ((3, 4), 8, 0, "varh")))
# Landis+Gyr E450 pushes that list their capture objects but no scalers (Switzerland): power
# W, energy Wh, current 0.01 A, voltage whole volts, as amsreader-firmware reads them (its
# golden decode of test/payloads/landis-gyr/gh934-1.hex; whole volts: its issue #949).
LANDIS_GYR = _by_quantity(_POWER + (((31, 51, 71), 7, -2, "A"), ((32, 52, 72), 7, 0, "V"),
                                    ((1, 2), 8, 0, "Wh"), ((3, 4, 5, 6, 7, 8), 8, 0, "varh")))

# -- lists without OBIS codes, read by position ------------------------------------------------
# Kaifa "KFM_001" (Norway/Sweden). Keys from the OBIS-coded form of the same list a Swedish
# Kaifa sends (amsreader-firmware test/payloads/kaifa/gh242-1.hex); scalers as amsreader-firmware
# reads them (src/decoder/src/IEC6205675.cpp: current / 1000, voltage / 10, energy Wh).
_KAIFA_HEAD = [("1-0:0.2.129", None, None), ("0-0:96.1.0", None, None), ("0-0:96.1.7", None, None),
               ("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W"), ("1-0:3.7.0", 0, "var"),
               ("1-0:4.7.0", 0, "var")]
_KAIFA_ENERGY = [("0-0:1.0.0", None, "time"), ("1-0:1.8.0", 0, "Wh"), ("1-0:2.8.0", 0, "Wh"),
                 ("1-0:3.8.0", 0, "varh"), ("1-0:4.8.0", 0, "varh")]
_KAIFA_1P = _KAIFA_HEAD + [("1-0:31.7.0", -3, "A"), ("1-0:32.7.0", -1, "V")]
_KAIFA_3P = _KAIFA_HEAD + [
    ("1-0:31.7.0", -3, "A"), ("1-0:51.7.0", -3, "A"), ("1-0:71.7.0", -3, "A"),
    ("1-0:32.7.0", -1, "V"), ("1-0:52.7.0", -1, "V"), ("1-0:72.7.0", -1, "V")]
# Iskra AM550 "ISK..." 18-value list (Slovenia, Elektro Ljubljana): the order and scalers that
# amsreader-firmware documents OBIS by OBIS in src/decoder/src/IEC6205675.cpp.
_ISKRA_18 = [("0-0:42.0.0", None, None), ("0-0:96.1.3", None, None),
             ("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W"), ("1-0:3.7.0", 0, "var"),
             ("1-0:4.7.0", 0, "var"), ("1-0:32.7.0", -1, "V"), ("1-0:52.7.0", -1, "V"),
             ("1-0:72.7.0", -1, "V"), ("1-0:31.7.0", -2, "A"), ("1-0:51.7.0", -2, "A"),
             ("1-0:71.7.0", -2, "A"), ("1-0:21.7.0", 0, "W"), ("1-0:41.7.0", 0, "W"),
             ("1-0:61.7.0", 0, "W"), ("1-0:22.7.0", 0, "W"), ("1-0:42.7.0", 0, "W"),
             ("1-0:62.7.0", 0, "W")]
# Iskra AM550 "ISK..." 9-value list (Slovenia, Elektro Ljubljana, one phase), likewise.
_ISKRA_9 = [("0-0:42.0.0", None, None), ("0-0:96.1.2", None, None),
            ("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W"), ("1-0:3.7.0", 0, "var"),
            ("1-0:4.7.0", 0, "var"), ("1-0:32.7.0", -1, "V"), ("1-0:2.8.1", 0, "Wh"),
            ("1-0:2.8.2", 0, "Wh")]

# Austria, Kaernten Netz (Iskra AM550, Siemens IM350) and others: the push setup's name
# 0-6:25.9.0, then serial number, time, date, +A, -A (Wh), +R, -R (varh), +P, -P (W) and two
# customer-information fields; some meters leave those two out. Layout as pocki80's gist
# 941fa090a8d6269a9b3b68c195f8750f documents it ("plaintext hex string of KaerntenNetz
# explained"). Time and date repeat the notification's own date-time: not repeated here. An
# entry with key None is kept under "unnamed".
_AT_COUNTERS = [("1-0:1.8.0", 0, "Wh"), ("1-0:2.8.0", 0, "Wh"), ("1-0:3.8.0", 0, "varh"),
                ("1-0:4.8.0", 0, "varh")]
_AT_KN = ([("0-0:96.1.0", None, None), (None, None, "skip"), (None, None, "skip")] + _AT_COUNTERS
          + [("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W")])
# Austria, Wiener Netze (Iskra AM550, Landis+Gyr E450 on the optical port): date-time, +A, -A,
# +R, -R, +P, -P, +Q, -Q, as the same gist documents ("plaintext hex string of WienerNetze
# explained").
_AT_WN = ([("0-0:1.0.0", None, "time")] + _AT_COUNTERS
          + [("1-0:1.7.0", 0, "W"), ("1-0:2.7.0", 0, "W"), ("1-0:3.7.0", 0, "var"),
             ("1-0:4.7.0", 0, "var")])

# (name, what identifies it, number of values) -> table. The identification is a prefix of the
# first value, "@time" (the first value is a date-time) or "@" and the push setup's name.
POSITIONAL = {
    ("kaifa list 2 (1 phase)", "KFM_001", 9): _KAIFA_1P,
    ("kaifa list 2 (3 phases)", "KFM_001", 13): _KAIFA_3P,
    ("kaifa list 3 (1 phase)", "KFM_001", 14): _KAIFA_1P + _KAIFA_ENERGY,
    ("kaifa list 3 (3 phases)", "KFM_001", 18): _KAIFA_3P + _KAIFA_ENERGY,
    ("iskra list (18 values)", "ISK", 18): _ISKRA_18,
    ("iskra list (9 values)", "ISK", 9): _ISKRA_9,
    ("austria kaernten netz list", "@0-6:25.9.0", 11): _AT_KN + [(None, None, None)] * 2,
    ("austria kaernten netz list (short)", "@0-6:25.9.0", 9): _AT_KN,
    ("austria wiener netze list", "@time", 9): _AT_WN,
}
# Kaifa list 1 (Norway): one double-long-unsigned, the active import power in W.
LIST_1 = [("1-0:1.7.0", 0, "W")]
