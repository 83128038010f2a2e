# meterkast: the DLMS/COSEM server of the P3 (grid operator) port: associations, ciphering,
# GET / GET-next / ACTION, and the error answers for everything else
# MIT license
#
# Wiring (what the meter builds at boot; see comms.secure):
#
#   server = DlmsServer(clock, readings, profile, identity, keys, storage)
#   port = P3Port(uart, server, clock)          # comms.p3; asyncio.create_task(port.run())
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
#
# Clients (by HDLC client SAP):
#   16  public: LN context without ciphering, no authentication; clock, logical device name,
#       association and invocation-counter objects only (comms.cosem has the table)
#   1   management: LN context with ciphering, HLS-GMAC (mechanism 5), every APDU SC 0x30,
#       general-glo-ciphering (0xDB) or service-specific (0xC8/0xC9/0xCB, answered with
#       0xCC/0xCD/0xCF), in the form of the request
#
# Refusals are DLMS answers, never a dropped link: AARE rejected with an ACSE diagnostic,
# data-access-result in GET/ACTION responses, exception-response for APDUs that cannot be
# deciphered (5), replayed counters (6) or services not offered.
import os

from micropython import const

from comms import acse, axdr, cosem
from comms.counter import CounterExhausted
from comms.profile_buffer import ProfileBuffer

MAX_PDU = const(1024)  # our max receive PDU, and the largest response we build
PUBLIC_SAP = const(16)
MANAGEMENT_SAP = const(1)

NON_ASSOCIATED = const(0)
PENDING = const(1)  # AARE sent, waiting for HLS pass 3
ASSOCIATED = const(2)

_HEAD = const(16)  # room in front of an APDU: LLC (3) + DB 08 <title> <length 3>
_BLOCK_HEADER = const(12)  # C4 02 iid last <block 4> 00 <length up to 3>
_DATA = const(28)  # offset of attribute data in the plaintext buffer (_HEAD + _BLOCK_HEADER)
_CIPHER_OVERHEAD = const(30)  # general-glo-ciphering header, SC, IC and tag

_GET_REQUEST = const(0xC0)
_SET_REQUEST = const(0xC1)
_ACTION_REQUEST = const(0xC3)
_GET_RESPONSE = const(0xC4)
_SET_RESPONSE = const(0xC5)
_ACTION_RESPONSE = const(0xC7)
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

_SRC_VALUE = const(0)
_SRC_PROFILE = const(1)
_ASSOCIATION_INDEX = const(2)  # cosem.OBJECTS row of 0.0.40.0.0.255
_PROFILE_INDEX = const(13)


