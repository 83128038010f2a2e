# meterkast: a profile's buffer attribute (the quarter-hour profile, the event logs), selected
# and streamed block by block
# MIT license
#
# A profile holds up to `capacity` rows on flash; a full buffer is far larger than any response,
# so rows are read and encoded one at a time straight into the outgoing block. The row count
# (the array header) must be known first, so a selection is counted once, then emitted. One
# ProfileBuffer serves every profile of the server, one selection at a time: bind() names the
# rows, their capture objects (cosem.OBJECTS indices, the clock first) and each column's type.
#
# Profile contract (the rows): entries_in_use(), capacity, read(index, out) -> bool with
# index 0 = oldest and out[0] = t (meter epoch UTC), out[1..] the other columns' values (the
# quarter-hour profile: status, import_t1, import_t2, export_t1, export_t2; comms.events: the
# event code or the duration); False means the entry failed its checksum and is skipped, never
# served. Timestamps may repeat after the clock was set back, so a range is a scan, not a search.
#
# A range bound whose deviation is specified is an instant: UTC = local + deviation minutes
# (the convention of axdr.DateTimeCodec), compared with the rows' UTC times. A bound with an
# unspecified deviation (0x8000) is a local wall-clock time, compared with the rows' local
# times. The clock status byte is not consulted.
#
# If metrology captures a row while a long read is under way and the ring is full, the oldest
# entry is dropped and every index shifts down. Each block re-finds the last row it sent
# (same contents, a few places earlier) and continues from there; if it cannot, the transfer
# ends with long-get-aborted rather than serving a row twice or skipping one.
from array import array

from micropython import const

from comms.dlms import axdr, cosem

_COLUMNS = const(6)  # the widest profile
_ALL = const(0)
_RANGE = const(1)
_ENTRY = const(2)
SELECTION = const(6)  # ints a saved selection takes (save, restore)
_RESYNC_DEPTH = const(8)
_DEVIATION_UNSPECIFIED = const(0x8000)
_DEVIATION_MAX = const(720)  # minutes, Blue Book: -720..720


