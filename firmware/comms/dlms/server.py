# meterkast: the DLMS/COSEM server of the P3 (grid operator) port: associations, ciphering,
# GET / GET-next / ACTION, and the error answers for everything else
# MIT license
#
# Wiring (what the meter builds at boot; see comms.secure):
#
#   server = DlmsServer(clock, readings, profile, identity, keys, storage)
#   server.offer_clock(set_clock)               # only a meter that can move its RTC
#   port = P3Port(uart, server, clock)          # comms.dlms.p3; asyncio.create_task(port.run())
#
#   clock     HAL clock: utc() meter-epoch seconds
#   readings  contract.reading.ReadingQueue (registers come from its newest reading)
#   profile   the quarter-hour profile (entries_in_use(), capacity, read(i, out)) or None
#   identity  {"equipment_id": str, "logical_device_name": str}
#   keys      the management key set {"system_title": 8 bytes, "ek": 16, "ak": 16,
#             "client_system_title": 8} or None (then only the public client is served)
#   storage   directory for the invocation-counter files (ic_mgmt, ic_rx_<client title>);
#             None also leaves management off, since a counter that restarts from 1 after a
#             reboot would reuse GCM nonces
#   events    comms.events.EventLog (keyword; the standard and power-failure event logs the
#             management client reads), or None: both logs are served empty
#
# Clients (by HDLC client SAP):
#   16  public: LN context without ciphering, no authentication; clock, logical device name,
#       the invocation-counter objects and its association object, read only (comms.dlms.cosem
#       has the access rights; the association's object list shows them)
#   1   management: LN context with ciphering, HLS-GMAC (mechanism 5), every APDU SC 0x30,
#       general-glo-ciphering (0xDB) or service-specific (0xC8/0xC9/0xCB, answered with
#       0xCC/0xCD/0xCF), in the form of the request
#
# Services: GET (normal, with-list, with data blocks), SET-normal (the clock, management client
# only, when the meter can move its RTC: set_clock), ACTION (HLS pass 3; global_key_transfer of
# the security setup, management client only, when the keys file holds a master key). The AARE
# offers each client what it can use (comms.dlms.acse conformance blocks).
#
# Refusals are DLMS answers, never a dropped link: AARE rejected with an ACSE diagnostic,
# data-access-result in GET/ACTION responses, exception-response for APDUs that cannot be
# deciphered (5), replayed counters (6) or services not offered.
from array import array

from micropython import const

from comms.dlms import acse, axdr, cosem
from comms.crypto.counter import CounterExhausted
from comms.dlms.association import AssociationService
from comms.dlms.get import (
    ASSOCIATED,
    DATA,
    HEAD,
    MAX_LIST,
    MAX_PDU,
    NON_ASSOCIATED,
    SET_RESPONSE,
    GetService,
)
from comms.dlms.object_list import ObjectList
from comms.dlms.profile_buffer import SELECTION, ProfileBuffer

_GET_REQUEST = const(0xC0)
_SET_REQUEST = const(0xC1)
_ACTION_REQUEST = const(0xC3)
_GLO_GET_REQUEST = const(0xC8)
_GLO_SET_REQUEST = const(0xC9)
_GLO_ACTION_REQUEST = const(0xCB)
_GENERAL_GLO = const(0xDB)
_EXCEPTION = const(0xD8)

# exception-response: state-error, service-error
_SERVICE_NOT_ALLOWED = const(1)
_SERVICE_UNKNOWN = const(2)
_OPERATION_NOT_POSSIBLE = const(1)
_SERVICE_NOT_SUPPORTED = const(2)
_OTHER_REASON = const(3)
_PDU_TOO_LONG = const(4)
_DECIPHERING_ERROR = const(5)
_INVOCATION_COUNTER_ERROR = const(6)


