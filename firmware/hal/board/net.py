# meterkast: P3 on the network: a TCP port for the IEC 62056-47 wrapper, on WLAN or LAN
# MIT license
#
# On a board with a network (the board table's "network"), /meter.json may put P3 on TCP:
#
#   "p3":   {"tcp": 4059, "framing": "wrapper"}    framing "wrapper" (IEC 62056-47, the
#                                                  default) or "hdlc" (HDLC frames over TCP)
#   "wifi": {"ssid": "..."}                        a WLAN board: the network it joins; the key
#                                                  is not here but in /wifi.key (below)
#   "lan":  {...}                                  a LAN board: network.LAN(**args), overriding
#                                                  the board table's "args"
#   "p3_inactivity": 120                           seconds; as on the UART (comms.dlms.p3)
#
# /wifi.key holds the WPA key and nothing else (written by `meterkast flash --wifi-key-file`,
# never read back by the host). It is a secret: it is passed to WLAN.connect and to nothing
# else, never printed; nothing here formats it into a message. No /wifi.key: an open network.
#
# The port gives the P3 task (comms.dlms.p3) what a UART gives it (hal.board.uart): write(buf,
# n) queues and returns at once, readinto(buf) returns what is there (0 when nothing) and never
# blocks, wait_rx(timeout_ms) sleeps on asyncio's I/O queue until bytes arrive. One client at a
# time: a second connection is closed at once (the port is busy), as the emulator's TCP
# listener does. The client is dropped, and the port freed for the next one, when it closes its
# end, when it is silent for the inactivity time, when the P3 task hangs up on it (no
# association in time: BoardHal.attach chains on_hangup to hang_up()), and when the network
# goes down. A dropped connection ends its association (on_drop), so a new client, even with
# the same client SAP, starts from an unassociated server.
#
# The network is never waited for: bringing it up, and each reconnect after it drops, is a
# non-blocking WLAN.connect; its state is looked at on the P3 task's own wake-ups (at least once
# a second), so metrology and P1 never wait for WiFi. While the network is down the listener is
# closed; it is opened again on the interface's (possibly new) address once it is back.
import asyncio
import select
import socket
import time

from hal.aio import wait_readable
from micropython import const

KEY_FILE = "/wifi.key"
FRAMINGS = ("wrapper", "hdlc")
_TXBUF = const(2048)  # > one wrapper response (8 + 16 + 1024 + 8 bytes) left unsent
_RETRY_MS = const(5000)  # between connect attempts while the network is down
_SERVICE_MS = const(250)  # how often the link and the listener are looked at
_TX_WAIT_MS = const(10)  # while a response waits for room in the socket


class NetLink:
    """The board's network interface, kept up: a WLAN station (ssid, key) or a LAN port (no
    ssid: it comes up by itself, DHCP). up() says whether it is, and starts a reconnect when it
    is not; it never waits."""

    def __init__(self, nic, ssid=None, key=None, connecting=None, say=None, ticks=time):
        self.nic = nic
        self._ssid = ssid
        self._key = key  # never printed: only passed to connect()
        self._connecting = connecting  # network.STAT_CONNECTING: the driver is at it already
        self._say = say
        self._ticks = ticks
        self._was_up = False
        self.connects = 0  # times the link came up
        self.drops = 0  # times it went down
        self.attempts = 0  # connect() calls
        nic.active(True)
        self._last_try = ticks.ticks_ms()
        self._connect()

    def _connect(self):
        self._last_try = self._ticks.ticks_ms()
        if self._ssid is None:
            return
        if self._connecting is not None and self.attempts and self.nic.status() == self._connecting:
            return
        self.attempts += 1
        try:
            if self._key:
                self.nic.connect(self._ssid, self._key)
            else:
                self.nic.connect(self._ssid)
        except OSError as e:  # e.g. the driver is busy; the next attempt comes
            if self._say is not None:  # the port's reason (an errno or its text), never the key
                self._say("meterkast: network: connect to %s failed (%s)" % (
                    self._ssid, e.args[0] if e.args else "?"))

    def up(self):
        if self.nic.isconnected():
            if not self._was_up:
                self._was_up = True
                self.connects += 1
                if self._say is not None:
                    self._say("meterkast: network up%s, address %s" % (
                        " (%s)" % self._ssid if self._ssid else "", self.address()))
            return True
        if self._was_up:
            self._was_up = False
            self.drops += 1
            if self._say is not None:
                self._say("meterkast: network down, reconnecting")
            self._connect()
        elif self._ticks.ticks_diff(self._ticks.ticks_ms(), self._last_try) >= _RETRY_MS:
            self._connect()
        return False

    def address(self):
        return self.nic.ifconfig()[0]


