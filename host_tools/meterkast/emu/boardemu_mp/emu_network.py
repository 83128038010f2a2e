# meterkast board emulator: the `network` module of the emulated board.
#
# Only WLAN (station), with the ESP32 port's semantics as far as hal.board.net uses them:
# active(), connect(ssid, key) (returns at once), isconnected(), status(), disconnect(),
# ifconfig(). The access point is the host's: hw.json's "wlan" {"ssid", "key", "down"} says
# which network exists, its key, and the path of a file whose presence means the access point is
# out of reach. connect() to that network with its key connects at once; any other ssid or key
# fails as a real one does (no AP found, wrong password). When the access point goes, the
# station drops and stays down until connect() is called again (no reconnect of its own), so
# the firmware's reconnecting is what brings it back. The address is the host's loopback:
# sockets are the unix port's real ones, and a test on the host reaches the board at
# 127.0.0.1.
#
# The key is compared and never kept or printed.
import os

import emu_machine

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_CONNECT_FAIL = 203


def _ap():
    return emu_machine.hw().get("wlan") or {}


def _ap_reachable():
    down = _ap().get("down")
    if not down:
        return True
    try:
        os.stat(emu_machine.hw().get("host_prefix", "") + down)
        return False
    except OSError:
        return True


class WLAN:
    def __init__(self, interface=STA_IF):
        if interface != STA_IF:
            raise ValueError("the emulated board has a WLAN station only")
        self._active = False
        self._status = STAT_IDLE
        self.connects = 0

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)
        if not on:
            self._status = STAT_IDLE

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError(5)  # as on the ESP32: "Wifi Not Started"
        self.connects += 1
        ap = _ap()
        if ssid != ap.get("ssid") or not _ap_reachable():
            self._status = STAT_NO_AP_FOUND
        elif (key or None) != (ap.get("key") or None):
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_GOT_IP

    def disconnect(self):
        self._status = STAT_IDLE

    def isconnected(self):
        if self._status == STAT_GOT_IP and not _ap_reachable():
            self._status = STAT_NO_AP_FOUND  # dropped; it stays so until connect()
        return self._status == STAT_GOT_IP

    def status(self, param=None):
        if param == "rssi":
            return -50
        return self._status

    def ifconfig(self, config=None):
        if self._status == STAT_GOT_IP:
            return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")
        return ("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0")

    def config(self, *args, **kw):
        if args == ("mac",):
            return b"\x02\x00\x00\x00\x00" + bytes([emu_machine.hw().get("serial", 1) & 0xFF])
        return None
