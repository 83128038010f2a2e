"""A P3 client that leaves takes its association with it, on the emulator as on a board: the
host's TCP port tells the firmware (`p3 lost`), and the next connection, even with the same
client address and a valid ciphered request of the old association, gets no data."""
import socket
import time

import pytest
from dlms_support import GuruxSession, gurux_management, write_keys
from gurux_dlms.enums import InterfaceType
from gurux_dlms.objects import GXDLMSRegister
from meterkast.emu.emulator import Emulator

START = "2024-03-11T22:05:00Z"


def recv_for(sock, seconds):
    sock.settimeout(0.2)
    data = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return data


@pytest.mark.parametrize("p3", ["tcp-wrapper:127.0.0.1:0", "tcp:127.0.0.1:0"])
def test_the_next_client_never_inherits_an_association(tmp_path, p3):
    wrapper = p3.startswith("tcp-wrapper")
    keys = write_keys(str(tmp_path / "keys.json"))
    emu = Emulator(p1=None, p3=p3, keys=keys, start=START, speed=10, state=tmp_path / "state",
                   report=False, modules="single")
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "boot", 30)
        host, port = emu.endpoints["p3"].address
        interface = InterfaceType.WRAPPER if wrapper else InterfaceType.HDLC
        client = gurux_management(10**6, interface=interface)
        s = GuruxSession("socket://%s:%d" % (host, port), client, wrapper=wrapper)
        s.open()
        reg = GXDLMSRegister("1.0.1.8.1.255")
        try:
            assert s.read(reg, 2) >= 0
        finally:
            s.close()  # no release, no DISC: the client just goes away
        request = s.client.read(reg, 2)[0]  # the old association's next request, fresh counter
        time.sleep(0.5)
        raw = socket.create_connection((host, port), timeout=2)
        try:
            raw.sendall(request)
            answer = recv_for(raw, 2.0)
        finally:
            raw.close()
        apdus = (0xC4, 0xCC, 0xDB, 0xDD)  # a GET response, plain or ciphered
        if wrapper:
            assert not answer or answer[8] not in apdus, answer.hex()
        else:  # HDLC: the link is down, so an I-frame gets DM at most, never information
            assert not any(b in answer[i:i + 12] for i in range(len(answer))
                           for b in (b"\xe6\xe7\x00\xc4", b"\xe6\xe7\x00\xdb")), answer.hex()
        # and the port serves the next client normally
        s = GuruxSession("socket://%s:%d" % (host, port),
                         gurux_management(2 * 10**6, interface=interface), wrapper=wrapper)
        s.open()
        try:
            assert s.read(GXDLMSRegister("1.0.1.8.1.255"), 2) >= 0
        finally:
            s.release()
            s.close()
    finally:
        emu.stop()