class NetP3:
    """P3 as a TCP server on `link` (a NetLink), with the HAL's UART contract (P3Line)."""

    def __init__(self, link, port, framing="wrapper", heartbeat=None, inactivity_s=120, say=None,
                 ticks=time):
        self.link = link
        self.port = port
        self.framing = framing
        self._heartbeat = heartbeat
        self._inactivity_ms = inactivity_s * 1000
        self._say = say
        self._ticks = ticks
        self._listener = None
        self._poll = None
        self._client = None
        self._tx = bytearray(_TXBUF)  # what the socket did not take yet
        self._txmv = memoryview(self._tx)
        self._txn = 0
        now = ticks.ticks_ms()
        self._last_rx = now
        self._serviced = now  # wait_rx looks at the link at once; readinto every _SERVICE_MS
        self.on_drop = None  # called when a connection ends (comms.dlms.p3: end the association)
        self.connections = 0
        self.turned_away = 0  # connections refused while another client had the port
        self.idle_drops = 0
        self.hangups = 0
        self.listen_errors = 0
        self.rx_discarded = 0

    # -- the UART contract ----------------------------------------------------------------------
    def write(self, buf, n=None):
        if n is None:
            n = len(buf)
        if self._client is None:
            return n  # nobody there: the bytes are gone, as on a line nobody listens to
        if self._txn:
            if self._txn + n > _TXBUF:
                self._drop()  # it does not read what it asked for
                return n
            self._txmv[self._txn : self._txn + n] = memoryview(buf)[:n]
            self._txn += n
            self._flush()
            return n
        try:
            done = self._client.write(memoryview(buf)[:n]) or 0
        except OSError:
            self._drop()
            return n
        if done < n:
            k = n - done
            if k > _TXBUF:
                self._drop()
                return n
            self._txmv[0:k] = memoryview(buf)[done:n]
            self._txn = k
        return n

    def txdone(self):
        return self._txn == 0

    def tx_wait_ms(self):
        return _TX_WAIT_MS if self._txn else 0

    def readinto(self, buf):
        if self._heartbeat is not None:
            self._heartbeat.checkin()
        n = 0
        client = self._client
        if client is not None:
            if self._txn:
                self._flush()
            try:
                got = client.readinto(buf)
            except OSError:  # reset by the peer, or the network under it went away
                got = 0
            if got is None:  # nothing there
                if self._ticks.ticks_diff(self._ticks.ticks_ms(), self._last_rx) > self._inactivity_ms:
                    self.idle_drops += 1
                    self._drop()
            elif got == 0:  # the client closed its end
                self._drop()
            else:
                n = got
                self._last_rx = self._ticks.ticks_ms()
        self._service(False)
        return n

    async def wait_rx(self, timeout_ms):
        """Until the client sends (True) or timeout_ms passes (False); reads nothing. With no
        client it waits for one to connect (and takes it)."""
        self._service(True)
        if self._txn:
            await wait_readable(self._client, min(timeout_ms, _TX_WAIT_MS))
            return False
        if self._client is not None:
            return await wait_readable(self._client, timeout_ms)
        if self._listener is None:  # no network: look again at the next wake-up
            await asyncio.sleep_ms(min(timeout_ms, 1000))
            return False
        if await wait_readable(self._listener, timeout_ms):
            self._accept()
        return False

    def drain(self, scratch):
        return 0

    # -- the board HAL's hooks ------------------------------------------------------------------
    def hang_up(self):
        """The P3 task hung up (busy without an association): free the port."""
        if self._client is not None:
            self.hangups += 1
            self._drop()

    def close(self):
        self._drop()
        self._close_listener()

    # -- inside ---------------------------------------------------------------------------------
    def _service(self, now_anyway):
        """Look at the link and the listener (every _SERVICE_MS, or now)."""
        ticks = self._ticks
        now = ticks.ticks_ms()
        if not now_anyway and ticks.ticks_diff(now, self._serviced) < _SERVICE_MS:
            return
        self._serviced = now
        if not self.link.up():
            if self._client is not None:
                self._drop()
            self._close_listener()
            return
        if self._listener is None:
            self._open()
        elif self._poll is not None:
            for _ in self._poll.ipoll(0):
                self._accept()
                break

    def _open(self):
        address = self.link.address()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(socket.getaddrinfo(address, self.port)[0][-1])
            s.listen(1)
            s.setblocking(False)
        except OSError as e:
            s.close()
            self.listen_errors += 1
            if self._say is not None and self.listen_errors == 1:
                self._say("meterkast: P3 cannot listen on %s:%d (%s)" % (
                    address, self.port, e.args[0] if e.args else "?"))
            return
        poll = select.poll()
        poll.register(s, select.POLLIN)
        self._listener = s
        self._poll = poll
        if self._say is not None:
            self._say("meterkast: P3 (%s) listening on tcp %s:%d" % (self.framing, address, self.port))

    def _close_listener(self):
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
            self._listener = None
            self._poll = None

    def _accept(self):
        listener = self._listener
        if listener is None:
            return
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        if self._client is not None:
            self.turned_away += 1  # the port is busy: one client at a time
            conn.close()
            return
        conn.setblocking(False)
        self._client = conn
        self._txn = 0
        self.connections += 1
        self._last_rx = self._ticks.ticks_ms()

    def _flush(self):
        client = self._client
        if client is None:
            self._txn = 0
            return
        try:
            done = client.write(self._txmv[: self._txn]) or 0
        except OSError:
            self._drop()
            return
        if done:
            rest = self._txn - done
            self._txmv[0:rest] = self._txmv[done : self._txn]
            self._txn = rest

    def _drop(self):
        client = self._client
        if client is None:
            return
        self._client = None
        self._txn = 0
        try:
            client.close()
        except OSError:
            pass
        if self.on_drop is not None:
            self.on_drop()


