"""DLMS/COSEM associations over an HdlcClient (or a WrapperClient): AARQ/AARE, HLS-GMAC, GET
with blocks.

link = HdlcClient(port, client_sap=1); link.connect()
a = Association.management(link, keys, counters); a.open()
raw = a.get(8, CLOCK, 2)                     # Data bytes of the attribute
a.release(); link.disconnect()
"""

import os
import struct

from meterkast import firmware_module
from meterkast.dlms import axdr
from meterkast.dlms.security import (
    SC_AUTH,
    SC_AUTH_ENC,
    TAG_LEN,
    SecurityError,
    decrypt,
    encrypt,
    gmac,
)

_OBIS = firmware_module("contract.obis")  # the meter's own OBIS table
CLOCK = _OBIS.ln(_OBIS.CLOCK)
ASSOCIATION = _OBIS.ln(_OBIS.ASSOCIATION)
CLIENT_IC = _OBIS.ln(_OBIS.IC_CLIENT)

_CONTEXT = b"\x60\x85\x74\x05\x08\x01"
_MECHANISM = b"\x60\x85\x74\x05\x08\x02"
# general-protection, block-transfer-with-get, get, set, selective-access, action
PROPOSED_CONFORMANCE = 0x40101D

DATA_ACCESS_RESULTS = {
    1: "hardware-fault",
    2: "temporary-failure",
    3: "read-write-denied",
    4: "object-undefined",
    9: "object-class-inconsistent",
    11: "object-unavailable",
    12: "type-unmatched",
    13: "scope-of-access-violated",
    14: "data-block-unavailable",
    15: "long-get-aborted",
    16: "no-long-get-in-progress",
    19: "data-block-number-invalid",
    250: "other-reason",
}
DIAGNOSTICS = {
    0: "null",
    1: "no reason given",
    2: "application context not supported",
    3: "calling AP title not recognised",
    11: "authentication mechanism not recognised",
    12: "authentication mechanism required",
    13: "authentication failure",
    14: "authentication required",
}
SERVICE_ERRORS = {
    1: "operation not possible",
    2: "service not supported",
    3: "other reason",
    4: "PDU too long",
    5: "deciphering error",
    6: "invocation counter error",
}


class DlmsError(Exception):
    """The meter refused a request, or answered something a client cannot use."""


class AssociationRejected(DlmsError):
    def __init__(self, result, diagnostic, initiate_error=None):
        self.result = result
        self.diagnostic = diagnostic
        self.initiate_error = initiate_error
        text = "association rejected: %s" % DIAGNOSTICS.get(
            diagnostic, "diagnostic %d" % diagnostic
        )
        if initiate_error is not None:
            text += " (xDLMS initiate error %d)" % initiate_error
        super().__init__(text)


class DataAccessError(DlmsError):
    def __init__(self, code):
        self.code = code
        super().__init__("data-access-result %d (%s)" % (code, DATA_ACCESS_RESULTS.get(code, "?")))


class ExceptionResponse(DlmsError):
    def __init__(self, state_error, service_error):
        self.state_error = state_error
        self.service_error = service_error
        super().__init__(
            "exception-response: %s" % SERVICE_ERRORS.get(service_error, service_error)
        )


def _ber(tag, content):
    return bytes((tag,)) + axdr.encode_length(len(content)) + content


def _parse_ber(apdu, expect):
    """{tag: content} of a BER-coded ACSE APDU (one level)."""
    if not apdu or apdu[0] != expect:
        raise DlmsError("expected ACSE tag 0x%02x, got %s" % (expect, apdu[:1].hex() or "nothing"))
    n, p = axdr.read_length(apdu, 1)
    end = p + n
    if end != len(apdu):
        raise DlmsError("ACSE length %d does not match the APDU (%d bytes)" % (n, len(apdu) - p))
    fields = {}
    while p < end:
        tag = apdu[p]
        n, q = axdr.read_length(apdu, p + 1)
        if q + n > end:
            raise DlmsError("ACSE field 0x%02x overruns the APDU" % tag)
        fields[tag] = apdu[q : q + n]
        p = q + n
    return fields


def initiate_request(conformance, max_pdu):
    return (
        b"\x01\x00\x00\x00\x06\x5f\x1f\x04\x00"
        + conformance.to_bytes(3, "big")
        + struct.pack(">H", max_pdu)
    )


