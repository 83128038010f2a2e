# meterkast: GET and GET-next of the P3 server: attribute values, long values in data blocks
# MIT license
#
# Mixed into comms.dlms.server.DlmsServer. A response is encoded at DATA in the plaintext buffer
# and its header written in front of it afterwards, so nothing is copied: a short answer becomes
# GET-response-normal (or -with-list), a long one (the profile buffer, the object list, a long
# list) GET-response-with-datablock, its blocks sized to the client's max PDU less the
# ciphering overhead. GET-next carries the number of the last block the client received.
from micropython import const

from comms.dlms import axdr, cosem
from comms.dlms.profile_buffer import SELECTION

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
_SRC_DONE = const(0)
_SRC_VALUE = const(1)  # a value encoded in the server's _val
_SRC_STREAM = const(2)  # the profile buffer or the object list, encoded as it goes out
_ASSOCIATION_INDEX = const(2)  # cosem.OBJECTS row of 0.0.40.0.0.255
MAX_LIST = const(16)  # attributes in one GET-with-list (gurux sends at most 10)
_SERVICE_NOT_ALLOWED = const(1)  # exception-response state-error
_OTHER_REASON = const(3)  # exception-response service-error


class GetService:
    """The response being sent is a sequence of items (one for GET-normal, up to MAX_LIST for
    GET-with-list), each an attribute: its index in cosem.OBJECTS, attribute id and the
    data-access-result found when the request was parsed (self._items, 3 bytes per item).
    GET-with-list answers each item with 00 <Data> or 01 <result>, after the item count."""

    def _get_normal(self, r, iid):
        self._block = 0  # a new GET abandons any long GET in progress
        self._list = False
        dar = self._parse_item(r, 0)
        if not dar:
            dar = self._open_item(0)
        if dar:
            return self._short_result(GET_RESPONSE, iid, dar, True)
        self._n_items = 1
        self._head_pos = self._head_len = 0
        end = self._fill(DATA, DATA + self._block_capacity())
        if self._failed:
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

    def _get_list(self, r, iid):
        self._block = 0
        count = r.length()
        if count < 1 or count > MAX_LIST:
            return self._exception(_SERVICE_NOT_ALLOWED, _OTHER_REASON)  # too many
        self._list = True
        for k in range(count):
            self._parse_item(r, k)
        self._n_items = count
        head = self._head
        self._head_len = axdr.put_len(head, 0, count)
        self._head_pos = 0
        self._open_item(0)
        end = self._fill(DATA, DATA + self._block_capacity())
        if self._failed:
            self._block = 0
            return self._block_error(iid, 1, cosem.LONG_GET_ABORTED)
        if self._source_done():
            pt = self._pt
            s = DATA - 3
            pt[s] = GET_RESPONSE
            pt[s + 1] = 3
            pt[s + 2] = iid
            return self._reply(s, end)
        self._block = 1
        return self._block_reply(iid, 1, end, False)

    def _parse_item(self, r, k):
        """Cosem-Attribute-Descriptor and access selection of item k into self._items; returns
        its data-access-result. A profile buffer's selection is checked here and kept in
        self._sel (the buffer streams one item at a time: _open_item takes it up again)."""
        cls = r.u16()
        r.need(6)
        ln = r.pos
        r.pos += 6
        attr = r.u8()
        selector = r.u8()  # access-selection present?
        if selector:
            selector = r.u8()
        index = cosem.find(cls, r.buf, ln)
        if index == -1:
            dar = cosem.OBJECT_UNDEFINED
        elif index < -1:
            dar = cosem.OBJECT_CLASS_INCONSISTENT
        elif self.state != ASSOCIATED:
            dar = cosem.READ_WRITE_DENIED
        else:
            dar = self.objects.check(index, attr, self.management)
        consumed = False
        if not dar and _is_buffer(index, attr):
            p = r.pos
            self._bind(index)
            dar = self.buffer.select(r, selector)
            consumed = True
            if dar and selector:  # the reader may have stopped inside the parameters
                r.pos = p
                r.skip_data()
            if not dar:
                self.buffer.save(self._sel, SELECTION * k)
                self._selected = k  # the buffer holds this item's selection, counted
        elif not dar and selector:
            dar = cosem.OTHER_REASON  # selective access is for the profile buffers only
        if selector and not consumed:
            r.skip_data()  # the parameters of a selection not made
        items = self._items
        items[3 * k] = index if index >= 0 else 0
        items[3 * k + 1] = attr
        items[3 * k + 2] = dar
        return dar

    def _bind(self, index):
        objects = self.objects
        self.buffer.bind(objects.profile_rows(index), objects.profile_columns(index),
                         objects.profile_types(index))

    def _open_item(self, k):
        """Start item k: its source, and (in a list) its result byte(s) in the head. Returns
        the data-access-result (an attribute whose value cannot be had now fails here)."""
        self._item = k
        items = self._items
        index = items[3 * k]
        attr = items[3 * k + 1]
        dar = items[3 * k + 2]
        self._failed = False
        if not dar:
            if _is_buffer(index, attr):
                if self._selected != k:  # another buffer's selection was parsed after it
                    self._bind(index)
                    self.buffer.restore(self._sel, SELECTION * k)
                    self._selected = k
                self._stream = self.buffer
                self._src = _SRC_STREAM
            elif index == _ASSOCIATION_INDEX and attr == 2:
                self._stream = self.object_list
                self._stream.start(self.management)
                self._src = _SRC_STREAM
            else:
                end = self.objects.encode(index, attr, self._val, 0)
                if end < 0:
                    dar = -end
                self._src = _SRC_VALUE
                self._val_pos = 0
                self._val_end = end
        if dar:
            self._src = _SRC_DONE
        if self._list:
            head = self._head
            n = self._head_len
            head[n] = 1 if dar else 0
            head[n + 1] = dar
            self._head_len = n + (2 if dar else 1)
        return dar

    def _get_next(self, r, iid):
        number = r.u32()
        if not self._block:
            return self._block_error(iid, number, cosem.NO_LONG_GET_IN_PROGRESS)
        if number != self._block or self.state != ASSOCIATED:
            self._block = 0
            return self._block_error(iid, number, cosem.DATA_BLOCK_NUMBER_INVALID)
        end = self._fill(DATA, DATA + self._block_capacity())
        number += 1
        if self._failed:
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
        """Write the response's next bytes into _pt[o:end]; return the new offset."""
        pt = self._pt
        while o < end:
            if self._head_pos < self._head_len:  # the list count, an item's result byte(s)
                pt[o] = self._head[self._head_pos]
                self._head_pos += 1
                o += 1
                continue
            src = self._src
            if src == _SRC_VALUE:
                k = self._val_end - self._val_pos
                if k > end - o:
                    k = end - o
                self._ptmv[o : o + k] = self._valmv[self._val_pos : self._val_pos + k]
                self._val_pos += k
                o += k
                if self._val_pos < self._val_end:
                    return o
            elif src == _SRC_STREAM:
                stream = self._stream
                o = stream.fill(pt, o, end)
                if stream.failed:
                    self._failed = True  # the profile changed beyond recognition
                    return o
                if not stream.done:
                    return o
            self._src = _SRC_DONE
            if self._item + 1 >= self._n_items:
                return o
            self._head_pos = self._head_len = 0
            self._open_item(self._item + 1)
        return o

    def _source_done(self):
        return (
            self._src == _SRC_DONE
            and self._item + 1 >= self._n_items
            and self._head_pos == self._head_len
        )

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


def _is_buffer(index, attr):
    """Is this the buffer of a profile (the quarter-hour profile or an event log)?"""
    return attr == 2 and cosem.OBJECTS[index][1] == cosem.CLASS_PROFILE
