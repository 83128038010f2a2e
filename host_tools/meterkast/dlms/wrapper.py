"""The client end of the IEC 62056-47 wrapper (DLMS/COSEM over TCP, as DSMR P3 head-ends use).

Each APDU goes behind an 8-byte header (big-endian u16s): version 1, source wPort (our client
SAP), destination wPort (the meter's logical device), APDU length. There is no link layer to
set up: `connect` and `disconnect` only reset the stream, so `WrapperClient` stands in for an
HdlcClient under `meterkast.dlms.client.Association`.

link = WrapperClient(port, client_sap=1)     # port: a pyserial port on socket://HOST:PORT
link.connect(); apdu = link.request(aarq); link.disconnect()
"""

import struct
import time

VERSION = 1
HEADER = struct.Struct(">HHHH")


class WrapperError(Exception):
    """The meter did not answer, or answered something that is not a wrapper APDU."""


def wrap(apdu, source, destination):
    return HEADER.pack(VERSION, source, destination, len(apdu)) + bytes(apdu)


def parse_spec(url):
    """'tcp-wrapper:HOST:PORT' -> 'socket://HOST:PORT' (the pyserial URL), else None."""
    if not url.startswith("tcp-wrapper:"):
        return None
    host, sep, port = url[len("tcp-wrapper:"):].rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError("expected tcp-wrapper:HOST:PORT, e.g. tcp-wrapper:127.0.0.1:4059")
    return "socket://%s:%s" % (host, port)


class WrapperClient:
    """One client wPort talking to one logical device over a byte stream."""

    def __init__(self, port, client_sap, server_logical=1, timeout=5.0):
        self.port = port
        self.client = client_sap
        self.server = server_logical
        self.timeout = timeout
        self.rx = bytearray()
        self.connected = False
        self.bytes_sent = 0
        self.bytes_received = 0

    def connect(self):
        self.rx.clear()
        self.connected = True

    def disconnect(self):
        self.connected = False

    def request(self, apdu):
        """Send one APDU, return the meter's answer (header removed)."""
        frame = wrap(apdu, self.client, self.server)
        self.port.write(frame)
        self.bytes_sent += len(frame)
        deadline = time.monotonic() + self.timeout
        while True:
            while len(self.rx) >= HEADER.size:
                version, src, dst, n = HEADER.unpack_from(self.rx)
                if version != VERSION:
                    raise WrapperError("wrapper header with version %d" % version)
                if len(self.rx) < HEADER.size + n:
                    break
                body = bytes(self.rx[HEADER.size : HEADER.size + n])
                del self.rx[: HEADER.size + n]
                if src == self.server and dst == self.client:
                    return body
                # for another wPort: not our answer
            if time.monotonic() >= deadline:
                raise WrapperError("no answer from the meter within %.1f s" % self.timeout)
            data = self.port.read(max(1, self.port.in_waiting))
            if data:
                self.bytes_received += len(data)
                self.rx += data
