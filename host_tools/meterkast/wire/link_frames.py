"""Internal link frames (docs/link.md) in a byte stream, for `meterkast console`.

The firmware's own receiver does the decoding: `LinkDecoder` of firmware/contract/link.py,
imported by CPython (meterkast.firmware_module). Its framing, checks and counters are the ones
the comms module applies. `LinkSplitter` feeds it a stream and ties every frame it accepts or
refuses to the bytes it came in, so that the rest of the stream (P1 telegrams, HDLC frames,
unknown bytes) goes on to the console's other decoders as it was:

* While the decoder holds nothing, bytes up to the next sync pair (`A5 3C`) are what it would
  drop as garbage byte by byte: they are passed on at once (and counted as its garbage).
* From a sync pair on, the decoder is fed up to the next point where it decides something:
  the end of the header (HCRC, length), then the end of the frame (end byte, FCS, values).
  A copy of the bytes it holds (its buffer positions say how many) tells after each step which
  bytes it let go; a frame it accepts (`sink`) is found among them by its header.
* A frame refused for damage (header CRC, length or end byte, FCS) or for a value out of range
  is one "rejected" item holding its bytes: those the decoder let go, up to a frame it found
  among them. Until the stream has shown one intact link frame, damage is taken for noise:
  those bytes pass on and only the decoder's counters see them (a sync pair turns up in any
  binary stream, such as encrypted P1, now and then).

Each item is either `bytes` (not link: for the other decoders) or a `LinkItem`, in stream order;
every byte fed is in exactly one of them, except those the decoder still holds.
"""
from datetime import datetime, timedelta, timezone

from meterkast import firmware_module

_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the meter epoch (docs/link.md section 4)
TYPE_NAMES = {0x52: "reading", 0x43: "capture", 0x49: "identity", 0x53: "status"}
COUNTERS = ("bytes", "frames", "readings", "captures", "identities", "statuses", "garbage",
            "header_errors", "length_errors", "crc_errors", "unknown", "value_errors",
            "seq_gaps", "frames_missed", "duplicates", "seq_resets")
_POWER_DOWN = 0x80  # IDIS profile status: power down (capture frames only, docs/link.md)


def link_module():
    return firmware_module("contract.link")


def reading_module():
    return firmware_module("contract.reading")


def _flag_table(module, prefix, skip=()):
    """(bit, name) of a module's PREFIX_* constants, highest bit first."""
    bits = [(getattr(module, n), n[len(prefix):].lower()) for n in dir(module)
            if n.startswith(prefix) and n not in skip]
    return tuple(sorted(bits, reverse=True))


def flag_names(value, table):
    return [name for bit, name in table if value & bit]


def meter_time(t):
    """ISO 8601 with offset of a meter-epoch time (seconds since 2000-01-01T00:00:00Z)."""
    return (_EPOCH + timedelta(seconds=t)).isoformat()


class LinkItem:
    """A link frame found in the stream. ok: True accepted, False refused (damaged or a value
    out of range), None intact but not used (unknown type, duplicate). info: what to show, as
    JSON-ready values ({"type": "link_reading", ...})."""

    def __init__(self, info, raw, ok=True, problem=None, error=None):
        self.info = info
        self.raw = bytes(raw)
        self.ok = ok
        self.problem = problem
        self.error = error
        self.counters = None  # the decoder's counters just after it


