"""What `meterkast console` shows: counters, one-line summaries, and the live terminal view.

The live view (rich) redraws a few times a second: power now, the registers, the phases, a
sparkline of net power over the last minutes, the counters (telegrams, CRC/syntax/tag/FCS
errors, frame-counter gaps, unknown and skipped bytes) and the latest notes. On an internal
link it shows the newest frame of each type and the link decoder's counters instead.
"""
import time
from collections import Counter, deque

from meterkast.wire.frames import ENCRYPTED, HDLC, LINK, MBUS, SKIPPED, UNKNOWN
from meterkast.wire.link_frames import link_line

_BARS = "▁▂▃▄▅▆▇█"
_REGISTERS = (("import T1", "1-0:1.8.1"), ("import T2", "1-0:1.8.2"),
              ("export T1", "1-0:2.8.1"), ("export T2", "1-0:2.8.2"))
_PUSH_REGISTERS = (("import", "1-0:1.8.0"), ("export", "1-0:2.8.0"))  # a DLMS push: totals
_PHASES = (("L1", "1-0:32.7.0", "1-0:31.7.0", "1-0:21.7.0", "1-0:22.7.0"),
           ("L2", "1-0:52.7.0", "1-0:51.7.0", "1-0:41.7.0", "1-0:42.7.0"),
           ("L3", "1-0:72.7.0", "1-0:71.7.0", "1-0:61.7.0", "1-0:62.7.0"))


class Stats:
    """Counters over everything decoded; also keeps the newest telegram and a power history."""

    def __init__(self, history_s=300.0):
        self.kinds = Counter()  # frames seen per kind
        self.ok = 0  # telegrams accepted (plain or decrypted)
        self.problems = Counter()  # crc, syntax, tag, fcs, hcs, truncated, no-key
        self.unknown_bytes = 0
        self.skipped_bytes = 0
        self.fc_gaps = 0  # frames missing according to the frame counter
        self.fc_back = 0  # frame counter went back or repeated (replay? meter reset?)
        self._last_fc = {}
        self.last = None  # newest accepted telegram
        self.last_frame = None
        self.history_s = history_s
        self.history = deque()  # (time s, net power kW)
        self.notes = deque(maxlen=6)
        self.hdlc_recent = deque(maxlen=8)
        self.link_latest = {}  # link frame type -> newest accepted Frame of it
        self.link_counters = None  # the link decoder's counters (once a link frame went by)
        self.started = time.monotonic()

    @property
    def errors(self):
        return sum(v for k, v in self.problems.items() if k != "no-key")

    def add(self, frame, now=None):
        now = time.monotonic() if now is None else now
        kind = frame.kind
        self.last_frame = frame
        if kind == UNKNOWN:
            self.unknown_bytes += len(frame.raw)
            return
        if kind == SKIPPED:
            self.skipped_bytes += frame.skipped
            self.notes.append("skipped %d bytes: %s" % (frame.skipped, frame.reason))
            return
        self.kinds[kind] += 1
        if frame.problem:
            self.problems[frame.problem] += 1
            if frame.ok is False:
                self.notes.append("%s: %s (%d B)" % (kind, frame.error, len(frame.raw)))
        # a frame counter counts only when its frame was checked (a push that fails to decode
        # has no tag that failed, but its counter is no more trustworthy: "push")
        checked = frame.problem not in ("truncated", "push") and frame.tag_ok is not False
        if kind == ENCRYPTED and checked:
            self._frame_counter(frame)
        if kind in (HDLC, MBUS):
            self.hdlc_recent.append(frame)
        if kind == LINK:
            self._link(frame)
        if frame.ok and frame.telegram is not None:
            self.ok += 1
            self.last = frame.telegram
            f = frame.telegram.flat("dsmr5")
            net = _num(f.get("1-0:1.7.0")) - _num(f.get("1-0:2.7.0"))
            ts = frame.telegram.timestamp
            t = ts.timestamp() if ts is not None else now
            self.history.append((t, net))
            while self.history and self.history[0][0] < t - self.history_s:
                self.history.popleft()

    def _link(self, frame):
        d = frame.link or {}
        if frame.link_counters is not None:
            self.link_counters = frame.link_counters
        if frame.ok:
            self.link_latest[d.get("type")] = frame
        if d.get("missed"):
            self.notes.append("link: %d frames missing before seq %d" % (d["missed"], d["seq"]))
        if d.get("restart"):
            self.notes.append("link: sequence restarted at seq %d (a metering module restart?)"
                              % d["seq"])

    def _frame_counter(self, frame):
        title = frame.system_title
        fc = frame.frame_counter
        last = self._last_fc.get(title)
        self._last_fc[title] = fc
        if last is None:
            return
        if fc > last + 1:
            self.fc_gaps += fc - last - 1
            self.notes.append("frame counter jumped %d -> %d: %d frames missing"
                              % (last, fc, fc - last - 1))
        elif fc <= last:
            self.fc_back += 1
            self.notes.append("frame counter went back %d -> %d (replay or reset?)" % (last, fc))

    def as_json(self):
        out = {"telegrams_ok": self.ok, "frames": dict(self.kinds), "errors": dict(self.problems),
               "fc_gaps": self.fc_gaps, "fc_back": self.fc_back,
               "unknown_bytes": self.unknown_bytes, "skipped_bytes": self.skipped_bytes}
        if self.link_counters is not None:
            out["link"] = dict(self.link_counters)
        return out