class ProfileBuffer(axdr.EncodedStream):
    def __init__(self, profile, datetime_codec):
        axdr.EncodedStream.__init__(self, 64)
        self.profile = profile
        self.dt = datetime_codec
        self._capture = cosem.PROFILE_COLUMNS
        self._types = cosem.PROFILE_TYPES
        self._width = _COLUMNS
        self._row = array("i", [0] * _COLUMNS)
        self._last = array("i", [0] * _COLUMNS)
        self.done = True
        self.failed = False
        self.count = 0

    # ---- selection --------------------------------------------------------------------------

    def bind(self, rows, columns, types):
        """Serve these rows (the profile contract, or None: no rows) with these capture objects
        (cosem.OBJECTS indices) and column types (A-XDR tags; octet-string: date-time)."""
        self.profile = rows
        self._capture = columns
        self._types = types
        self._width = len(columns)

    def select(self, reader, selector):
        """Parse selective-access parameters (reader at the Data after the selector byte;
        selector 0 = whole buffer) and count the rows. Returns a data-access-result."""
        self._kind = _ALL
        self._lo = 0
        self._hi = 0x7FFFFFFF
        self._lo_local = self._hi_local = False
        self._columns = (1 << self._width) - 1
        try:
            if selector == 1:
                self._parse_range(reader)
            elif selector == 2:
                self._parse_entry(reader)
            elif selector != 0:
                return cosem.OTHER_REASON
        except ValueError:  # AxdrError: malformed or unsupported parameters
            return cosem.TYPE_UNMATCHED
        if not self._columns:
            return cosem.TYPE_UNMATCHED
        self._start()
        return cosem.SUCCESS

    def save(self, out, o):
        """The selection made by select() into out[o:o + SELECTION] (an array of int)."""
        out[o] = self._kind
        out[o + 1] = self._lo
        out[o + 2] = self._hi
        out[o + 3] = self._lo_local
        out[o + 4] = self._hi_local
        out[o + 5] = self._columns

    def restore(self, src, o):
        """Take a selection saved by save() up again (after bind() of its rows) and count."""
        self._kind = src[o]
        self._lo = src[o + 1]
        self._hi = src[o + 2]
        self._lo_local = src[o + 3]
        self._hi_local = src[o + 4]
        self._columns = src[o + 5]
        self._start()

    def _parse_range(self, r):
        r.expect(axdr.STRUCTURE)
        if r.length() != 4:
            raise axdr.AxdrError("range")
        r.expect(axdr.STRUCTURE)
        if r.length() != 4:
            raise axdr.AxdrError("restricting object")
        cls = r.unsigned_value()
        p = r.octets(6)
        attr = r.unsigned_value()
        r.unsigned_value()  # data index
        if cosem.find(cls, r.buf, p) != 0 or attr != 2:
            raise axdr.AxdrError("restricting object is not the clock")  # column 1 only
        self._lo = self._date_time(r)
        self._lo_local = self._local
        self._hi = self._date_time(r)
        self._hi_local = self._local
        r.expect(axdr.ARRAY)
        n = r.length()
        if n:
            mask = 0
            for _ in range(n):
                mask |= 1 << self._column(r)
            self._columns = mask
        self._kind = _RANGE

    def _date_time(self, r):
        """A range bound in meter-epoch seconds: UTC when its deviation is specified, else
        local wall-clock time (self._local says which)."""
        tag = r.u8()
        if tag == axdr.OCTET_STRING:
            if r.length() != 12:
                raise axdr.AxdrError("date-time length")
        elif tag != axdr.DATE_TIME:
            raise axdr.AxdrError("date-time tag")
        r.need(12)
        b = r.buf
        o = r.pos
        v = self.dt.local_seconds(b, o)
        dev = (b[o + 9] << 8) | b[o + 10]
        r.pos = o + 12
        self._local = dev == _DEVIATION_UNSPECIFIED
        if self._local:
            return v
        if dev & 0x8000:
            dev -= 0x10000
        if dev < -_DEVIATION_MAX or dev > _DEVIATION_MAX:
            raise axdr.AxdrError("deviation")
        return v + dev * 60

    def _column(self, r):
        r.expect(axdr.STRUCTURE)
        if r.length() != 4:
            raise axdr.AxdrError("capture object")
        cls = r.unsigned_value()
        p = r.octets(6)
        attr = r.unsigned_value()
        index = r.unsigned_value()
        obj = cosem.find(cls, r.buf, p)
        if attr == 2 and index == 0:
            for c in range(self._width):
                if self._capture[c] == obj:
                    return c
        raise axdr.AxdrError("not a capture object")

    def _parse_entry(self, r):
        r.expect(axdr.STRUCTURE)
        if r.length() != 4:
            raise axdr.AxdrError("entry descriptor")
        first = r.unsigned_value()
        last = r.unsigned_value()
        col_first = r.unsigned_value()
        col_last = r.unsigned_value()
        self._lo = (first if first > 0 else 1) - 1
        self._hi = last - 1 if last > 0 else 0x7FFFFFFF
        if col_first < 1:
            col_first = 1
        if col_last == 0 or col_last > self._width:
            col_last = self._width
        mask = 0
        for c in range(col_first - 1, col_last):
            mask |= 1 << c
        self._columns = mask  # empty when col_first > col_last: refused by select()
        self._kind = _ENTRY

    def _start(self):
        self.done = False
        self.failed = False
        self._shift = 0
        self._cursor = self._lo if self._kind == _ENTRY else 0
        self._emitted = 0
        count = 0
        while self._next_row():
            count += 1
        self.count = count
        self._cursor = self._lo if self._kind == _ENTRY else 0
        self._ncols = 0
        for c in range(self._width):
            if self._columns & (1 << c):
                self._ncols += 1
        self._encn = axdr.put_header(self._enc, 0, axdr.ARRAY, count)
        self._encpos = 0

    def _next_row(self):
        """Advance the cursor to the next selected, intact row (left in self._row)."""
        p = self.profile
        if p is None:
            return False
        n = p.entries_in_use()
        row = self._row
        kind = self._kind
        while self._cursor < n:
            i = self._cursor
            self._cursor = i + 1
            if kind == _ENTRY and i + self._shift > self._hi:
                return False
            if not p.read(i, row):
                continue
            if kind == _RANGE:
                t = row[0]
                lt = self.dt.local_of(t) if self._lo_local or self._hi_local else t
                if (lt if self._lo_local else t) < self._lo:
                    continue
                if (lt if self._hi_local else t) > self._hi:
                    continue
            return True
        return False

    # ---- emission ---------------------------------------------------------------------------

    def fill(self, b, o, end):
        """Write the next encoded bytes into b[o:end]; return the new offset. Sets `done`
        after the last byte, `failed` when the profile changed beyond recognition."""
        if self._emitted and not self._resync():
            self.failed = True
            return o
        while o < end:
            if self._encpos < self._encn:
                o = self._copy_out(b, o, end)
                continue
            if self._emitted == self.count:
                break
            if not self._next_row():
                self.failed = True  # fewer rows than counted: the ring moved under us
                return o
            self._encode_row()
        self.done = self._emitted == self.count and self._encpos == self._encn
        return o

    def _encode_row(self):
        row = self._row
        last = self._last
        e = self._enc
        o = axdr.put_header(e, 0, axdr.STRUCTURE, self._ncols)
        cols = self._columns
        types = self._types
        for c in range(self._width):
            last[c] = row[c]
            if not cols & (1 << c):
                continue
            tag = types[c]
            if tag == axdr.OCTET_STRING:
                o = self.dt.put(e, o, row[c])
            elif tag == axdr.UNSIGNED:
                o = axdr.put_tag_u8(e, o, axdr.UNSIGNED, row[c])
            else:
                o = axdr.put_tag_u32(e, o, tag, row[c])
        self._encn = o
        self._encpos = 0
        self._emitted += 1
        self._last_index = self._cursor - 1

    def _resync(self):
        """Is the last row sent still where it was? If older rows were dropped meanwhile,
        move the cursor down by as many places."""
        p = self.profile
        row = self._row
        last = self._last
        i = self._last_index
        width = self._width
        for back in range(_RESYNC_DEPTH + 1):
            j = i - back
            if j < 0:
                break
            if p.read(j, row):
                c = 0
                while c < width and row[c] == last[c]:
                    c += 1
                if c < width:
                    continue
                if back:
                    self._cursor -= back
                    self._shift += back
                    self._last_index = j
                return True
        return False