class LinkSplitter:
    def __init__(self):
        L = link_module()
        R = reading_module()
        self.L = L
        self.R = R
        self.dec = L.LinkDecoder(sink=self._accepted)
        self._sync = bytes((L.SYNC1, L.SYNC2))
        self.reading_flags = _flag_table(R, "STATUS_")
        self.capture_flags = ((_POWER_DOWN, "power_down"),) + self.reading_flags
        self.health_flags = _flag_table(L, "HEALTH_", skip=("HEALTH_MASK",))
        self.pend = bytearray()  # the bytes the decoder holds: the front of a possible frame
        self.seen = False  # an intact link frame went by: damage is now reported, not passed on
        self.hunted = 0  # bytes passed over while the decoder held nothing (its garbage)
        self.released = 0  # bytes it held and was made to give up (release): garbage too
        self._window = b""  # pend + the bytes of the current step
        self._found = []  # (start, end, LinkItem): frames accepted in the current step
        self._cursor = 0
        self._missed = 0
        self._resets = 0

    # -- counters ---------------------------------------------------------------------------
    def counters(self):
        """The decoder's counters (garbage and bytes include what was passed over)."""
        d = self.dec
        out = {name: getattr(d, name) for name in COUNTERS}
        out["garbage"] += self.hunted + self.released
        out["bytes"] += self.hunted
        return out

    def _errors(self):
        d = self.dec
        return (d.header_errors, d.length_errors, d.crc_errors, d.value_errors, d.unknown,
                d.duplicates)

    # -- the stream -------------------------------------------------------------------------
    def feed(self, data):
        data = bytes(data)
        out = []
        i = 0
        n = len(data)
        while i < n:
            if not self.pend:
                j = data.find(self._sync, i)
                stop = n if j < 0 else j
                if j < 0 and data[n - 1] == self._sync[0]:
                    stop = n - 1  # a sync byte at the end: the decoder keeps it for the next
                if stop > i:
                    self.hunted += stop - i
                    out.append(data[i:stop])
                    i = stop
                    continue
            chunk = data[i:i + self._need()]
            i += len(chunk)
            self._step(chunk, out)
        return out

    def release(self, force=False):
        """The bytes the decoder holds, given back as not link: when the stream ended (force),
        or went quiet before any link frame was seen (a sync pair inside other data must not
        hold that data back). They count as the decoder's garbage."""
        if not self.pend or (self.seen and not force):
            return []
        held = bytes(self.pend)
        self.drop()
        self.released += len(held)
        return [held]

    def drop(self):
        """Forget the bytes the decoder holds (the reader skipped data); returns how many."""
        n = len(self.pend)
        self.pend.clear()
        self.dec._s = self.dec._e = 0  # the decoder's own reset when it has used up its buffer
        return n

    def _need(self):
        """Bytes to feed before the decoder next decides something."""
        p = self.pend
        h = len(p)
        header = self.L.HEADER
        if h < header:
            return header - h
        return max(1, self.L.OVERHEAD + p[4] - h)  # it holds a checked header: its length

    def _step(self, chunk, out):
        d = self.dec
        before = self._errors()
        self.pend += chunk
        window = self._window = bytes(self.pend)
        self._found = []
        self._cursor = 0
        d.feed(chunk, len(chunk))
        held = d._e - d._s  # the decoder keeps the unexamined bytes rx[_s:_e]
        size = len(window)
        k = min(max(size - held, 0), size)  # bytes it let go, from the front
        delta = [b - a for a, b in zip(before, self._errors())]
        header, length, crc, value, unknown, dup = delta
        pos = 0  # window[:pos] is accounted for
        if header or length or crc:
            # The frame at the front of the window was refused; the decoder then searched its
            # bytes again. Frames it found there are in _found; what it still holds is judged
            # later: the refused frame is what comes before either.
            if self.seen:
                pos = min([s for s, _, _ in self._found] + [k])
                out.append(self._damaged(window, pos, header, length, crc))
        elif (value or unknown or dup) and k == size and not self._found:
            out.append(self._intact(window, value, unknown))
            pos = size
            self.seen = True
        for start, end, item in sorted(self._found, key=lambda x: x[0]):
            if start > pos:
                out.append(window[pos:start])
            out.append(item)
            pos = max(pos, end)
        if k > pos:
            out.append(window[pos:k])
        del self.pend[:k]

    def _damaged(self, window, n, header, length, crc):
        """The refused frame at the front of the window; its first n bytes are reported (its
        header, whole in the window, may reach into a frame found after it)."""
        L = self.L
        info = {"type": "link_rejected"}
        if header or len(window) < L.HEADER:
            problem, error = "link-header", "header CRC mismatch"
        else:
            info["frame_type"] = TYPE_NAMES.get(window[2], "0x%02X" % window[2])
            if length and len(window) == L.HEADER:
                problem, error = "link-length", "length %d is not a %s frame's" % (
                    window[4], info["frame_type"])
            elif length:
                problem, error = "link-length", "no end byte where the length says"
            else:
                problem, error = "link-fcs", "FCS mismatch"
        item = LinkItem(info, window[:n], False, problem, error)
        item.counters = self.counters()
        return item

    def _intact(self, raw, value, unknown):
        d = self.dec
        name = TYPE_NAMES.get(raw[2], "0x%02X" % raw[2])
        info = {"seq": d.last_seq, "frame_type": name}
        if value:
            info["type"] = "link_rejected"
            item = LinkItem(info, raw, False, "link-value",
                            "%s frame with a field out of range: refused whole" % name)
        elif unknown:
            info["type"] = "link_unknown"
            info["version"] = raw[3]
            item = LinkItem(info, raw, None, None, "frame type or version unknown: skipped")
        else:
            info["type"] = "link_duplicate"
            item = LinkItem(info, raw, None, None, "a copy of the frame before: dropped")
        item.counters = self.counters()
        return item

    # -- accepted frames (the decoder's sink) -----------------------------------------------
    def _accepted(self, typ):
        L = self.L
        d = self.dec
        self.seen = True
        seq = d.last_seq
        info = self._values(typ)
        info["seq"] = seq
        if d.frames_missed != self._missed:
            info["missed"] = d.frames_missed - self._missed
        if d.seq_resets != self._resets:
            info["restart"] = True
        self._missed = d.frames_missed
        self._resets = d.seq_resets
        ln = L.body_len(typ, L.VERSION)
        head = bytes((L.SYNC1, L.SYNC2, typ, L.VERSION, ln, seq & 0xFF, seq >> 8))
        start = self._window.find(head, self._cursor)
        if start < 0:  # not expected: then it is shown without its bytes
            start = end = self._cursor
        else:
            end = start + L.OVERHEAD + ln
            self._cursor = end
        item = LinkItem(info, self._window[start:end])
        item.counters = self.counters()
        self._found.append((start, end, item))

    def _values(self, typ):
        L = self.L
        d = self.dec
        if typ == L.READING:
            R = self.R
            r = d.reading
            return {"type": "link_reading", "time": meter_time(r[R.T]), "mono": r[R.SEQ],
                    "status": r[R.STATUS],
                    "status_flags": flag_names(r[R.STATUS], self.reading_flags),
                    "tariff": r[R.TARIFF], "import_w": r[R.IMPORT_W], "export_w": r[R.EXPORT_W],
                    "import_t1_wh": r[R.IMPORT_T1_WH], "import_t2_wh": r[R.IMPORT_T2_WH],
                    "export_t1_wh": r[R.EXPORT_T1_WH], "export_t2_wh": r[R.EXPORT_T2_WH],
                    "captures": d.status[L.ST_CAPTURES],
                    "phase_import_w": list(r[R.PHASE_IMPORT_W:R.PHASE_IMPORT_W + 3]),
                    "phase_export_w": list(r[R.PHASE_EXPORT_W:R.PHASE_EXPORT_W + 3]),
                    "voltage_dv": list(r[R.VOLTAGE_DV:R.VOLTAGE_DV + 3]),
                    "current_ma": list(r[R.CURRENT_MA:R.CURRENT_MA + 3]),
                    "frequency_mhz": r[R.FREQUENCY_MHZ], "power_failures": r[R.POWER_FAILURES],
                    "long_power_failures": r[R.LONG_POWER_FAILURES],
                    "sags": list(r[R.SAGS:R.SAGS + 3]), "swells": list(r[R.SWELLS:R.SWELLS + 3])}
        if typ == L.CAPTURE:
            c = d.capture
            wh = L.CAP_WH
            return {"type": "link_capture", "index": c[L.CAP_INDEX],
                    "time": meter_time(c[L.CAP_T]), "status": c[L.CAP_STATUS],
                    "status_flags": flag_names(c[L.CAP_STATUS], self.capture_flags),
                    "import_t1_wh": c[wh], "import_t2_wh": c[wh + 1],
                    "export_t1_wh": c[wh + 2], "export_t2_wh": c[wh + 3]}
        if typ == L.IDENTITY:
            i = d.identity
            return {"type": "link_identity", "supplier": bytes(d.supplier).decode("ascii"),
                    "serial": bytes(d.serial).rstrip(b"\0").decode("ascii"),
                    "fw_version": "%d.%d.%d" % (i[L.ID_FW_MAJOR], i[L.ID_FW_MINOR],
                                                i[L.ID_FW_PATCH]),
                    "fw_id": bytes(d.fw_id).hex().upper(), "phases": i[L.ID_PHASES],
                    "nominal_dv": i[L.ID_NOMINAL_DV], "imax_ma": i[L.ID_IMAX_MA],
                    "ring": i[L.ID_RING], "mono": i[L.ID_MONO]}
        st = d.status
        R = self.R
        r = d.reading
        log = [{"end": meter_time(r[R.PF_LOG + 2 * k]), "duration_s": r[R.PF_LOG + 2 * k + 1]}
               for k in range(r[R.PF_LOG_N])]
        return {"type": "link_status", "time": meter_time(st[L.ST_T]), "mono": st[L.ST_MONO],
                "status": st[L.ST_STATUS],
                "status_flags": flag_names(st[L.ST_STATUS], self.reading_flags),
                "health": st[L.ST_HEALTH],
                "health_flags": flag_names(st[L.ST_HEALTH], self.health_flags),
                "captures": st[L.ST_CAPTURES], "power_failure_log": log}