class DlmsServer:
    def __init__(self, clock, readings, profile, identity, keys, storage):
        self.clock = clock
        self.dt = axdr.DateTimeCodec()
        self.objects = cosem.ObjectModel(clock, readings, profile, identity, self.dt)
        self.objects.association = self
        self.buffer = ProfileBuffer(profile, self.dt)
        self.security = None
        if keys is not None and storage is not None:
            from comms.dlms_security import Security

            self.security = Security(keys, storage)
        self.objects.server_ic = self._server_ic
        self.objects.client_ic = self._client_ic
        self._pt = bytearray(_HEAD + MAX_PDU)  # plaintext responses
        self._ptmv = memoryview(self._pt)
        self._ct = bytearray(_HEAD + MAX_PDU + 8)  # ciphered responses
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
        self.out_start = _HEAD
        self.client_sap = 0
        self.state = NON_ASSOCIATED
        self.management = False
        self.client_max_pdu = 0
        self.conformance = 0
        self._form = 0  # protection of the request being answered: 0 plain, or its tag
        self._block = 0  # number of the last block sent in a long GET, 0 = none
        self._src = _SRC_VALUE
        self._val_pos = 0
        self._val_end = 0
        self.refused = 0  # ciphered APDUs refused (deciphering or counter errors)

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
        if tag == _GENERAL_GLO or tag == _GLO_GET_REQUEST or tag == _GLO_SET_REQUEST or \
                tag == _GLO_ACTION_REQUEST:
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
            return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)  # with-list
        if tag == _ACTION_REQUEST and kind == 1:
            return self._action(r, iid)
        if tag == _SET_REQUEST and kind == 1:
            return self._short_result(_SET_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        return self._exception(_SERVICE_UNKNOWN, _SERVICE_NOT_SUPPORTED)

    # ---- GET --------------------------------------------------------------------------------

    def _get_normal(self, r, iid):
        cls = r.u16()
        r.need(6)
        ln = r.pos
        r.pos += 6
        attr = r.u8()
        selector = r.u8()  # access-selection present?
        if selector:
            selector = r.u8()
        self._block = 0  # a new GET abandons any long GET in progress
        index = cosem.find(cls, r.buf, ln)
        if index == -1:
            dar = cosem.OBJECT_UNDEFINED
        elif index < -1:
            dar = cosem.OBJECT_CLASS_INCONSISTENT
        elif self.state != ASSOCIATED:
            dar = cosem.READ_WRITE_DENIED
        else:
            dar = self.objects.check(index, attr, self.management)
        if not dar:
            if index == _PROFILE_INDEX and attr == 2:
                dar = self.buffer.select(r, selector)
                self._src = _SRC_PROFILE
            elif selector:
                dar = cosem.OTHER_REASON  # selective access is for the profile buffer only
            else:
                end = self.objects.encode(index, attr, self._val, 0)
                if end < 0:
                    dar = -end
                self._src = _SRC_VALUE
                self._val_pos = 0
                self._val_end = end
        if dar:
            return self._short_result(_GET_RESPONSE, iid, dar, True)
        end = self._fill(_DATA, _DATA + self._block_capacity())
        if self._src == _SRC_PROFILE and self.buffer.failed:
            return self._short_result(_GET_RESPONSE, iid, cosem.LONG_GET_ABORTED, True)
        if self._source_done():
            pt = self._pt
            s = _DATA - 4
            pt[s] = _GET_RESPONSE
            pt[s + 1] = 1
            pt[s + 2] = iid
            pt[s + 3] = 0  # Get-Data-Result: data
            return self._reply(s, end)
        self._block = 1
        return self._block_reply(iid, 1, end, False)

    def _get_next(self, r, iid):
        number = r.u32()
        if not self._block:
            return self._block_error(iid, number, cosem.NO_LONG_GET_IN_PROGRESS)
        if number != self._block or self.state != ASSOCIATED:
            self._block = 0
            return self._block_error(iid, number, cosem.DATA_BLOCK_NUMBER_INVALID)
        end = self._fill(_DATA, _DATA + self._block_capacity())
        number += 1
        if self._src == _SRC_PROFILE and self.buffer.failed:
            self._block = 0
            return self._block_error(iid, number, cosem.LONG_GET_ABORTED)
        last = self._source_done()
        self._block = 0 if last else number
        return self._block_reply(iid, number, end, last)

    def _block_capacity(self):
        pdu = self.client_max_pdu if self.client_max_pdu < MAX_PDU else MAX_PDU
        overhead = _BLOCK_HEADER + (_CIPHER_OVERHEAD if self._form else 0)
        return pdu - overhead

    def _fill(self, o, end):
        if self._src == _SRC_PROFILE:
            return self.buffer.fill(self._pt, o, end)
        k = self._val_end - self._val_pos
        if k > end - o:
            k = end - o
        self._ptmv[o : o + k] = self._valmv[self._val_pos : self._val_pos + k]
        self._val_pos += k
        return o + k

    def _source_done(self):
        if self._src == _SRC_PROFILE:
            return self.buffer.done
        return self._val_pos == self._val_end

    def _block_reply(self, iid, number, end, last):
        """GET-response-with-datablock around the raw data at _pt[_DATA:end]."""
        n = end - _DATA
        s = _DATA - 9 - axdr.len_size(n)
        pt = self._pt
        pt[s] = _GET_RESPONSE
        pt[s + 1] = 2
        pt[s + 2] = iid
        pt[s + 3] = 1 if last else 0
        axdr.put_u32(pt, s + 4, number)
        pt[s + 8] = 0  # raw-data
        axdr.put_len(pt, s + 9, n)
        return self._reply(s, end)

    def _block_error(self, iid, number, dar):
        pt = self._pt
        s = _DATA
        pt[s] = _GET_RESPONSE
        pt[s + 1] = 2
        pt[s + 2] = iid
        pt[s + 3] = 1  # last block
        axdr.put_u32(pt, s + 4, number)
        pt[s + 8] = 1  # data-access-result
        pt[s + 9] = dar
        return self._reply(s, s + 10)

    def _short_result(self, tag, iid, result, with_choice):
        """GET/SET/ACTION-response-normal carrying only a result code."""
        pt = self._pt
        s = _DATA
        pt[s] = tag
        pt[s + 1] = 1
        pt[s + 2] = iid
        if with_choice:  # GET: Get-Data-Result CHOICE data-access-result
            pt[s + 3] = 1
            pt[s + 4] = result
            return self._reply(s, s + 5)
        pt[s + 3] = result
        if tag == _ACTION_RESPONSE:
            pt[s + 4] = 0  # no return parameters
            return self._reply(s, s + 5)
        return self._reply(s, s + 4)

    # ---- ACTION (HLS pass 3/4 only) -----------------------------------------------------------

    def _action(self, r, iid):
        cls = r.u16()
        r.need(6)
        ln = r.pos
        r.pos += 6
        method = r.u8()
        has_params = r.u8()
        index = cosem.find(cls, r.buf, ln)
        if index == -1:
            return self._short_result(_ACTION_RESPONSE, iid, cosem.OBJECT_UNDEFINED, False)
        if index < -1:
            return self._short_result(_ACTION_RESPONSE, iid, cosem.OBJECT_CLASS_INCONSISTENT, False)
        if index != _ASSOCIATION_INDEX or method != 1:
            return self._short_result(_ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        sec = self.security
        if self.state != PENDING or not self.management or not has_params:
            return self._short_result(_ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        p = r.octets()
        if not sec.check_client_hls(r.buf, p, r.n, self._stoc):
            self.state = NON_ASSOCIATED  # the client does not hold the keys
            return self._short_result(_ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        self.state = ASSOCIATED
        pt = self._pt
        s = _DATA
        pt[s] = _ACTION_RESPONSE
        pt[s + 1] = 1
        pt[s + 2] = iid
        pt[s + 3] = 0  # success
        pt[s + 4] = 1  # return parameters present
        pt[s + 5] = 0  # Get-Data-Result: data
        pt[s + 6] = axdr.OCTET_STRING
        pt[s + 7] = 17
        end = sec.server_hls(self._ctos[0 : self._ctos_len], pt, s + 8)
        return self._reply(s, end)

    # ---- association ------------------------------------------------------------------------

    def _associate(self, client_sap, buf, start, n):
        self._reset()
        a = self._aarq
        try:
            a.parse(self._r.reset(buf, start, start + n))
        except ValueError:
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_NO_REASON, -1)
        if client_sap == PUBLIC_SAP:
            return self._associate_public(buf)
        if client_sap == MANAGEMENT_SAP:
            return self._associate_management(buf)
        return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_NO_REASON, -1)

    def _associate_public(self, buf):
        a = self._aarq
        if a.context != acse.CONTEXT_LN:
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_CONTEXT_NOT_SUPPORTED, -1)
        if a.mechanism != acse.MECHANISM_NONE:
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_MECHANISM_NOT_RECOGNISED, -1)
        if a.user_info < 0 or a.user_info_len < 1 or buf[a.user_info] != acse.INITIATE_REQUEST:
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_NO_REASON, -1)
        ini = self._initiate
        err = ini.parse(self._r.reset(buf, a.user_info, a.user_info + a.user_info_len))
        if err:
            return self._aare_reject(acse.CONTEXT_LN, acse.DIAG_NO_REASON, err)
        self.conformance = ini.conformance & acse.SERVER_CONFORMANCE & ~acse.GENERAL_PROTECTION
        self.client_max_pdu = ini.max_pdu
        n = acse.put_initiate_response(self._ui, 0, self.conformance, MAX_PDU)
        w = self._aare
        o = w.begin(self._pt, _HEAD, acse.CONTEXT_LN)
        o = w.result(o, acse.ACCEPTED, acse.DIAG_NULL)
        o = w.user_information(o, self._ui, n)
        self.state = ASSOCIATED
        return self._reply(w.finish(o), o)

    def _associate_management(self, buf):
        a = self._aarq
        sec = self.security
        ctx = acse.CONTEXT_LN_CIPHERED
        if sec is None:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        if a.context != ctx:
            return self._aare_reject(ctx, acse.DIAG_CONTEXT_NOT_SUPPORTED, -1)
        if a.mechanism == acse.MECHANISM_NONE:
            return self._aare_reject(ctx, acse.DIAG_MECHANISM_REQUIRED, -1)
        if a.mechanism != acse.MECHANISM_HLS_GMAC:
            return self._aare_reject(ctx, acse.DIAG_MECHANISM_NOT_RECOGNISED, -1)
        if a.title_len != 8 or bytes(buf[a.title : a.title + 8]) != sec.client_title:
            return self._aare_reject(ctx, acse.DIAG_CALLING_TITLE_NOT_RECOGNISED, -1)
        if not 8 <= a.auth_len <= 64:
            return self._aare_reject(ctx, acse.DIAG_AUTHENTICATION_FAILURE, -1)
        if a.user_info < 0 or a.user_info_len < 2 or buf[a.user_info] != acse.GLO_INITIATE_REQUEST:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        r = self._r.reset(buf, a.user_info + 1, a.user_info + a.user_info_len)
        length = r.length()
        if length != r.remaining():
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        m = sec.open(buf, r.pos, length, self._rq)
        if m < 0:
            # wrong keys, altered, or a replayed counter: the client cannot be told which
            self.refused += 1
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        ini = self._initiate
        try:
            err = ini.parse(self._r.reset(self._rq, 0, m))
        except ValueError:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        if err:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, err)
        self.conformance = ini.conformance & acse.SERVER_CONFORMANCE
        self.client_max_pdu = ini.max_pdu
        self._ctos[0 : a.auth_len] = buf[a.auth_value : a.auth_value + a.auth_len]
        self._ctos_len = a.auth_len
        self._stoc[:] = os.urandom(16)
        n = acse.put_initiate_response(self._ui, 0, self.conformance, MAX_PDU)
        ct = self._ctmv  # scratch for the ciphered InitiateResponse: 28 <len> SC IC ct tag
        try:
            end = sec.seal(self._uimv[0:n], n, ct, 2)
        except CounterExhausted:  # this key may not protect anything more
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        ct[0] = acse.GLO_INITIATE_RESPONSE
        ct[1] = end - 2
        w = self._aare
        o = w.begin(self._pt, _HEAD, ctx)
        o = w.result(o, acse.ACCEPTED, acse.DIAG_AUTHENTICATION_REQUIRED)
        o = w.responding_title(o, sec.title)
        o = w.mechanism(o, acse.MECHANISM_HLS_GMAC, self._stoc)
        o = w.user_information(o, ct, end)
        self.state = PENDING
        self.management = True
        return self._reply(w.finish(o), o)

    def _aare_reject(self, context, diagnostic, initiate_error):
        self._reset()
        w = self._aare
        o = w.begin(self._pt, _HEAD, context)
        o = w.result(o, acse.REJECTED_PERMANENT, diagnostic)
        if initiate_error >= 0:
            n = acse.put_initiate_error(self._ui, 0, initiate_error)
            o = w.user_information(o, self._ui, n)
        return self._reply(w.finish(o), o)

    def _release(self, buf, start, n):
        ui, ui_len = acse.parse_release(self._r.reset(buf, start, start + n))
        sec = self.security
        if self.management and sec is not None and ui >= 0 and ui_len > 2 and \
                buf[ui] == acse.GLO_INITIATE_REQUEST:
            r = self._r.reset(buf, ui + 1, ui + ui_len)
            length = r.length()
            if length == r.remaining():
                sec.open(buf, r.pos, length, self._rq)  # consumes the client's counter
        self._reset()
        end = acse.put_release_response(self._pt, _HEAD)
        return self._reply(_HEAD, end)

    # ---- output -----------------------------------------------------------------------------

    def _exception(self, state_error, service_error):
        pt = self._pt
        s = _DATA
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
            e = sec.seal(self._ptmv[s:end], end - s, ct, _HEAD)
        except CounterExhausted:  # nothing more may be protected with this key
            self._reset()
            return self._exception(_SERVICE_NOT_ALLOWED, _OTHER_REASON)
        n = e - _HEAD
        if form == _GENERAL_GLO:
            h = 10 + axdr.len_size(n)
            o = _HEAD - h
            ct[o] = _GENERAL_GLO
            ct[o + 1] = 8
            ct[o + 2 : o + 10] = sec.title
            axdr.put_len(ct, o + 10, n)
        else:
            h = 1 + axdr.len_size(n)
            o = _HEAD - h
            ct[o] = form + 4  # C8 -> CC, C9 -> CD, CB -> CF
            axdr.put_len(ct, o + 1, n)
        self.out = self._ct
        self.outmv = self._ctmv
        self.out_start = o
        return e - o
