"""Two modules, one meter: the metering and comms modules as two MCUs (two micropython processes)
joined by the one-way internal link. What the seed letter claims of the split, as properties:
the metering module holds no key material and has no way to obtain it; the comms module's copy
of the quarter-hour profile equals the metering module's own over a lossy link; a module swap
is detected, logged and flagged, and nothing served goes backwards."""
import os
import threading
import time
from datetime import datetime, timezone

from dlms_support import write_keys
from helpers import parse_v5, read_raw_telegrams, wh
from meterkast.emu.emulator import Emulator
from meterkast.image.flashimage import open_image, read_profile
from meterkast.keys.file import load_keys

DNV = 0x04  # IDIS data not valid: the comms module flags a period it could not vouch for


def _profiles(state):
    metering = [e for e in read_profile(open_image(state / "metering.img"))
                if not e.get("damaged")]
    copy = read_profile(open_image(state / "comms.img"), "qhc")
    return metering, copy


def _t(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def _key_material(keys_path):
    """Every form the keys could take in a process or a file: raw bytes, hex either case, and
    the keys file's own path."""
    k = load_keys(keys_path)
    secrets = []
    for port in ("p1", "management"):
        for name in ("ek", "ak"):
            raw = bytes.fromhex(k[port][name]) if isinstance(k[port][name], str) else k[port][name]
            secrets += [raw, raw.hex().encode(), raw.hex().upper().encode()]
    return secrets + [os.path.abspath(keys_path).encode()]


def _proc_texts(pid):
    out = {}
    for name in ("cmdline", "environ"):
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            out[name] = f.read()
    fds = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            fds.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass
    out["fds"] = "\n".join(fds).encode()
    return out


def test_the_metering_module_holds_no_key_material(tmp_path):
    keys = write_keys(str(tmp_path / "keys.json"))
    state = tmp_path / "state"
    emu = Emulator(p1="pty", p3="pty", keys=keys, state=state, start="2026-03-02T10:00:00Z",
                   speed=600, modules="two", report=True)
    emu.start()
    try:
        assert emu.wait_event(lambda e: e.get("ev") == "capture", 30), emu.stderr
        assert emu.wait_event(lambda e: e.get("ev") == "p1" and e.get("fc", 0) > 0, 30)
        secrets = _key_material(keys)
        metering = _proc_texts(emu.procs["metering"].pid)
        comms = _proc_texts(emu.procs["comms"].pid)
    finally:
        emu.stop()
    # The probe is sound: the comms process does hold the keys' path (and opens the file).
    assert any(s in comms["cmdline"] for s in secrets)
    assert os.path.abspath(keys).encode() in comms["fds"]
    for what, text in metering.items():
        for s in secrets:
            assert s not in text, "the metering process's %s holds key material" % what
    # Nothing the metering module keeps (its flash image, its RTC file) holds any either; the
    # comms module's flash holds its counters, the single source of its IVs.
    for name in ("metering.img", "rtc"):
        data = (state / name).read_bytes()
        for s in secrets:
            assert s not in data, name
    files = open_image(state / "comms.img").listdir("/")
    assert "ic_p1.a" in files and "ic_p1.a" not in open_image(state / "metering.img").listdir("/")


def test_the_comms_copy_equals_the_metering_profile_over_a_lossy_link(tmp_path):
    """A simulated day at BER 1e-4 with dropped and inserted bytes and line breaks: every
    capture reaches comms, entry for entry, although ~13 % of reading frames are lost."""
    state = tmp_path / "state"
    emu = Emulator(p1="pty", state=state, start="2026-05-10T00:00:00Z", speed=4000,
                   duration=86400 + 600, modules="two", report=False,
                   link_faults="ber=1e-4,drop=1e-4,insert=1e-5,break=300@5,seed=3")
    emu.start()
    assert emu.wait(120) == 0, emu.stderr
    emu.stop()
    link = emu.lines["link"].stats()
    assert link.get("out_bit_flips", 0) > 0 and link.get("out_dropped", 0) > 0, link
    assert link.get("out_break_lost", 0) > 0, link
    metering, copy = _profiles(state)
    assert len(metering) >= 96
    missing = sorted({e["time"] for e in metering} - {e["time"] for e in copy})
    assert len(copy) == len(metering) and not missing, (len(copy), len(metering), missing)
    for m, c in zip(metering, copy):
        assert {k: m[k] for k in ("time", "status", "import_t1_wh", "import_t2_wh",
                                  "export_t1_wh", "export_t2_wh")} == \
               {k: c[k] for k in ("time", "status", "import_t1_wh", "import_t2_wh",
                                  "export_t1_wh", "export_t2_wh")}
    damaged = [e for e in emu.events if e.get("ev") == "link" and e.get("what") == "crc_errors"]
    assert damaged, "the faults did damage frames, and comms counted them"


def test_a_module_swap_is_logged_flagged_and_nothing_goes_backwards(tmp_path):
    state = tmp_path / "state"
    emu = Emulator(p1="pty", state=state, start="2026-05-10T06:00:00Z", speed=300,
                   modules="two", report=True)
    telegrams = []
    stop = threading.Event()

    def read():
        while not stop.is_set():
            telegrams.extend(read_raw_telegrams(emu.port("p1"), 50, timeout=1.0))

    emu.start()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        time.sleep(8)
        emu.command("swap ic")  # another supplier's module, fresh registers
        time.sleep(8)
        emu.command("swap direct")  # the first module again, its registers where they were
        time.sleep(8)
    finally:
        stop.set()
        reader.join(5)
        emu.stop()
    assert emu.returncode() == 0, emu.stderr
    link = [e for e in emu.events if e.get("ev") == "link"]
    assert [e for e in link if e["what"] == "module_swap"].__len__() == 2, link
    assert len([e for e in link if e["what"] == "rebase"]) == 2, link
    # What P1 served never went backwards, across both swaps.
    regs = []
    for text in telegrams:
        t = parse_v5(text)
        regs.append((wh(t.ELECTRICITY_USED_TARIFF_1.value), wh(t.ELECTRICITY_USED_TARIFF_2.value)))
    assert len(regs) > 50
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in zip(regs, regs[1:])), regs
    # The comms copy holds every quarter hour a metering module in service captured (a period
    # in which no module was fitted has no entry, as after an outage), once, in order; the
    # periods of the swaps are flagged.
    _, copy = _profiles(state)
    times = [_t(e["time"]) for e in copy]
    captured = set()  # captures of the module in service (not the outage entries a module
    live = False      # that comes back writes at its boot for periods it was out)
    for e in emu.events:
        if e.get("module") != "metering":
            continue
        if e.get("ev") in ("outage", "boot"):  # a module starting (outage: before its captures)
            live = False
        elif e.get("ev") == "r":
            live = True
        elif e.get("ev") == "capture" and live:
            captured.add(e["a"])
    assert times == sorted(t for t in captured if times[0] <= t <= times[-1]), (times, captured)
    assert len(copy) >= 6
    flagged = [e for e in copy if e["status"] & DNV]
    assert 1 <= len(flagged) <= 2 * 2, copy
    served = [(e["import_t1_wh"], e["import_t2_wh"]) for e in copy]
    assert all(b[0] >= a[0] and b[1] >= a[1] for a, b in zip(served, served[1:])), served