class Association:
    """One application association. Use `public` or `management` to build one."""

    def __init__(self, link, keys=None, counters=None, max_pdu=0xFFFF):
        self.link = link
        self.keys = keys
        self.counters = counters
        self.max_pdu = max_pdu
        self.server_max_pdu = None
        self.conformance = 0
        self.open_ = False
        self.blocks = 0
        self.on_block = None  # callable(block number, bytes so far) during long GETs

    @classmethod
    def public(cls, link):
        return cls(link)

    @classmethod
    def management(cls, link, keys, counters):
        return cls(link, keys, counters)

    @property
    def ciphered(self):
        return self.keys is not None

    # -- protection --------------------------------------------------------------------------
    def _protect(self, apdu):
        k = self.keys
        ic = self.counters.take()
        body = (
            bytes((SC_AUTH_ENC,))
            + ic.to_bytes(4, "big")
            + encrypt(k, k.client_system_title, ic, apdu)
        )
        return b"\xdb\x08" + k.client_system_title + axdr.encode_length(len(body)) + body

    def _unprotect(self, apdu):
        if apdu[:1] == b"\xd8":
            raise (
                ExceptionResponse(apdu[1], apdu[2])
                if len(apdu) >= 3
                else DlmsError("short exception")
            )
        if apdu[:1] != b"\xdb":
            raise SecurityError(
                "unprotected answer 0x%s in a ciphered association" % apdu[:1].hex()
            )
        k = self.keys
        n, p = axdr.read_length(apdu, 1)
        if n != 8 or apdu[p : p + 8] != k.system_title:
            raise SecurityError(
                "answer from system title %s, expected %s"
                % (apdu[p : p + 8].hex(), k.system_title.hex())
            )
        n, p = axdr.read_length(apdu, p + 8)
        if p + n != len(apdu) or n < 5 + TAG_LEN or apdu[p] != SC_AUTH_ENC:
            raise SecurityError("malformed general-glo-ciphering APDU")
        ic = int.from_bytes(apdu[p + 1 : p + 5], "big")
        plain = decrypt(k, k.system_title, ic, apdu[p + 5 : p + n])
        self.counters.server(ic)
        if plain[:1] == b"\xd8" and len(plain) >= 3:
            raise ExceptionResponse(plain[1], plain[2])
        return plain

    def _call(self, apdu):
        answer = self.link.request(self._protect(apdu) if self.ciphered else apdu)
        if self.ciphered:
            return self._unprotect(answer)
        if answer[:1] == b"\xd8" and len(answer) >= 3:
            raise ExceptionResponse(answer[1], answer[2])
        return answer

    # -- association -------------------------------------------------------------------------
    def open(self):
        if self.ciphered:
            self._open_management()
        else:
            self._open_public()
        self.open_ = True

    def _open_public(self):
        ui = initiate_request(PROPOSED_CONFORMANCE & ~0x400000, self.max_pdu)
        aarq = _ber(
            0x60, _ber(0xA1, b"\x06\x07" + _CONTEXT + b"\x01") + _ber(0xBE, _ber(0x04, ui))
        )
        fields = _parse_ber(self.link.request(aarq), 0x61)
        self._check_result(fields)
        self._initiate_response(self._user_information(fields))

    def _open_management(self):
        k = self.keys
        ctos = os.urandom(16)
        ic = self.counters.take()
        ui_plain = initiate_request(PROPOSED_CONFORMANCE, self.max_pdu)
        ct = encrypt(k, k.client_system_title, ic, ui_plain)
        glo = (
            b"\x21"
            + axdr.encode_length(5 + len(ct))
            + bytes((SC_AUTH_ENC,))
            + ic.to_bytes(4, "big")
            + ct
        )
        aarq = _ber(
            0x60,
            _ber(0xA1, b"\x06\x07" + _CONTEXT + b"\x03")
            + _ber(0xA6, _ber(0x04, k.client_system_title))
            + b"\x8a\x02\x07\x80"
            + _ber(0x8B, _MECHANISM + b"\x05")
            + _ber(0xAC, _ber(0x80, ctos))
            + _ber(0xBE, _ber(0x04, glo)),
        )
        fields = _parse_ber(self.link.request(aarq), 0x61)
        diagnostic = self._check_result(fields)
        title = fields.get(0xA4, b"")[2:]
        if title != k.system_title:
            raise SecurityError(
                "meter system title %s, expected %s" % (title.hex(), k.system_title.hex())
            )
        ui = self._user_information(fields)
        if ui[:1] != b"\x28":
            raise SecurityError("the meter's InitiateResponse is not ciphered")
        n, p = axdr.read_length(ui, 1)
        if p + n != len(ui) or ui[p] != SC_AUTH_ENC:
            raise SecurityError("malformed glo-initiateResponse")
        sic = int.from_bytes(ui[p + 1 : p + 5], "big")
        plain = decrypt(k, k.system_title, sic, ui[p + 5 :])
        self.counters.server(sic)
        self._initiate_response(plain)
        if diagnostic != 14:
            raise SecurityError("the meter did not ask for HLS authentication")
        stoc = fields.get(0xAA, b"")[2:]
        if fields.get(0x89, b"")[-1:] != b"\x05" or not 8 <= len(stoc) <= 64:
            raise SecurityError("the meter did not offer HLS-GMAC with a challenge")
        # pass 3: f(StoC) with a counter of its own, then pass 4: check f(CtoS)
        gic = self.counters.take()
        reply = (
            bytes((SC_AUTH,)) + gic.to_bytes(4, "big") + gmac(k, k.client_system_title, gic, stoc)
        )
        before = self.counters.server_seen
        answer = self._call(
            b"\xc3\x01\xc1\x00\x0f" + ASSOCIATION + b"\x01\x01" + axdr.octet_string(reply)
        )
        if answer[:4] != b"\xc7\x01\xc1\x00" or answer[4:6] != b"\x01\x00":
            code = answer[3] if len(answer) > 3 else -1
            raise SecurityError("HLS pass 3 refused by the meter (action-result %d)" % code)
        f_ctos = axdr.decode_all(answer[6:])
        if len(f_ctos) != 5 + TAG_LEN or f_ctos[0] != SC_AUTH:
            raise SecurityError("malformed HLS pass 4 answer")
        pic = int.from_bytes(f_ctos[1:5], "big")
        if pic <= before or f_ctos[5:] != gmac(k, k.system_title, pic, ctos):
            raise SecurityError("the meter failed HLS pass 4 (it does not hold our keys)")

    def _check_result(self, fields):
        result = fields.get(0xA2, b"\x02\x01\xff")[-1]
        diagnostic = fields.get(0xA3, b"\xa1\x03\x02\x01\xff")[-1]
        if result != 0:
            err = None
            ui = fields.get(0xBE)
            if ui and len(ui) >= 6 and ui[2] == 0x0E:
                err = ui[-1]
            raise AssociationRejected(result, diagnostic, err)
        return diagnostic

    @staticmethod
    def _user_information(fields):
        ui = fields.get(0xBE)
        if not ui or ui[0] != 0x04:
            raise DlmsError("AARE without user-information")
        n, p = axdr.read_length(ui, 1)
        return ui[p : p + n]

    def _initiate_response(self, plain):
        if len(plain) < 14 or plain[0] != 0x08:
            raise DlmsError("bad InitiateResponse %s" % plain.hex())
        p = 2 if plain[1] == 0 else 3
        if plain[p] != 6 or plain[p + 1 : p + 4] != b"\x5f\x1f\x04":
            raise DlmsError("bad InitiateResponse %s" % plain.hex())
        self.conformance = int.from_bytes(plain[p + 5 : p + 8], "big")
        self.server_max_pdu = struct.unpack(">H", plain[p + 8 : p + 10])[0]

    def release(self):
        if not self.open_:
            return
        self.open_ = False
        answer = self.link.request(b"\x62\x03\x80\x01\x00")
        if answer[:1] != b"\x63":
            raise DlmsError("no RLRE to the release request")

    # -- xDLMS services ------------------------------------------------------------------------
    def get(self, class_id, obis, attribute, selector=0, parameters=b""):
        """The Data bytes of one attribute (GET-with-datablock reassembled)."""
        request = b"\xc0\x01\xc1" + struct.pack(">H", class_id) + bytes(obis) + bytes((attribute,))
        request += bytes((1, selector)) + parameters if selector else b"\x00"
        answer = self._call(request)
        if answer[:2] == b"\xc4\x01":
            if answer[3] != 0:
                raise DataAccessError(answer[4])
            return answer[4:]
        data = bytearray()
        self.blocks = 0
        while True:
            if answer[:2] != b"\xc4\x02" or len(answer) < 10:
                raise DlmsError("unexpected answer %s" % answer[:8].hex())
            last = answer[3]
            number = struct.unpack(">I", answer[4:8])[0]
            if answer[8] != 0:
                raise DataAccessError(answer[9])
            if number != self.blocks + 1:
                raise DlmsError("block %d after block %d" % (number, self.blocks))
            n, p = axdr.read_length(answer, 9)
            if p + n != len(answer):
                raise DlmsError("block length %d does not match" % n)
            data += answer[p:]
            self.blocks = number
            if self.on_block:
                self.on_block(number, len(data))
            if last:
                return bytes(data)
            answer = self._call(b"\xc0\x02\xc1" + struct.pack(">I", number))

    def get_value(self, class_id, obis, attribute, selector=0, parameters=b""):
        return axdr.decode_all(self.get(class_id, obis, attribute, selector, parameters))

    def action(self, class_id, obis, method, data=None):
        """ACTION-request normal (method with its A-XDR-encoded parameter `data`, or none): the
        action-result (0 success); DlmsError when the answer is not an action-response."""
        request = b"\xc3\x01\xc1" + struct.pack(">H", class_id) + bytes(obis) + bytes((method,))
        request += b"\x01" + bytes(data) if data is not None else b"\x00"
        answer = self._call(request)
        if answer[:2] != b"\xc7\x01" or len(answer) < 4:
            raise DlmsError("unexpected answer to the action: %s" % answer[:8].hex())
        return answer[3]
