# hal.board.net: the WLAN kept up without waiting, P3 as a TCP port with the UART contract (one
# client at a time, dropped on EOF, silence, hang-up and network loss), the key never said.
# Real sockets on the unix port's loopback; a fake network interface; ticks that wrap at 2**30.
import asyncio
import os
import socket

from board_fakes import WrapTicks
from hal.board.net import NetLink, NetP3, build_p3

KEY = "s3cret-wpa-key"


class FakeNic:
    def __init__(self):
        self.calls = []
        self.link = True  # the access point is there
        self.connected = False
        self.on = False

    def active(self, on=None):
        self.on = on

    def connect(self, ssid, key=None):
        self.calls.append((ssid, key))
        self.connected = self.link

    def isconnected(self):
        if not self.link:
            self.connected = False
        return self.connected

    def status(self):
        return 0

    def ifconfig(self):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


class FakeNetwork:
    STA_IF = 0
    STAT_CONNECTING = 1

    def __init__(self):
        self.nic = FakeNic()

    def WLAN(self, interface):
        assert interface == self.STA_IF
        return self.nic


said = []
ticks = WrapTicks((1 << 30) - 3000)  # the ticks counter wraps during the test

# --- the link: connects at once, reconnects after a drop, retries while down -------------------
nic = FakeNic()
link = NetLink(nic, "lab", KEY, None, said.append, ticks)
assert nic.on is True and nic.calls == [("lab", KEY)]
assert link.up() and link.connects == 1 and link.address() == "127.0.0.1"
nic.link = False
assert not link.up() and link.drops == 1 and len(nic.calls) == 2, "reconnects at once"
ticks.advance(1000)
assert not link.up() and len(nic.calls) == 2, "no new attempt before the retry time"
ticks.advance(5000)
assert not link.up() and len(nic.calls) == 3
nic.link = True
ticks.advance(5000)
assert not link.up() and len(nic.calls) == 4, "connect() starts a connection, it does not wait"
assert link.up() and link.connects == 2 and len(nic.calls) == 4
open_link = NetLink(FakeNic(), "cafe", None, None, said.append, ticks)
assert open_link.nic.calls == [("cafe", None)], "an open network: no key"

# --- P3 on TCP ----------------------------------------------------------------------------------
port = 42000 + (os.urandom(1)[0] << 4) + (os.urandom(1)[0] & 15)


def addr():
    return socket.getaddrinfo("127.0.0.1", port)[0][-1]


def client():
    c = socket.socket()
    c.connect(addr())
    return c


def refused():
    c = socket.socket()
    try:
        c.connect(addr())
    except OSError:
        return True
    finally:
        c.close()
    return False


drops = []
checkins = []


class Beat:
    def checkin(self):
        checkins.append(1)


p3 = NetP3(link, port, "wrapper", Beat(), 2, said.append, ticks)
p3.on_drop = lambda: drops.append(1)
buf = bytearray(64)


async def settle(ms=30):
    await asyncio.sleep_ms(ms)


async def main():
    assert await p3.wait_rx(10) is False, "opens the listener, no client yet"
    assert p3.readinto(buf) == 0 and checkins, "readinto is the watchdog check-in"
    a = client()
    await p3.wait_rx(200)  # takes the client
    assert p3.connections == 1
    a.write(b"\x00\x01hello")
    await settle()
    assert await p3.wait_rx(200) is True
    n = p3.readinto(buf)
    assert bytes(buf[:n]) == b"\x00\x01hello", buf[:n]
    assert p3.write(b"answer!", 6) == 6 and p3.txdone()
    a.setblocking(False)
    await settle()
    assert a.read(64) == b"answer"
    # a second client while one is served: closed at once
    b = client()
    ticks.advance(300)
    await settle()
    p3.readinto(buf)
    await settle()
    b.setblocking(True)
    assert b.read(8) == b"" and p3.turned_away == 1
    b.close()
    # the client closes: the port is free and the association ends
    a.close()
    await settle()
    assert p3.readinto(buf) == 0 and drops == [1] and p3.write(b"lost", 4) == 4
    # silence longer than the inactivity time drops the client
    c = client()
    await p3.wait_rx(200)
    assert p3.connections == 2
    ticks.advance(1500)
    assert p3.readinto(buf) == 0 and p3.idle_drops == 0
    ticks.advance(1000)
    assert p3.readinto(buf) == 0 and p3.idle_drops == 1 and drops == [1, 1]
    c.close()
    # the P3 task hangs up (no association in time)
    d = client()
    await p3.wait_rx(200)
    p3.hang_up()
    assert p3.hangups == 1 and len(drops) == 3
    d.close()
    # the network goes: the client is dropped and the port closed; it comes back: served again
    e = client()
    await p3.wait_rx(200)
    nic.link = False
    assert await p3.wait_rx(10) is False
    assert len(drops) == 4 and refused()
    nic.link = True
    ticks.advance(6000)
    await p3.wait_rx(10)  # the retry: connect() ...
    assert refused()
    await p3.wait_rx(10)  # ... and at the next look the link is up and the port open again
    e.close()
    f = client()
    await p3.wait_rx(200)
    f.write(b"again")
    await settle()
    n = p3.readinto(buf)
    assert bytes(buf[:n]) == b"again" and p3.connections == 5
    f.close()
    p3.close()


asyncio.run(main())

# --- built from /meter.json -----------------------------------------------------------------------
from boards import board  # noqa: E402

net = FakeNetwork()
cfg = {"p3": {"tcp": 4059, "framing": "wrapper"}, "wifi": {"ssid": "lab"}, "p3_inactivity": 30}
built = build_p3(cfg, board("devkitc"), None, said.append, ticks, net)
assert built.port == 4059 and built.framing == "wrapper" and built._inactivity_ms == 30000
assert net.nic.calls and net.nic.calls[0][0] == "lab"
for bad_cfg, name, why in (
        (cfg, "pico", "has no network"),
        ({"p3": {"tcp": 4059}}, "devkitc", "ssid"),
        ({"p3": {"tcp": 70000}, "wifi": {"ssid": "x"}}, "devkitc", "1..65535"),
        ({"p3": {"tcp": 1, "framing": "dlms"}, "wifi": {"ssid": "x"}}, "devkitc", "framing")):
    try:
        build_p3(bad_cfg, board(name), None, said.append, ticks, FakeNetwork())
        raise AssertionError("accepted %r on %s" % (bad_cfg, name))
    except ValueError as e:
        assert why in str(e), e

assert said and not [s for s in said if KEY in s], "the key is never said"
print("OK")
