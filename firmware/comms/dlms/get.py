# meterkast: GET and GET-next of the P3 server: attribute values, long values in data blocks
# MIT license
#
# Mixed into comms.dlms.server.DlmsServer. A value is encoded at DATA in the plaintext buffer;
# the response header is written in front of it afterwards, so nothing is copied: a short value
# becomes GET-response-normal, a long one (the profile buffer) GET-response-with-datablock,
# its blocks sized to the client's max PDU less the ciphering overhead. GET-next carries the
# number of the last block the client received.
from micropython import const

from comms.dlms import axdr, cosem

MAX_PDU = const(1024)  # our max receive PDU, and the largest response we build
HEAD = const(16)  # room in front of an APDU: LLC (3) + DB 08 <title> <length 3>
DATA = const(28)  # offset of attribute data in the plaintext buffer (HEAD + block header)
NON_ASSOCIATED = const(0)
PENDING = const(1)  # AARE sent, waiting for HLS pass 3
ASSOCIATED = const(2)
GET_RESPONSE = const(0xC4)
SET_RESPONSE = const(0xC5)
ACTION_RESPONSE = const(0xC7)

_BLOCK_HEADER = const(12)  # C4 02 iid last <block 4> 00 <length up to 3>
_CIPHER_OVERHEAD = const(30)  # general-glo-ciphering header, SC, IC and tag
_SRC_VALUE = const(0)
_SRC_PROFILE = const(1)
_PROFILE_INDEX = const(13)  # cosem.OBJECTS row of 1.0.99.1.0.255


class GetService:
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
            return self._short_result(GET_RESPONSE, iid, dar, True)
        end = self._fill(DATA, DATA + self._block_capacity())
        if self._src == _SRC_PROFILE and self.buffer.failed:
            return self._short_result(GET_RESPONSE, iid, cosem.LONG_GET_ABORTED, True)
        if self._source_done():
            pt = self._pt
            s = DATA - 4
            pt[s] = GET_RESPONSE
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
        end = self._fill(DATA, DATA + self._block_capacity())
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
        """GET-response-with-datablock around the raw data at _pt[DATA:end]."""
        n = end - DATA
        s = DATA - 9 - axdr.len_size(n)
        pt = self._pt
        pt[s] = GET_RESPONSE
        pt[s + 1] = 2
        pt[s + 2] = iid
        pt[s + 3] = 1 if last else 0
        axdr.put_u32(pt, s + 4, number)
        pt[s + 8] = 0  # raw-data
        axdr.put_len(pt, s + 9, n)
        return self._reply(s, end)

    def _block_error(self, iid, number, dar):
        pt = self._pt
        s = DATA
        pt[s] = GET_RESPONSE
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
        s = DATA
        pt[s] = tag
        pt[s + 1] = 1
        pt[s + 2] = iid
        if with_choice:  # GET: Get-Data-Result CHOICE data-access-result
            pt[s + 3] = 1
            pt[s + 4] = result
            return self._reply(s, s + 5)
        pt[s + 3] = result
        if tag == ACTION_RESPONSE:
            pt[s + 4] = 0  # no return parameters
            return self._reply(s, s + 5)
        return self._reply(s, s + 4)