def test_power_cuts_lose_nothing_between_the_modules(tmp_path):
    """Both modules lose power together (one supply), again and again, at random moments: the
    metering module's registers never go back, and after a last clean stretch the comms copy
    holds every capture of the metering profile since its first, entry for entry."""
    import random

    rng = random.Random(20261205)
    state = tmp_path / "state"
    last = None
    for i in range(12):
        emu = Emulator(p1="pty", state=state, speed=1500, modules="two", report=True,
                       start="2026-07-01T06:00:00Z" if i == 0 else None)
        emu.start()
        if i < 11:
            time.sleep(rng.uniform(0.3, 1.5))
            emu.kill()
            emu.close()
        else:
            assert emu.wait_event(lambda e: e.get("ev") == "r", 60), emu.stderr  # booted
            time.sleep(4)  # a clean stretch: the ring is sent again, twice over
            assert emu.stop() == 0, emu.stderr
        # Within a run registers only rise; across a cut they resume from the last persist at
        # least (what came after it is the at most one persist interval a cut may lose).
        regs = [e["reg"] for e in emu.events if e.get("ev") == "r"]
        for a, b in zip(regs, regs[1:]):
            assert all(y >= x for x, y in zip(a, b)), (i, a, b)
        if regs and last is not None:
            assert all(x >= y for x, y in zip(regs[0], last)), (i, regs[0], last)
        persists = [e["reg"] for e in emu.events if e.get("ev") == "persist"]
        if persists:
            last = persists[-1]
    metering, copy = _profiles(state)
    assert len(metering) >= 8
    by_time = {m["time"]: m for m in metering}
    first = copy[0]["time"]
    want = [m for m in metering if m["time"] >= first]
    assert [c["time"] for c in copy] == [m["time"] for m in want], "no capture lost or repeated"
    for c in copy:
        m = by_time[c["time"]]
        assert [c[k] for k in ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")] \
            == [m[k] for k in ("import_t1_wh", "import_t2_wh", "export_t1_wh", "export_t2_wh")]
        assert c["status"] & ~DNV == m["status"], (c, m)