# -- one line of text per frame -------------------------------------------------------------
def _kwh(wh):
    return "%d.%03d" % divmod(wh, 1000)


def _utc(iso):
    return iso.replace("+00:00", "Z")


def _flags(value, names):
    return "0x%02X%s" % (value, (" " + ",".join(names)) if names else "")


def _registers(d):
    return "import %s/%s kWh  export %s/%s kWh" % (
        _kwh(d["import_t1_wh"]), _kwh(d["import_t2_wh"]), _kwh(d["export_t1_wh"]),
        _kwh(d["export_t2_wh"]))


def _seq(d):
    text = "seq %d" % d["seq"]
    if d.get("missed"):
        text += " (%d missed)" % d["missed"]
    if d.get("restart"):
        text += " (restart)"
    return text


def link_line(d, raw_len=0, error=None):
    """One line for a link frame's info dict (LinkItem.info)."""
    kind = d.get("type")
    if kind == "link_reading":
        return "link reading  %s  mono %d  status %s  T%d  +%d W  -%d W  %s  captures %d  %s" % (
            _utc(d["time"]), d["mono"], _flags(d["status"], d["status_flags"]), d["tariff"],
            d["import_w"], d["export_w"], _registers(d), d["captures"], _seq(d))
    if kind == "link_capture":
        return "link capture #%d  %s  status %s  %s  %s" % (
            d["index"], _utc(d["time"]), _flags(d["status"], d["status_flags"]), _registers(d),
            _seq(d))
    if kind == "link_identity":
        return ("link identity  %s %s  fw %s id %s  %d phase%s  Un %d.%d V  Imax %s A  ring %d  "
                "mono %d  %s") % (
            d["supplier"], d["serial"], d["fw_version"], d["fw_id"], d["phases"],
            "s" if d["phases"] != 1 else "", d["nominal_dv"] // 10, d["nominal_dv"] % 10,
            _kwh(d["imax_ma"]), d["ring"], d["mono"], _seq(d))
    if kind == "link_status":
        health = _flags(d["health"], d["health_flags"]) if d["health"] else "ok"
        log = ", ".join("%s %d s" % (_utc(e["end"]), e["duration_s"])
                        for e in d["power_failure_log"])
        return ("link status  %s  mono %d  status %s  health %s  captures %d  power failures "
                "%d%s  %s") % (
            _utc(d["time"]), d["mono"], _flags(d["status"], d["status_flags"]), health,
            d["captures"], len(d["power_failure_log"]), (": " + log) if log else "", _seq(d))
    if kind == "link_unknown":
        return "link frame of unknown type %s version %d, skipped  %s  %d B" % (
            d["frame_type"], d["version"], _seq(d), raw_len)
    if kind == "link_duplicate":
        return "link %s duplicate of the frame before, dropped  %s  %d B" % (
            d["frame_type"], _seq(d), raw_len)
    what = d.get("frame_type")
    return "link%s REJECTED: %s (%d B)" % (" " + what if what else "", error, raw_len)