def read_key(path=KEY_FILE):
    """The WLAN key from flash, or None (an open network). Never printed."""
    try:
        with open(path) as f:
            key = f.read()
    except OSError:
        return None
    return key or None


def build_p3(config, board, heartbeat=None, say=None, ticks=time, network=None):
    """NetP3 for /meter.json's "p3": {"tcp": PORT, "framing": ...} on `board`'s network
    interface (`network`: MicroPython's module, or a test's). ValueError when the board has
    none or the settings are wrong."""
    if network is None:
        import network
    spec = config["p3"]
    net = board.get("network")
    if net is None:
        raise ValueError("board %s has no network: P3 over TCP (\"p3\": {\"tcp\": ...} in "
                         "/meter.json) needs one" % board["name"])
    port = spec.get("tcp")
    framing = spec.get("framing", "wrapper")
    if not isinstance(port, int) or not 0 < port < 65536 or framing not in FRAMINGS:
        raise ValueError("/meter.json \"p3\": {\"tcp\": 1..65535, \"framing\": \"wrapper\" or "
                         "\"hdlc\"}")
    if net["kind"] == "wlan":
        wifi = config.get("wifi") or {}
        if not wifi.get("ssid"):
            raise ValueError("P3 over TCP on %s needs \"wifi\": {\"ssid\": ...} in /meter.json"
                             % board["name"])
        link = NetLink(network.WLAN(network.STA_IF), wifi["ssid"], read_key(),
                       getattr(network, "STAT_CONNECTING", None), say, ticks)
    elif net["kind"] == "lan":
        args = dict(net.get("args") or {})
        args.update(config.get("lan") or {})
        for k in args:
            v = args[k]
            if isinstance(v, str) and v.startswith("PHY_"):
                args[k] = getattr(network, v)
        link = NetLink(network.LAN(**args), None, None, None, say, ticks)
    else:
        raise ValueError("board %s: unknown network kind %r" % (board["name"], net["kind"]))
    return NetP3(link, port, framing, heartbeat, config.get("p3_inactivity", 120), say, ticks)
