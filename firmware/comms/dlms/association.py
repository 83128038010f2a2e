# meterkast: the P3 server's associations: AARQ/AARE for the public and the management client,
# HLS-GMAC pass 3/4 (ACTION on the association object), RLRQ/RLRE, and the ACTION that rotates
# the management or the P1 keys (global_key_transfer on the security setups 0.0.43.0.0/1.255)
# MIT license
#
# Mixed into comms.dlms.server.DlmsServer. The management client must present the ciphered
# context, mechanism 5, its configured system title, a challenge of 8..64 bytes and a
# glo-initiateRequest that deciphers with a fresh counter; then the association is pending
# until pass 3 proves the client holds the keys (pass 4 proves the same of the meter). Keys
# transferred in an association take effect when the next AARQ comes (Security.begin).
import os

from micropython import const

from comms.dlms import acse, axdr, cosem
from comms.crypto.counter import CounterExhausted
from comms.dlms.get import (
    ACTION_RESPONSE,
    ASSOCIATED,
    DATA,
    HEAD,
    MAX_PDU,
    NON_ASSOCIATED,
    PENDING,
)

PUBLIC_SAP = const(16)
MANAGEMENT_SAP = const(1)
_ASSOCIATION_INDEX = const(2)  # cosem.OBJECTS row of 0.0.40.0.0.255
_SECURITY_SETUP_INDEX = const(18)  # cosem.OBJECTS row of 0.0.43.0.0.255
_P1_SECURITY_SETUP_INDEX = const(19)  # and of 0.0.43.0.1.255, the P1 keys'
_GLOBAL_KEY_TRANSFER = const(2)
_KEY_EK = const(0)  # global_key_transfer key_id: global unicast encryption key
_KEY_AK = const(2)  # authentication key
_KEY_KEK = const(3)  # master key


