"""P3 on a board's network for `meterkast flash`: `--p3`, `--wifi-ssid`, `--wifi-key-file`.

What goes on the board (read by firmware/hal/board/net.py):

* /meter.json  "p3": {"tcp": PORT, "framing": "wrapper"|"hdlc"} (P3 on TCP), or no "p3" (the
  board table's UART, HDLC), or "p3": false (no P3); "wifi": {"ssid": SSID} on a WLAN board.
* /wifi.key    the WLAN key, alone in its file; the host writes it and never reads it back or
  prints it (verify compares hashes). No key file: an open network.

Only a board whose entry in the board table (firmware/boards) has a "network" takes them.
"""
from meterkast.errors import CliError

WIFI_KEY = "wifi.key"
P3_FORMS = "tcp-wrapper:PORT (IEC 62056-47), tcp:PORT (HDLC over TCP), uart or off"


def parse_p3(spec):
    """--p3 SPEC -> the /meter.json "p3" value: {"tcp": n, "framing": f}, None (the UART: the
    key is removed) or False (no P3)."""
    if spec is None:
        return None
    if spec == "uart":
        return None
    if spec == "off":
        return False
    kind, sep, port = spec.partition(":")
    framing = {"tcp-wrapper": "wrapper", "tcp": "hdlc"}.get(kind)
    if not sep or framing is None or not port.isdigit() or not 0 < int(port) < 65536:
        raise CliError("--p3 %s: use %s (the board listens on its own address)" % (spec, P3_FORMS))
    return {"tcp": int(port), "framing": framing}


def read_wifi_key(path):
    """The key in FILE (one trailing newline dropped); "" is an open network. The key itself
    never appears in an error."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise CliError("--wifi-key-file %s: %s" % (path, exc.strerror))
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        key = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError("--wifi-key-file %s: not UTF-8 text" % path)
    if key and not (8 <= len(key) <= 63 or (len(key) == 64 and _is_hex(key))):
        raise CliError("--wifi-key-file %s: a WPA key is 8 to 63 characters or 64 hex digits "
                       "(this one has %d); an empty file means an open network" % (path, len(key)))
    return key


def _is_hex(text):
    return all(c in "0123456789abcdefABCDEF" for c in text)


def wants_network(p3, ssid, key):
    return isinstance(p3, dict) or ssid is not None or key is not None


def check_target(table, target, model, p3, ssid, key, module):
    """Before the device is touched: refuse network settings that no board of this build
    (or the given --model) can take."""
    if not wants_network(p3, ssid, key):
        return
    if module == "metering":
        raise CliError("--p3/--wifi-* with --module metering: a metering board has no P3 and "
                       "no network")
    boards = [model] if model else table.for_port(target)
    if not any(table.networked(b) for b in boards if b in table.names()):
        raise CliError("%s: board %s has no network; P3 over TCP and WiFi need one (%s)" % (
            _what(p3, ssid), "/".join(boards) or target, _networked(table)))


def apply(cfg, table, target, p3, ssid, key, p3_given):
    """The network settings into /meter.json `cfg` (in place), checked against its board."""
    if not wants_network(p3, ssid, key):
        if p3_given:
            _set_p3(cfg, p3)
        return cfg
    name = cfg.get("board")
    boards = [name] if name else table.for_port(target)
    without = [b for b in boards if not table.networked(b)]
    if without:
        raise CliError("%s: board %s has no network; P3 over TCP and WiFi need one (%s)%s" % (
            _what(p3, ssid), without[0], _networked(table),
            "" if name else "; give --model"))
    if p3_given:
        _set_p3(cfg, p3)
    kinds = {table.board(b)["network"]["kind"] for b in boards}
    if ssid is not None:
        if kinds != {"wlan"}:
            raise CliError("--wifi-ssid: board %s has a wired network, no WiFi" % boards[0])
        if not ssid or len(ssid.encode()) > 32:
            raise CliError("--wifi-ssid: 1 to 32 bytes")
        cfg["wifi"] = {"ssid": ssid}
    if key is not None and not (cfg.get("wifi") or {}).get("ssid"):
        raise CliError("--wifi-key-file needs --wifi-ssid (the board has no network set yet)")
    if isinstance(cfg.get("p3"), dict) and kinds == {"wlan"} and not (cfg.get("wifi") or {}).get("ssid"):
        raise CliError("--p3 %s on a WiFi board needs --wifi-ssid (and --wifi-key-file unless "
                       "the network is open)" % _spec(cfg["p3"]))
    return cfg


def _set_p3(cfg, p3):
    if p3 is None:
        cfg.pop("p3", None)
    else:
        cfg["p3"] = p3


def _spec(p3):
    return "%s:%d" % ("tcp-wrapper" if p3.get("framing") == "wrapper" else "tcp", p3["tcp"])


def _what(p3, ssid):
    if isinstance(p3, dict):
        return "--p3 %s" % _spec(p3)
    return "--wifi-ssid" if ssid is not None else "--wifi-key-file"


def _networked(table):
    return "boards with one: " + ", ".join(b for b in table.names() if table.networked(b))