def _num(v):
    return float(v) if isinstance(v, (int, float)) else 0.0


def telegram_summary(t, crc_ok=True):
    f = t.flat("dsmr5")
    imp = _num(f.get("1-0:1.7.0"))
    exp = _num(f.get("1-0:2.7.0"))
    regs = [_num(f.get(k)) for _, k in _REGISTERS]
    tariff = f.get("0-0:96.14.0", "?")
    volts = "/".join("%.1f" % f[k] for _, k, _, _, _ in _PHASES if isinstance(f.get(k), float))
    return "%s  T%s  +%6.3f kW  -%6.3f kW  import %.3f/%.3f kWh  export %.3f/%.3f kWh  %s V  CRC %s" % (
        f.get("0-0:1.0.0", "?"), str(tariff).lstrip("0"), imp, exp, regs[0], regs[1], regs[2],
        regs[3], volts, _crc_word(t.crc_ok if crc_ok else False)) + "  %s" % t.variant


def push_summary(t):
    """One line for a DLMS push (meterkast.wire.push.PushReading)."""
    f = t.flat("dsmr5")
    parts = [str(f.get("0-0:1.0.0", "?")), t.variant]
    for label, key, unit in _PUSH_LINE:
        if isinstance(f.get(key), (int, float)):
            parts.append("%s%.3f %s" % (label, f[key], unit))
    volts = "/".join("%g" % f[k] for _, k, _, _, _ in _PHASES if isinstance(f.get(k), (int, float)))
    if volts:
        parts.append(volts + " V")
    if t.unnamed:
        parts.append("%d unnamed values" % len(t.unnamed))
    parts.append({True: "tag ok", False: "NOT authenticated (encrypted only)",
                  None: "plain"}[t.authenticated])
    return "  ".join(parts)


_PUSH_LINE = (("+", "1-0:1.7.0", "kW"), ("-", "1-0:2.7.0", "kW"), ("import ", "1-0:1.8.0", "kWh"),
              ("export ", "1-0:2.8.0", "kWh"))


def _crc_word(crc_ok):
    """A telegram sent without a CRC (DSMR 2.2/3, Q3D) is never shown as verified."""
    return {True: "ok", None: "none (not verified)", False: "BAD"}[crc_ok]


def frame_line(frame):
    """One line of text for --plain."""
    kind = frame.kind
    if kind == UNKNOWN:
        hx = frame.raw[:32].hex(" ").upper()
        return "unknown %d B: %s%s" % (len(frame.raw), hx, " ..." if len(frame.raw) > 32 else "")
    if kind == SKIPPED:
        return "skipped %d bytes: %s" % (frame.skipped, frame.reason)
    if kind == LINK:
        return link_line(frame.link or {}, len(frame.raw), frame.error)
    if kind == MBUS:
        d = frame.mbus
        parts = ["mbus a=%d CI %s" % (d["address"], d["ci"])]
        if frame.ok and getattr(frame.telegram, "is_push", False):
            parts.append(push_summary(frame.telegram))
        elif d.get("push_error"):
            parts.append("push REJECTED: " + d["push_error"])
        elif d.get("push_segment"):
            parts.append("push segment %d" % d["segment"])
        return "  ".join(parts + ["sum ok", "%d B" % len(frame.raw)])
    if kind == HDLC:
        d = frame.hdlc
        parts = ["hdlc %s -> %s" % (d.get("src", "?"), d.get("dst", "?")), d.get("control", "?")]
        if d.get("segmented"):
            parts.append("segmented")
        if "apdu" in d:
            parts.append(d["apdu"])
        if "inner_apdu" in d:
            parts.append("decrypted: " + d["inner_apdu"])
        if frame.ok and getattr(frame.telegram, "is_push", False):
            parts.append(push_summary(frame.telegram))
        elif d.get("push_error"):
            parts.append("push REJECTED: " + d["push_error"])
        elif d.get("push_segment"):
            parts.append("push segment")
        parts.append("FCS ok" if d.get("fcs_ok") else "FCS BAD")
        if d.get("hcs_ok") is False:
            parts.append("HCS BAD")
        parts.append("%d B" % len(frame.raw))
        return "  ".join(parts)
    prefix = ""
    if kind == ENCRYPTED:
        prefix = "encrypted %s fc=%s tag %s  " % (
            frame.system_title.hex().upper() if frame.system_title else "?", frame.frame_counter,
            {True: "ok", False: "BAD", None: "unverified"}[frame.tag_ok])
    if frame.ok and getattr(frame.telegram, "is_push", False):
        return prefix + push_summary(frame.telegram)
    if frame.ok and frame.telegram is not None:
        return prefix + telegram_summary(frame.telegram)
    return prefix + "%s REJECTED: %s (%d B)" % (kind, frame.error, len(frame.raw))