class AssociationService:
    def _action(self, r, iid):
        cls = r.u16()
        r.need(6)
        ln = r.pos
        r.pos += 6
        method = r.u8()
        has_params = r.u8()
        index = cosem.find(cls, r.buf, ln)
        if index == -1:
            return self._short_result(ACTION_RESPONSE, iid, cosem.OBJECT_UNDEFINED, False)
        if index < -1:
            return self._short_result(ACTION_RESPONSE, iid, cosem.OBJECT_CLASS_INCONSISTENT, False)
        p1 = index == _P1_SECURITY_SETUP_INDEX
        if (index == _SECURITY_SETUP_INDEX or p1) and method == _GLOBAL_KEY_TRANSFER:
            result = cosem.READ_WRITE_DENIED
            if (self.state == ASSOCIATED and has_params
                    and self.objects.method_access(index, method, self.management)):
                result = self._key_transfer(r, p1)
            return self._short_result(ACTION_RESPONSE, iid, result, False)
        if index != _ASSOCIATION_INDEX or method != 1:
            return self._short_result(ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        sec = self.security
        if self.state != PENDING or not self.management or not has_params:
            return self._short_result(ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        p = r.octets()
        if not sec.check_client_hls(r.buf, p, r.n, self._stoc):
            self.state = NON_ASSOCIATED  # the client does not hold the keys
            if self.objects.events is not None:
                self.objects.events.refused(acse.DIAG_AUTHENTICATION_FAILURE, 0)
            return self._short_result(ACTION_RESPONSE, iid, cosem.READ_WRITE_DENIED, False)
        self.state = ASSOCIATED
        pt = self._pt
        s = DATA
        pt[s] = ACTION_RESPONSE
        pt[s + 1] = 1
        pt[s + 2] = iid
        pt[s + 3] = 0  # success
        pt[s + 4] = 1  # return parameters present
        pt[s + 5] = 0  # Get-Data-Result: data
        pt[s + 6] = axdr.OCTET_STRING
        pt[s + 7] = 17
        end = sec.server_hls(self._ctos[0 : self._ctos_len], pt, s + 8)
        return self._reply(s, end)

    def _key_transfer(self, r, p1):
        """global_key_transfer: array of {key_id enum, key_wrapped octet-string (RFC 3394 with
        the master key)}; the encryption (0), authentication (2) and master (3) keys, each at
        most once; for the P1 port (p1) its encryption and authentication keys, wrapped with the
        management master key. All unwrap and are persisted, or none is taken. An
        action-result."""
        from comms.crypto.keywrap import unwrap  # loaded only when keys are rotated

        sec = self.security
        kek = sec.wrapping_key()
        keys = [None, None, None, None]
        try:
            r.expect(axdr.ARRAY)
            n = r.length()
            if not 1 <= n <= 3:
                return cosem.OTHER_REASON
            for _ in range(n):
                r.expect(axdr.STRUCTURE)
                if r.length() != 2:
                    return cosem.TYPE_UNMATCHED
                r.expect(axdr.ENUM)
                key_id = r.u8()
                p = r.octets(24)
                if (key_id not in (_KEY_EK, _KEY_AK, _KEY_KEK) or keys[key_id] is not None
                        or (p1 and key_id == _KEY_KEK)):
                    return cosem.OTHER_REASON  # no broadcast key, no P1 master key; each once
                key = bytearray(16)
                if not unwrap(kek, r.buf[p : p + 24], key):
                    return cosem.OTHER_REASON  # not wrapped with our master key, or altered
                keys[key_id] = bytes(key)
        except ValueError:  # AxdrError: not the parameter's type, or cut short
            return cosem.TYPE_UNMATCHED
        try:
            if p1:
                self.objects.p1.transfer(keys[_KEY_EK], keys[_KEY_AK])
            else:
                sec.transfer(keys[_KEY_EK], keys[_KEY_AK], keys[_KEY_KEK])
        except OSError:
            return cosem.HARDWARE_FAULT  # not on flash: the keys in force stay
        if self.objects.events is not None:
            self.objects.events.keys_changed()
        return cosem.SUCCESS

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
        self.conformance = ini.conformance & acse.PUBLIC_CONFORMANCE
        self.client_max_pdu = ini.max_pdu
        n = acse.put_initiate_response(self._ui, 0, self.conformance, MAX_PDU)
        w = self._aare
        o = w.begin(self._pt, HEAD, acse.CONTEXT_LN)
        o = w.result(o, acse.ACCEPTED, acse.DIAG_NULL)
        o = w.user_information(o, self._ui, n)
        self.state = ASSOCIATED
        return self._reply(w.finish(o), o)

    def _associate_management(self, buf):
        a = self._aarq
        sec = self.security
        ctx = acse.CONTEXT_LN_CIPHERED
        if sec is None:  # no management keys: the ciphered context is not offered
            return self._aare_reject(ctx, acse.DIAG_CONTEXT_NOT_SUPPORTED, -1)
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
        sec.begin()  # keys transferred during an earlier association come into force
        r = self._r.reset(buf, a.user_info + 1, a.user_info + a.user_info_len)
        length = r.length()
        if length != r.remaining():
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        m = sec.open(buf, r.pos, length, self._rq)
        if m < 0:
            # wrong keys, altered, or a counter not above the last accepted one (a replay, or
            # a head-end behind: it reads 0.0.43.1.1.255 and goes on above): the client is told
            # authentication failed, the report says which (refuse_detail: -1 tag, -2 counter)
            self.refused += 1
            self.refuse_detail = m
            return self._aare_reject(ctx, acse.DIAG_AUTHENTICATION_FAILURE, -1)
        ini = self._initiate
        try:
            err = ini.parse(self._r.reset(self._rq, 0, m))
        except ValueError:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, -1)
        if err:
            return self._aare_reject(ctx, acse.DIAG_NO_REASON, err)
        offer = acse.MANAGEMENT_CONFORMANCE
        if self.objects.set_clock is not None:
            offer |= acse.SET
        self.conformance = ini.conformance & offer
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
        o = w.begin(self._pt, HEAD, ctx)
        o = w.result(o, acse.ACCEPTED, acse.DIAG_AUTHENTICATION_REQUIRED)
        o = w.responding_title(o, sec.title)
        o = w.mechanism(o, acse.MECHANISM_HLS_GMAC, self._stoc)
        o = w.user_information(o, ct, end)
        self.state = PENDING
        self.management = True
        return self._reply(w.finish(o), o)

    def _aare_reject(self, context, diagnostic, initiate_error):
        if self.on_refuse is not None:
            self.on_refuse(self.client_sap, diagnostic, initiate_error, self.refuse_detail)
        self.refuse_detail = 0
        self._reset()
        w = self._aare
        o = w.begin(self._pt, HEAD, context)
        o = w.result(o, acse.REJECTED_PERMANENT, diagnostic)
        if initiate_error >= 0:
            n = acse.put_initiate_error(self._ui, 0, initiate_error)
            o = w.user_information(o, self._ui, n)
        return self._reply(w.finish(o), o)

    def _release(self, buf, start, n):
        ui, ui_len = acse.parse_release(self._r.reset(buf, start, start + n))
        sec = self.security
        if (
            self.management
            and sec is not None
            and ui >= 0
            and ui_len > 2
            and buf[ui] == acse.GLO_INITIATE_REQUEST
        ):
            r = self._r.reset(buf, ui + 1, ui + ui_len)
            length = r.length()
            if length == r.remaining():
                sec.open(buf, r.pos, length, self._rq)  # consumes the client's counter
        self._reset()
        end = acse.put_release_response(self._pt, HEAD)
        return self._reply(HEAD, end)
