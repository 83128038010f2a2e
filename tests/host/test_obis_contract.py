"""The meter and its tools agree on every OBIS code: the firmware's P1 telegram and DLMS objects
take theirs from firmware/contract/obis.py, the host's reader takes the same module, and what the
firmware writes is what the host (and dsmr_parser) read back under those codes."""
import re

from conftest import FIRMWARE, run_micropython
from meterkast import firmware_module
from meterkast.dlms import reader
from meterkast.wire import p1_spec
from meterkast.wire.p1 import Telegram

OBIS = firmware_module("contract.obis")

BUILD = r'''
from comms.p1.telegram import TelegramBuilder
from contract import reading as rd
from util.tz import to_seconds
r = rd.new_reading()
r[rd.T] = to_seconds(2026, 7, 1, 10, 15, 0)
r[rd.TARIFF] = 2
r[rd.IMPORT_T1_WH] = 1234567
r[rd.EXPORT_T2_WH] = 89
r[rd.IMPORT_W] = 1193
r[rd.PF_LOG_N] = 1
r[rd.PF_LOG] = to_seconds(2026, 6, 28, 10, 15, 0)
r[rd.PF_LOG + 1] = 240
b = TelegramBuilder("E0012345678901234", phases=3)
n = b.build(r)
import sys
sys.stdout.buffer.write(b.buf[:n])
'''


def firmware_telegram(tmp_path):
    script = tmp_path / "build.py"
    script.write_text(BUILD)
    r = run_micropython(script)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout


def test_the_telegram_carries_exactly_the_contract_lines(tmp_path):
    raw = firmware_telegram(tmp_path)
    t = Telegram(raw, "dsmr5")
    assert t.ok and t.crc_ok, t.error
    sent = [line.split(b"(")[0].decode() for line in raw.split(b"\r\n")[2:] if b"(" in line]
    lines = OBIS.P1_LINES
    assert sent == [OBIS.text(lines[o]).decode() for o in range(0, len(lines), OBIS.P1_LINE)]
    table = p1_spec.shapes("dsmr5")
    for code in sent:  # every code the meter sends is one DSMR 5 defines
        assert p1_spec.shape_key(code).replace(":", "_").replace(".", "_") in table or code in table
    # the values come back under the contract's codes
    assert t.fields[OBIS.text(OBIS.IMPORT_T1).decode()] == 1234.567
    assert t.fields[OBIS.text(OBIS.EXPORT_T2).decode()] == 0.089
    assert t.fields[OBIS.text(OBIS.IMPORT_W).decode()] == 1.193
    assert t.fields[OBIS.text(OBIS.POWER_FAILURE_LOG).decode()] == [
        {"end": "2026-06-28T10:15:00Z", "duration_s": 240}]


def test_the_dlms_server_and_the_head_end_use_the_contract_codes():
    cosem = (FIRMWARE / "comms" / "dlms" / "cosem.py").read_text()
    assert "contract" in cosem and "obis" in cosem
    assert not re.search(r'b"\\x01\\x00\\x01\\x08', cosem), "a register LN written out in cosem.py"
    assert reader.PROFILE == OBIS.ln(OBIS.PROFILE)
    assert [ln for _, ln in reader.REGISTERS[:4]] == [OBIS.ln(i) for i in OBIS.ENERGY]
    assert len(OBIS.LNS) == 6 * OBIS.COUNT and len(set(OBIS.ln(i) for i in range(OBIS.COUNT))) \
        == OBIS.COUNT, "every code once"
    assert OBIS.dotted(OBIS.IMPORT_T1) == "1.0.1.8.1.255" and OBIS.text(OBIS.PROFILE) == b"1-0:99.1.0"
