"""Attacks on the P3 channel: each is refused with the right DLMS error, and the meter goes on
serving the next association (checked with a full management read after every attack)."""

import random

import pytest
import serial
from dlms_support import AK, CLIENT_TITLE, EK, SYSTEM_TITLE, P3Harness
from meterkast.dlms import axdr
from meterkast.dlms.client import (
    CLOCK,
    Association,
    AssociationRejected,
    DataAccessError,
    ExceptionResponse,
)
from meterkast.dlms.hdlc import HdlcClient
from meterkast.dlms.security import CounterState, Keys, SecurityError

PROFILE = bytes((1, 0, 99, 1, 0, 255))
IMPORT_T1 = bytes((1, 0, 1, 8, 1, 255))
GET_CLOCK = b"\xc0\x01\xc1\x00\x08" + CLOCK + b"\x02\x00"
KEYS = Keys(SYSTEM_TITLE, EK, AK, CLIENT_TITLE)


@pytest.fixture(scope="module")
def meter(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    with P3Harness(tmp, rows=96) as h:
        h.counters = CounterState(str(tmp / "hes.ic"))
        yield h


class Session:
    def __init__(self, meter, sap=1, keys=KEYS, counters=None):
        self.port = serial.serial_for_url(meter.url, baudrate=115200, timeout=0.05)
        self.link = HdlcClient(self.port, client_sap=sap, timeout=2.0, retries=0)
        self.link.connect()
        if sap == 1:
            self.a = Association.management(self.link, keys, counters or meter.counters)
        else:
            self.a = Association.public(self.link)

    def close(self):
        try:
            if self.a.open_:
                self.a.release()
        finally:
            self.link.disconnect()
            self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def still_serving(meter):
    """A complete, correct management read right after the attack."""
    with Session(meter) as s:
        s.a.open()
        assert s.a.get_value(3, IMPORT_T1, 2) > 0
        assert len(s.a.get_value(7, PROFILE, 2, 2, axdr.entry_descriptor(1, 0))) == 96


def protected_get(s, plain=GET_CLOCK):
    return s.a._protect(plain)


def exchange(s, apdu):
    return s.link.request(apdu)


def test_replayed_apdu_is_refused(meter):
    with Session(meter) as s:
        s.a.open()
        apdu = protected_get(s)
        assert s.a._unprotect(exchange(s, apdu))[:4] == b"\xc4\x01\xc1\x00"
        # the same ciphered APDU again (new HDLC frame, correct sequence numbers)
        assert exchange(s, apdu) == b"\xd8\x01\x06"  # exception: invocation-counter-error
        # the association is intact: a fresh request still works
        assert s.a.get_value(3, IMPORT_T1, 2) > 0
    still_serving(meter)


def test_reordered_apdus_are_refused(meter):
    with Session(meter) as s:
        s.a.open()
        first = protected_get(s)
        second = protected_get(s)
        assert s.a._unprotect(exchange(s, second))[:4] == b"\xc4\x01\xc1\x00"
        assert exchange(s, first) == b"\xd8\x01\x06"
    still_serving(meter)


def test_replay_after_restart_is_refused(tmp_path):
    """The last accepted client counter survives a restart (the meter is killed, not stopped)."""
    counters = CounterState(str(tmp_path / "hes.ic"))
    h = P3Harness(tmp_path, rows=4).start()
    try:
        recorded = []
        with Session(h, counters=counters) as s:
            real = s.link.request
            s.link.request = lambda apdu: recorded.append(apdu) or real(apdu)
            s.a.open()
            s.a.get_value(8, CLOCK, 2)
    finally:
        h.proc.kill()
        h.stop()
    h = P3Harness(tmp_path, rows=4, storage=h.storage, keys=h.keys).start()
    try:
        with Session(h, counters=counters) as s:
            aare = axdr_fields(exchange(s, recorded[0]))  # the old AARQ, byte for byte
            assert aare[0xA2][-1] == 1  # rejected-permanent
        with Session(h, counters=counters) as s:
            s.a.open()
            assert s.a.get_value(8, CLOCK, 2)
    finally:
        h.stop()


def axdr_fields(aare):
    from meterkast.dlms.client import _parse_ber

    return _parse_ber(aare, 0x61)


def test_flipped_bits_are_refused(meter):
    rng = random.Random(5)
    with Session(meter) as s:
        s.a.open()
        apdu = protected_get(s)
        body = apdu.index(b"\x30", 10)  # SC: IC, ciphertext and tag follow
        codes = set()
        for i in range(2, len(apdu)):
            bad = bytearray(apdu)
            bad[i] ^= 1 << rng.randrange(8)
            answer = exchange(s, bytes(bad))
            assert answer[:2] == b"\xd8\x01", (i, answer.hex())
            codes.add(answer[2])
            if i > body:
                assert answer[2] in (5, 6)  # deciphering error, or counter now below the last
        assert 5 in codes
        # none of the altered APDUs consumed the counter: the untouched one is accepted
        assert s.a._unprotect(exchange(s, apdu))[:4] == b"\xc4\x01\xc1\x00"
    still_serving(meter)


def test_flipped_bit_in_the_hls_reply_fails_authentication(meter):
    with Session(meter) as s:
        real = s.a._call

        def tamper(apdu):
            if apdu[:1] == b"\xc3":  # pass 3: ACTION reply_to_HLS_authentication
                apdu = apdu[:-1] + bytes((apdu[-1] ^ 0x40,))
            return real(apdu)

        s.a._call = tamper
        with pytest.raises(SecurityError, match="pass 3 refused"):
            s.a.open()
        s.a._call = real
        # the association is gone: ciphered requests are refused
        with pytest.raises(ExceptionResponse) as e:
            s.a.get(3, IMPORT_T1, 2)
        assert e.value.service_error == 1  # operation not possible
    still_serving(meter)


@pytest.mark.parametrize(
    "keys",
    [
        Keys(SYSTEM_TITLE, bytes(16), AK, CLIENT_TITLE),  # wrong encryption key
        Keys(SYSTEM_TITLE, EK, bytes(16), CLIENT_TITLE),  # wrong authentication key
    ],
    ids=["ek", "ak"],
)
def test_wrong_key_is_rejected(meter, keys):
    with Session(meter, keys=keys) as s:
        with pytest.raises(AssociationRejected) as e:
            s.a.open()
        assert (e.value.result, e.value.diagnostic) == (1, 13)  # authentication failure
    still_serving(meter)


def test_unknown_client_title_is_rejected(meter):
    keys = Keys(SYSTEM_TITLE, EK, AK, b"EVIL\x00\x00\x00\x01")
    with Session(meter, keys=keys) as s:
        with pytest.raises(AssociationRejected) as e:
            s.a.open()
        assert e.value.diagnostic == 3  # calling AP title not recognised
    still_serving(meter)


def test_public_client_may_not_read_the_profile(meter):
    with Session(meter, sap=16) as s:
        s.a.open()
        assert s.a.get_value(8, CLOCK, 2)
        for class_id, obis, attr, sel, params in (
            (7, PROFILE, 2, 2, axdr.entry_descriptor(1, 0)),
            (7, PROFILE, 2, 0, b""),
            (3, IMPORT_T1, 2, 0, b""),
            (1, bytes((0, 0, 96, 1, 0, 255)), 2, 0, b""),
        ):
            with pytest.raises(DataAccessError) as e:
                s.a.get(class_id, obis, attr, sel, params)
            assert e.value.code == 3  # read-write-denied
        with pytest.raises(DataAccessError) as e:
            s.a.get(70, bytes((0, 0, 96, 3, 10, 255)), 2)  # no disconnect control exists
        assert e.value.code == 4  # object-undefined
        # ciphered APDUs mean nothing in a public association
        assert (
            exchange(s, b"\xdb\x08" + CLIENT_TITLE + b"\x05\x30\x00\x00\x00\x09")
            == b"\xd8\x01\x01"
        )
    still_serving(meter)


def test_public_client_cannot_use_management_rights(meter):
    """SAP 16 asking for HLS, and SAP 1 asking for no security, are both refused."""
    with Session(meter, sap=16) as s:
        s.a.keys = KEYS
        s.a.counters = meter.counters
        with pytest.raises(AssociationRejected) as e:
            s.a.open()
        assert e.value.diagnostic == 2  # application context (ciphered) not supported
    with Session(meter) as s:
        s.a.keys = None
        with pytest.raises(AssociationRejected) as e:
            s.a.open()
        assert e.value.diagnostic == 2
    still_serving(meter)


def test_unprotected_request_in_a_management_association(meter):
    with Session(meter) as s:
        s.a.open()
        assert exchange(s, GET_CLOCK) == b"\xd8\x01\x01"  # service not allowed
        # GET-with-list is offered (multiple-references), ciphered like any request
        answer = s.a._call(b"\xc0\x03\xc1\x01" + GET_CLOCK[3:])
        assert answer[:6] == b"\xc4\x03\xc1\x01\x00\x09" and len(answer) == 6 + 13
        with pytest.raises(ExceptionResponse) as e:  # SET with data blocks: not offered
            s.a._call(b"\xc1\x02\xc1\x00\x08" + CLOCK + b"\x02\x00\x01\x00\x00\x00\x01\x00")
        assert (e.value.state_error, e.value.service_error) == (2, 2)
        assert s.a.get_value(8, CLOCK, 2)
    still_serving(meter)


def test_no_request_before_association(meter):
    with Session(meter) as s:
        assert exchange(s, GET_CLOCK) == b"\xd8\x01\x01"
    still_serving(meter)