def sparkline(history, width, span_s, end=None):
    """Net power over the last span_s seconds as `width` bar characters (oldest left)."""
    if not history:
        return "", 0.0, 0.0
    end = history[-1][0] if end is None else end
    start = end - span_s
    sums = [0.0] * width
    counts = [0] * width
    for t, v in history:
        if t < start:
            continue
        i = min(width - 1, int((t - start) / span_s * width))
        sums[i] += v
        counts[i] += 1
    values = [s / c if c else None for s, c in zip(sums, counts)]
    present = [v for v in values if v is not None]
    lo, hi = min(present), max(present)
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        elif hi - lo < 1e-9:
            out.append(_BARS[3])
        else:
            out.append(_BARS[int((v - lo) / (hi - lo) * (len(_BARS) - 1) + 0.5)])
    return "".join(out), lo, hi


class LiveView:
    """A rich renderable over Stats; rich.live.Live calls __rich__ on every refresh."""

    def __init__(self, stats, source, framing="8N1", baud=115200, width=60):
        self.stats = stats
        self.source = source
        self.framing = framing
        self.baud = baud
        self.width = width

    def __rich__(self):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        s = self.stats
        up = int(time.monotonic() - s.started)
        title = "meterkast console  %s  %d %s  up %d:%02d:%02d" % (
            self.source, self.baud, self.framing, up // 3600, up // 60 % 60, up % 60)
        parts = []
        t = s.last
        if t is not None:
            f = t.flat("dsmr5")
            head = Table.grid(padding=(0, 3))
            head.add_row(Text("import %7.3f kW" % _num(f.get("1-0:1.7.0")), style="bold red"),
                         Text("export %7.3f kW" % _num(f.get("1-0:2.7.0")), style="bold green"),
                         "tariff %s" % str(f.get("0-0:96.14.0", "?")).lstrip("0"),
                         str(f.get("0-0:1.0.0", "?")),
                         "%s  %s %s" % (t.variant, "check" if getattr(t, "is_push", False)
                                        else "CRC", _crc_word(t.crc_ok)))
            parts.append(head)
            registers = _PUSH_REGISTERS if getattr(t, "is_push", False) else _REGISTERS
            regs = Table(box=None, padding=(0, 2), show_header=True)
            for name, _ in registers:
                regs.add_column(name, justify="right")
            regs.add_row(*["%.3f kWh" % _num(f.get(k)) for _, k in registers])
            parts.append(regs)
            phases = Table(box=None, padding=(0, 2))
            for col in ("", "V", "A", "+P kW", "-P kW"):
                phases.add_column(col, justify="right")
            for name, v, a, pp, pn in _PHASES:
                if v in f or a in f:
                    phases.add_row(name, "%.1f" % _num(f.get(v)), "%g" % _num(f.get(a)),
                                   "%.3f" % _num(f.get(pp)), "%.3f" % _num(f.get(pn)))
            parts.append(phases)
            line, lo, hi = sparkline(s.history, self.width, s.history_s)
            parts.append(Text("net power (import - export), last %d min: %.3f .. %.3f kW"
                              % (s.history_s // 60, lo, hi)))
            parts.append(Text(line, style="cyan"))
        elif s.link_latest:
            for fr in s.link_latest.values():
                parts.append(Text(frame_line(fr)))
        elif s.hdlc_recent:
            for fr in s.hdlc_recent:
                parts.append(Text(frame_line(fr)))
        else:
            parts.append(Text("waiting for data ...", style="dim"))
        c = Table.grid(padding=(0, 2))
        err = s.errors
        c.add_row("telegrams ok %d" % s.ok,
                  Text("errors %d" % err, style="bold red" if err else ""),
                  "  ".join("%s %d" % kv for kv in sorted(s.problems.items())) or "",
                  "fc gaps %d" % s.fc_gaps,
                  "unknown %d B" % s.unknown_bytes, "skipped %d B" % s.skipped_bytes)
        parts.append(c)
        lc = s.link_counters
        if lc is not None:
            parts.append(Text(
                "link: frames %d  garbage %d B  header %d  length %d  fcs %d  value %d  "
                "gaps %d (%d frames)  duplicates %d  restarts %d" % (
                    lc["frames"], lc["garbage"], lc["header_errors"], lc["length_errors"],
                    lc["crc_errors"], lc["value_errors"], lc["seq_gaps"], lc["frames_missed"],
                    lc["duplicates"], lc["seq_resets"])))
        if s.kinds:
            parts.append(Text("frames: " + ", ".join("%s %d" % kv for kv in sorted(s.kinds.items())),
                              style="dim"))
        for note in s.notes:
            parts.append(Text(note, style="yellow"))
        return Panel(Group(*parts), title=title, title_align="left")
