"""Board figures: compiled firmware size per board, and the memory budget of the whole firmware.

The whole firmware is the meter with everything switched on: metrology, P1 encrypted with
AES-GCM, the quarter-hour profile and registers on flash, and P3 (DLMS server with management
keys). It runs an accelerated day (86,400 meter seconds at 8000x) under `micropython -X
heapsize=N`. Figures:

* the heap the firmware still holds after a collection at the end of the day (its `mem` event);
* the smallest heap with which the day completes, by bisection in 8 KiB steps, for the
  compiled .mpy tree a board receives; run from source (as `meterkast run` does) the answer is
  not monotonic, because compiling fragments the heap, so there the smallest heap from which
  every larger one works is given. A heap just too small often does not fail: the meter stalls
  in garbage collection, and the run counts as failed when it takes 3x a normal day.
  The unix port's objects are 64-bit: a 32-bit board needs less for the same firmware;
* the .mpy bytes per board build, which a board loads into RAM unless frozen.

BUDGET_SOURCE / BUDGET_MPY are the claims tests/host/test_memory_budget.py holds the firmware to.
"""
import shutil
import tempfile
import time
from pathlib import Path

from meterkast import firmware_dir
from meterkast.emu.emulator import Emulator
from meterkast.image.build import build, compile_tree, march_for
from meterkast.keys.file import write_keys

BUDGET_SOURCE = "352K"
BUDGET_MPY = "328K"
DAY = 86400
SPEED = 8000
START = "2026-06-01T00:00:00Z"
# Fixed keys: the heap layout (and so the smallest heap that works) depends on the bytes of
# the keys through dict and string hashing; random keys would make the figures wander.
KEYS = {
    "system_title": "4D4B530000000007",
    "p1": {"ek": "000102030405060708090A0B0C0D0E0F", "ak": "101112131415161718191A1B1C1D1E1F"},
    "management": {"ek": "202122232425262728292A2B2C2D2E2F", "ak": "303132333435363738393A3B3C3D3E3F",
                   "client_system_title": "4D4B480000000001"},
}


def whole_firmware_day(workdir, heapsize=None, firmware=None, duration=DAY, timeout=None,
                       p3="pty"):
    """Run the whole firmware for `duration` meter seconds; returns (ok, mem event, error).
    `p3`: the P3 SPEC (tcp-wrapper:HOST:PORT builds the wrapper framing instead of HDLC).
    A MemoryError ends the run at once: in a task it would leave the meter running without it
    (on a board the watchdog resets it; the emulator has none)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keys = workdir / "keys.json"
    write_keys(str(keys), KEYS, force=True)  # mode 0600, as run requires
    state = Path(tempfile.mkdtemp(prefix="state-", dir=workdir))
    if timeout is None:
        timeout = 30 + duration / 1000  # 8000x runs a day in ~12 s; generous for a loaded machine
    emu = Emulator(p1="pty", p3=p3, start=START, speed=SPEED, duration=duration, keys=keys,
                   state=state, report=False, heapsize=heapsize, firmware=firmware)
    emu.start()
    failed = emu.wait_event(lambda e: e.get("ev") == "text" and "Error" in e.get("msg", ""), timeout)
    if failed or emu.alive():
        emu.kill()
    time.sleep(0.1)  # the last stdout lines
    emu.close()
    shutil.rmtree(state, ignore_errors=True)
    mem = [e for e in emu.events if e.get("ev") == "mem"]
    texts = [e.get("msg", "") for e in emu.events if e.get("ev") == "text"]
    ok = (not failed and emu.proc.returncode == 0 and bool(mem)
          and any(e.get("ev") == "stopped" for e in emu.events))
    error = "" if ok else (texts[-1] if texts else "exit %s" % emu.proc.returncode)
    return ok, (mem[-1] if mem else None), error


def compiled_emulator_tree(out):
    """The emulator's firmware (unix HAL included) as .mpy, as a board would hold it."""
    return compile_tree(firmware_dir(), out, march_for("emu"), exclude=(), strict=False)


def smallest_heap(workdir, firmware, lo_k, hi_k, timeout, step_k=8):
    """Smallest heap (KiB, a multiple of step_k) in which the whole firmware runs a day, by
    bisection between lo_k (assumed to fail) and hi_k (must pass). A heap just too small does
    not always fail fast: the meter stalls in garbage collection, so a run that takes longer
    than `timeout` counts as failed."""
    if not whole_firmware_day(workdir, "%dK" % hi_k, firmware, timeout=timeout)[0]:
        raise RuntimeError("the whole firmware does not run a day in %d KiB" % hi_k)
    lo, hi = lo_k // step_k, hi_k // step_k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if whole_firmware_day(workdir, "%dK" % (mid * step_k), firmware, timeout=timeout)[0]:
            hi = mid
        else:
            lo = mid
    return hi * step_k


def stable_heap(workdir, firmware, lo_k, hi_k, step_k=8):
    """From source the result is not monotonic (compiling leaves the heap fragmented, and the
    8 KiB GHASH tables need one contiguous block): the smallest heap from which every step up
    to hi_k passes, on ten meter minutes each."""
    stable = hi_k
    for k in range(hi_k - step_k, lo_k - 1, -step_k):
        if not whole_firmware_day(workdir, "%dK" % k, firmware, duration=600, timeout=15)[0]:
            break
        stable = k
    return stable


def run(emit):
    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        tmp = Path(tmp)
        for target in ("rp2", "esp32"):
            files = build(target, tmp / target)["files"]
            emit("board_%s_mpy_bytes" % target, sum(f["size"] for n, f in files.items() if n.endswith(".mpy")), "B")
            emit("board_%s_source_bytes" % target, sum(f["source_size"] for f in files.values()), "B")
            emit("board_%s_modules" % target, len(files), "files")
        t0 = time.monotonic()
        ok, mem, err = whole_firmware_day(tmp / "run")
        if not ok:
            raise RuntimeError("the whole firmware did not run a day: %s" % err)
        day_wall = time.monotonic() - t0
        emit("board_day_at_%dx_wall" % SPEED, day_wall, "s")
        emit("board_heap_live_end_of_day", mem["live"], "B")
        compiled = tmp / "mpy"
        compiled_emulator_tree(compiled)
        for name, fw, budget in (("source", None, BUDGET_SOURCE), ("mpy", compiled, BUDGET_MPY)):
            ok, mem, err = whole_firmware_day(tmp / "run", budget, fw)
            emit("board_heap_budget_%s" % name, int(budget[:-1]), "KiB")
            emit("board_heap_budget_%s_day_ok" % name, int(ok), "bool")
            if ok:
                emit("board_heap_live_end_of_day_%s_at_budget" % name, mem["live"], "B")
        timeout = max(30.0, 3 * day_wall)
        emit("board_heap_min_mpy", smallest_heap(tmp / "bisect", compiled, 192, int(BUDGET_MPY[:-1]), timeout), "KiB")
        emit("board_heap_min_source_stable", stable_heap(tmp / "scan", None, 200, int(BUDGET_SOURCE[:-1])), "KiB")
