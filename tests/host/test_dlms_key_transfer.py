"""Key rotation on the whole emulated meter, as a head-end does it with gurux-dlms: the
management client calls global_key_transfer (security setup 0.0.43.0.0.255, method 2) with a
new encryption and authentication key wrapped (RFC 3394, by gurux) with the master key from the
keys file. The association goes on with the keys it began with; the next one needs the new keys
and refuses the old ones, also after the plug is pulled (SIGKILL) and the meter comes back. The
meter's own invocation counter (0.0.43.1.0.255) only rises, across the rotation and the restart:
no IV is used twice."""

import itertools

import pytest
from dlms_support import (
    AK,
    EK,
    GuruxError,
    booted,
    emulator_session,
    write_keys,
)
from gurux_dlms.GXDLMSException import GXDLMSException
from gurux_dlms.objects import GXDLMSClock, GXDLMSData, GXDLMSSecuritySetup
from gurux_dlms.objects.enums.GlobalKeyType import GlobalKeyType
from meterkast.emu.emulator import Emulator

START = "2024-03-11T22:05:00Z"
KEK = bytes.fromhex("404142434445464748494A4B4C4D4E4F")
EK2 = bytes.fromhex("606162636465666768696A6B6C6D6E6F")
AK2 = bytes.fromhex("707172737475767778797A7B7C7D7E7F")
_ic = itertools.count(10**6, 1000)


def session(emu, ek, ak):
    return emulator_session(emu, next(_ic), ek=ek, ak=ak)


def server_counter(s):
    return s.read(GXDLMSData("0.0.43.1.0.255"), 2)


def refused(emu, ek, ak):
    with pytest.raises(GXDLMSException, match="permanently rejected"):  # the AARE
        session(emu, ek, ak).close()


def meter(p3, keys, state, start=START):
    emu = Emulator(p1=None, p3=p3, keys=keys, start=start, speed=10, state=state,
                   report=False, modules="single")
    emu.start()
    booted(emu)
    return emu


@pytest.mark.parametrize("p3", ["pty", "tcp-wrapper:127.0.0.1:0"])
def test_head_end_rotates_the_management_keys(tmp_path, p3):
    keys = write_keys(str(tmp_path / "keys.json"), kek=KEK)
    state = tmp_path / "state"
    counters = []
    emu = meter(p3, keys, state)
    try:
        s = session(emu, EK, AK)
        try:
            counters.append(server_counter(s))
            setup = GXDLMSSecuritySetup("0.0.43.0.0.255")
            reply = s.request(setup.globalKeyTransfer(
                s.client, KEK, [(GlobalKeyType.UNICAST_ENCRYPTION, EK2),
                                (GlobalKeyType.AUTHENTICATION, AK2)]))
            assert reply.error == 0
            s.read(GXDLMSClock("0.0.1.0.0.255"), 2)  # this association keeps its keys
            counters.append(server_counter(s))
        finally:
            s.release()
            s.close()
        refused(emu, EK, AK)
        s = session(emu, EK2, AK2)
        try:
            counters.append(server_counter(s))
            # wrapped with another master key: refused (other-reason), nothing changes
            with pytest.raises(GuruxError, match="DLMS error 250"):
                s.request(setup.globalKeyTransfer(
                    s.client, EK, [(GlobalKeyType.UNICAST_ENCRYPTION, EK)]))
        finally:
            s.release()
            s.close()
        session(emu, EK2, AK2).close()  # still the rotated keys
        emu.kill()
        emu.close()
    finally:
        emu.stop()
    # the plug pulled and back: the rotated keys are on the comms module's flash
    emu = meter(p3, keys, state, start=None)
    try:
        refused(emu, EK, AK)
        s = session(emu, EK2, AK2)
        try:
            counters.append(server_counter(s))
            s.read(GXDLMSClock("0.0.1.0.0.255"), 2)
        finally:
            s.release()
            s.close()
    finally:
        emu.stop()
    assert counters == sorted(set(counters)), counters  # only ever rising
