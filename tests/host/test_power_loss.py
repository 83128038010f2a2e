"""Pull the plug 100 times: registers never go back or jump forward, the profile stays clean."""
import random
import time
from datetime import datetime, timezone

from helpers import meter
from meterkast.image.flashimage import dump

KILLS = 100
SPEED = 3000
MAX_W = 30000  # far above the household's peak: the loss bound uses it
LONG_OFF = 3600  # wall seconds one outage lasts (simulated on the RTC anchor, see below)


def _t(iso):
    return int(datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())


def test_hundred_power_cuts(tmp_path):
    rng = random.Random(20261127)
    runs = []
    for i in range(KILLS + 1):
        if i == KILLS // 2:
            # One outage of an hour: instead of waiting, the RTC anchor (wall time, RTC time,
            # speed) is moved an hour into the past, as if the meter had been off that long. The
            # battery-backed RTC runs in real time while off, so this is an hour of meter time too.
            rtc = tmp_path / "rtc"
            wall, utc, *rest = rtc.read_text().split()
            rtc.write_text(" ".join(["%.3f" % (float(wall) - LONG_OFF), utc] + rest) + "\n")
        emu = meter(p1="pty", speed=SPEED, state=tmp_path,
                    start="2026-07-01T06:00:00Z" if i == 0 else None)
        emu.start()
        if i < KILLS:
            time.sleep(rng.uniform(0.05, 0.6))  # sometimes before boot completes
            emu.kill()
            emu.close()
        else:
            emu.wait_event(lambda e: e.get("ev") == "r", 30)
            time.sleep(0.3)
            assert emu.stop() == 0
        runs.append(list(emu.events))

    floor = None  # registers of the newest persisted state we know about
    candidates = []  # states that may have been persisted after it (reading reported, note lost)
    boots = 0
    outages = {}  # last persist before the cut (what the meter knows) -> power back
    alive = {}  # same key -> last second the meter was seen alive (a reading on its report)
    last_seen = None
    for i, events in enumerate(runs):
        persists = [e for e in events if e.get("ev") == "persist"]
        readings = [e for e in events if e.get("ev") == "r"]
        for e in events:
            if e.get("ev") == "outage":
                outages[e["a"]] = e["b"]  # a later boot from the same state supersedes
                if last_seen is not None and last_seen >= e["a"]:
                    alive[e["a"]] = last_seen
        if readings:
            last_seen = readings[-1]["t"]
        if persists:
            restored = persists[0]["reg"]
            if floor is not None:
                assert restored == floor or restored in candidates, (i, restored, floor)
                assert all(r >= f for r, f in zip(restored, floor)), "never backwards"
                if candidates:
                    lost = sum(candidates[-1]) - sum(restored)
                    assert lost <= MAX_W * 61 / 3600 + 1, "at most one persist interval lost"
            boots += 1
        for e in events:
            if e.get("ev") == "persist":
                floor = e["reg"]
                candidates = []
            elif e.get("ev") == "r":
                candidates.append(e["reg"])
        if readings:
            regs = [r["reg"] for r in readings]
            assert all(all(b >= a for a, b in zip(x, y)) for x, y in zip(regs, regs[1:]))
    assert boots > KILLS * 0.8, "most runs got past boot"

    d = dump(tmp_path)
    profile = d["profile"]
    assert profile and not any(e.get("damaged") for e in profile)
    times = [_t(e["time"]) for e in profile]
    assert all(t % 900 == 0 for t in times)
    assert times == sorted(set(times)), "no duplicate or out-of-order entries"
    # IDIS outage rules.
    outage_list = sorted((a, b) for a, b in outages.items() if b > a)
    assert len(outage_list) >= KILLS * 0.8
    reported_failures = len(outages)
    assert reported_failures <= d["power_failures"] <= KILLS + 1
    by_time = {t: e for t, e in zip(times, profile)}
    for a, b in outage_list:
        real = max(a, alive.get(a, a))  # the cut came after the last second seen alive
        # No entry for a period wholly inside the outage.
        assert not any(real <= t - 900 and t < b for t in times), (a, real, b)
        b1 = real - real % 900 + 900
        if b1 < b and b1 in by_time:
            assert by_time[b1]["status"] & 0x80, "entry of the period where power failed: PDN"
        after = [t for t in times if t >= b]
        if after:
            assert by_time[after[0]]["status"] & 0x80, "entry of the restoration period: PDN"
    for t, e in zip(times, profile):
        # The meter knows only its last persist: it may flag from there on, never elsewhere.
        touched = any(a <= t and b > t - 900 for a, b in outage_list)
        if not touched:
            assert not e["status"] & 0x80, e
    assert d["long_power_failures"] >= 1 and d["power_failure_log"]
    # The long outage is an hour of meter time (plus the moments around the cut), not an hour
    # times the speed (10.8 million s): the RTC does not run at --speed while the meter is off.
    # Once powered, it does: the boot until the first measured second (0.1 s on a loaded
    # machine) is 300 meter seconds at this speed.
    around = 900
    assert any(LONG_OFF <= b - a <= LONG_OFF + around for a, b in outage_list), [
        (a, b, b - a) for a, b in outage_list if b - a > 100]
    short = sorted(b - a for a, b in outage_list if b - a < LONG_OFF)
    assert short[len(short) // 2] <= 60, "a cut of a fraction of a wall second stays short"