class DlmsServer(AssociationService, GetService):
    def __init__(self, clock, readings, profile, identity, keys, storage, floor=0, on_reserve=None,
                 security=None, events=None):
        self.clock = clock
        self.dt = axdr.DateTimeCodec()
        self.objects = cosem.ObjectModel(clock, readings, profile, identity, self.dt)
        self.objects.events = events
        self.objects.association = self
        self.buffer = ProfileBuffer(profile, self.dt)
        self.object_list = ObjectList(self.objects)
        self.security = security  # or built here from keys (comms.dlms.security.Security)
        if security is None and keys is not None and storage is not None:
            from comms.dlms.security import Security

            self.security = Security(keys, storage, floor, on_reserve)
        self.objects.server_ic = self._server_ic
        self.objects.client_ic = self._client_ic
        self._pt = bytearray(HEAD + MAX_PDU)  # plaintext responses
        self._ptmv = memoryview(self._pt)
        self._ct = bytearray(HEAD + MAX_PDU + 8)  # ciphered responses
        self._ctmv = memoryview(self._ct)
        self._rq = bytearray(MAX_PDU)  # deciphered requests
        self._rqmv = memoryview(self._rq)
        self._val = bytearray(192)  # one encoded attribute value (all but the profile buffer)
        self._valmv = memoryview(self._val)
        self._ui = bytearray(48)  # InitiateResponse, plain then ciphered
        self._uimv = memoryview(self._ui)
        self._stoc = bytearray(16)
        self._ctos = bytearray(64)
        self._ctos_len = 0
        self._r = axdr.Reader()
        self._aarq = acse.Aarq()
        self._initiate = acse.Initiate()
        self._aare = acse.AareWriter()
        # the response handed to HDLC: out[out_start : out_start + n], 3 free bytes before
        self.out = self._pt
        self.outmv = self._ptmv
        self.out_start = HEAD
        self.client_sap = 0
        self.state = NON_ASSOCIATED
        self.management = False
        self.client_max_pdu = 0
        self.conformance = 0
        self._form = 0  # protection of the request being answered: 0 plain, or its tag
        self._block = 0  # number of the last block sent in a long GET, 0 = none
        # the GET response being sent (comms.dlms.get): its items, the current one's source
        self._items = bytearray(3 * MAX_LIST)
        self._sel = array("i", bytes(4 * SELECTION * MAX_LIST))  # profile selections by item
        self._selected = -1  # the item whose selection the buffer holds
        self._n_items = 0
        self._item = 0
        self._list = False
        self._head = bytearray(4)  # list count and result bytes still to be sent
        self._head_pos = 0
        self._head_len = 0
        self._src = 0
        self._stream = self.buffer
        self._failed = False
        self._val_pos = 0
        self._val_end = 0
        self.refused = 0  # ciphered APDUs refused (deciphering or counter errors)
        # Each refused association: on_refuse(client SAP, ACSE diagnostic, xDLMS initiate error
        # or -1, detail: -1 tag failed, -2 counter not above the last accepted, 0 otherwise)
        self.on_refuse = None
        self.refuse_detail = 0

    # ---- link events (from HDLC) -------------------------------------------------------------

    def link_up(self, client_sap):
        self._reset()
        self.client_sap = client_sap

    def link_down(self):
        self._reset()

    def _reset(self):
        self.state = NON_ASSOCIATED
        self.management = False
        self._block = 0
        self._form = 0

    def _server_ic(self):
        return self.security.server_counter() if self.security else 0

    def _client_ic(self):
        return self.security.client_counter() if self.security else 0

    def offer_clock(self, set_clock):
        """set_clock(t_utc) -> None or why not: how this meter moves its RTC (meter.Meter).
        Without it the clock is read only for everyone."""
        self.objects.set_clock = set_clock

    def max_receive_pdu(self):
        return MAX_PDU

    def max_send_pdu(self):
        """The largest APDU sent to this client: its max receive PDU, capped by our buffers."""
        pdu = self.client_max_pdu
        return pdu if 0 < pdu < MAX_PDU else MAX_PDU

    # ---- dispatch ---------------------------------------------------------------------------

    def request(self, client_sap, buf, start, n):
        """One complete APDU from the client; returns the response length (see hdlc)."""
        self._form = 0
        if n < 0:
            return self._exception(_SERVICE_NOT_ALLOWED, _PDU_TOO_LONG)
        if n == 0:
            return 0
        try:
            return self._dispatch(client_sap, buf, start, n)
        except (ValueError, IndexError):  # a malformed APDU (AxdrError, AcseError, short)
            self._form = 0
            self._block = 0
            return self._exception(_SERVICE_NOT_ALLOWED, _OTHER_REASON)

    def _dispatch(self, client_sap, buf, start, n):
        tag = buf[start]
        if tag == acse.AARQ:
            return self._associate(client_sap, buf, start, n)
        if tag == acse.RLRQ:
            return self._release(buf, start, n)
        if (
            tag == _GENERAL_GLO
            or tag == _GLO_GET_REQUEST
            or tag == _GLO_SET_REQUEST
            or tag == _GLO_ACTION_REQUEST
        ):
            return self._ciphered(tag, buf, start, n)
        if tag == _GET_REQUEST or tag == _SET_REQUEST or tag == _ACTION_REQUEST:
            if self.state == NON_ASSOCIATED or self.management:
                # no association, or an unprotected APDU where protection is required
                return self._exception(_SERVICE_NOT_ALLOWED, _OPERATION_NOT_POSSIBLE)
            return self._service(buf, start, n)
        return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)

    def _ciphered(self, tag, buf, start, n):
        sec = self.security
        if sec is None or not self.management or self.state == NON_ASSOCIATED:
            return self._exception(_SERVICE_NOT_ALLOWED, _OPERATION_NOT_POSSIBLE)
        r = self._r.reset(buf, start + 1, start + n)
        if tag == _GENERAL_GLO:
            if r.length() != 8:
                return self._refuse(_DECIPHERING_ERROR)
            r.need(8)
            t = sec.client_title
            for i in range(8):
                if buf[r.pos + i] != t[i]:
                    return self._refuse(_DECIPHERING_ERROR)
            r.pos += 8
        length = r.length()
        if length != r.remaining():
            return self._refuse(_DECIPHERING_ERROR)
        m = sec.open(buf, r.pos, length, self._rq)
        if m < 0:
            return self._refuse(_INVOCATION_COUNTER_ERROR if m == -2 else _DECIPHERING_ERROR)
        inner = self._rq[0] if m else 0
        if tag != _GENERAL_GLO and inner != tag - 8:  # C8 holds C0, C9 C1, CB C3
            return self._refuse(_DECIPHERING_ERROR)
        self._form = tag
        if inner != _GET_REQUEST and inner != _SET_REQUEST and inner != _ACTION_REQUEST:
            return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)
        return self._service(self._rqmv, 0, m)

    def _refuse(self, service_error):
        self.refused += 1
        self._form = 0  # cannot be protected: the request was not authentic
        return self._exception(_SERVICE_NOT_ALLOWED, service_error)

    def _service(self, buf, start, n):
        r = self._r.reset(buf, start, start + n)
        tag = r.u8()
        kind = r.u8()
        iid = r.u8()
        if tag == _GET_REQUEST:
            if kind == 1:
                return self._get_normal(r, iid)
            if kind == 2:
                return self._get_next(r, iid)
            if kind == 3:
                return self._get_list(r, iid)
            return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)
        if tag == _ACTION_REQUEST and kind == 1:
            return self._action(r, iid)
        if tag == _SET_REQUEST and kind == 1:
            return self._set_normal(r, iid)
        return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)  # SET with blocks

    def _set_normal(self, r, iid):
        cls = r.u16()
        r.need(6)
        ln = r.pos
        r.pos += 6
        attr = r.u8()
        index = cosem.find(cls, r.buf, ln)
        if r.u8():  # access-selection: no attribute is written selectively
            dar = cosem.OTHER_REASON
        elif index == -1:
            dar = cosem.OBJECT_UNDEFINED
        elif index < -1:
            dar = cosem.OBJECT_CLASS_INCONSISTENT
        elif self.state != ASSOCIATED:
            dar = cosem.READ_WRITE_DENIED
        else:
            dar = self.objects.write(index, attr, r, self.management)
        return self._short_result(SET_RESPONSE, iid, dar, False)

    # ---- output -----------------------------------------------------------------------------

    def _exception(self, state_error, service_error):
        pt = self._pt
        s = DATA
        pt[s] = _EXCEPTION
        pt[s + 1] = state_error
        pt[s + 2] = service_error
        if self._form != _GENERAL_GLO:
            self._form = 0  # C8/C9/CB answers can only carry their own response type
        return self._reply(s, s + 3)

    def _reply(self, s, end):
        """Hand pt[s:end] to HDLC, protected in the form of the request."""
        form = self._form
        if not form:
            self.out = self._pt
            self.outmv = self._ptmv
            self.out_start = s
            return end - s
        sec = self.security
        ct = self._ctmv
        try:
            e = sec.seal(self._ptmv[s:end], end - s, ct, HEAD)
        except CounterExhausted:  # nothing more may be protected with this key
            self._reset()
            return self._exception(_SERVICE_NOT_ALLOWED, _OTHER_REASON)
        n = e - HEAD
        if form == _GENERAL_GLO:
            h = 10 + axdr.len_size(n)
            o = HEAD - h
            ct[o] = _GENERAL_GLO
            ct[o + 1] = 8
            ct[o + 2 : o + 10] = sec.title
            axdr.put_len(ct, o + 10, n)
        else:
            h = 1 + axdr.len_size(n)
            o = HEAD - h
            ct[o] = form + 4  # C8 -> CC, C9 -> CD, CB -> CF
            axdr.put_len(ct, o + 1, n)
        self.out = self._ct
        self.outmv = self._ctmv
        self.out_start = o
        return e - o
