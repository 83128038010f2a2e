"""The window DSP's claim that no intermediate value reaches 2**30, checked, not argued.

On a 32-bit board MicroPython's small ints hold 31 bits; anything larger becomes a heap object,
so one overflow in the per-sample kernel or the per-window close would make the hot path
allocate on a board while the unix port (63-bit small ints, and heap_lock) never shows it. Here
the bytecode kernel and WindowDsp.close run under CPython with every integer wrapped in a type
that fails the moment an arithmetic result reaches 2**30, on worst-case inputs: full-scale and
clipped samples, offsets, the largest calibration gains and phase leads, the longest windows.
"""
import importlib
import math
import sys
import types

import pytest
from conftest import FIRMWARE

LIMIT = 1 << 30


class Small(int):
    """An int that must stay a MicroPython small int on a 32-bit port."""

    def __new__(cls, v):
        v = int(v)
        if not -LIMIT <= v < LIMIT:
            raise OverflowError("intermediate %d reaches 2**30" % v)
        return super().__new__(cls, v)


def _op(name):
    base = getattr(int, name)

    def f(a, b):
        r = base(int(a), int(b))
        return r if r is NotImplemented else Small(r)

    return f


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__lshift__",
              "__rlshift__", "__rshift__", "__rrshift__", "__and__", "__rand__", "__or__",
              "__ror__", "__xor__", "__rxor__"):
    setattr(Small, _name, _op(_name))
Small.__neg__ = lambda a: Small(-int(a))


@pytest.fixture
def wf():
    """metering.waveform imported under CPython (bytecode twin only), sys state restored."""
    saved_path = list(sys.path)
    saved_mods = dict(sys.modules)
    shim = types.ModuleType("micropython")
    shim.const = lambda x: x
    sys.modules["micropython"] = shim
    sys.modules["metering.waveform_viper"] = None  # an ImportError: the bytecode fallback
    sys.path.insert(0, str(FIRMWARE))
    for name in [m for m in sys.modules if m == "metering" or m.startswith("metering.")]:
        if name != "metering.waveform_viper":
            del sys.modules[name]
    try:
        yield importlib.import_module("metering.waveform")
    finally:
        sys.path[:] = saved_path
        sys.modules.clear()
        sys.modules.update(saved_mods)


class CheckedState(list):
    """The state array: values read back are Small (stores of anything are fine)."""

    def __getitem__(self, k):
        return Small(list.__getitem__(self, k))


def _dsp(wf, vpc, apc, lead, cycles=10):
    d = wf.WindowDsp(wf.calibration(vpc, apc, lead, 3200), 3200, cycles, "bytecode")
    d.st = CheckedState(int(x) for x in d.st)
    return d


def _feed_all(wf, d, v, i):
    v = [Small(x) for x in v]
    i = [Small(x) for x in i]
    closes = 0
    start = 0
    while d.feed(v, i, start, len(v)):
        d.close()
        closes += 1
        start = d.st[wf.START]
    return closes


def _clip(x):
    return max(-32767, min(32767, int(round(x))))


@pytest.mark.parametrize("lead", [-3.0, 0.0, 3.0])
@pytest.mark.parametrize("gain", [0.93, 1.07])
def test_full_scale_never_reaches_2_30(wf, lead, gain):
    vpc = 450 / 32767 * gain  # a divider 7 % off either way, calibrated
    apc = 100 / 32767 * gain
    n = 2880  # 45 cycles: the crossing detector settles (~10), then windows open, close, reopen
    # voltage: an overdriven, clipped sine with a DC offset; current: a full-scale square wave
    # in phase (the largest v*i) then in anti-phase (the largest export)
    v = [_clip(40000 * math.sin(2 * math.pi * 50 * k / 3200) + 300) for k in range(n)]
    for sign in (1, -1):
        i = [32767 * sign if (k % 64) < 32 else -32767 * sign for k in range(n)]
        d = _dsp(wf, vpc, apc, lead)
        d.st[wf.OFF_V] = -300  # offsets that make |v - offset| exceed full scale
        d.st[wf.OFF_I] = 250
        assert _feed_all(wf, d, v, i) >= 2
        assert d.complete and abs(d.f_mhz - 50000) < 20
        assert d.p_mw * sign > 0 and d.i_ma > 0.99 * 100000 * gain


def test_longest_window_and_dead_line(wf):
    # no crossings at all: the window runs to N_MAX with full-scale DC on both channels
    d = _dsp(wf, 450 / 32767, 100 / 32767, 0.0, cycles=50)
    v = [32767] * 4000
    i = [-32767] * 4000
    _feed_all(wf, d, v, i)
    d = _dsp(wf, 450 / 32767, 100 / 32767, 2.0, cycles=50)
    assert _feed_all(wf, d, [0] * 9000, [32767] * 9000) >= 1 and d.f_mhz == 0


def test_the_checker_does_fire(wf):
    with pytest.raises(OverflowError):
        Small(40000) * Small(40000)
    # a current count far off its offset: with the clamp the kernel stays small, without it
    # i'^2 would pass 2**30, so the clamp is load-bearing
    v = [_clip(23000 * math.sin(2 * math.pi * k / 64)) for k in range(1400)]
    for i_max, fails in ((32766, False), (70000, True)):
        d = _dsp(wf, 450 / 32767, 100 / 32767, 0.0)
        d.st[wf.OFF_I] = -32000
        d.st[wf.I_MAX] = i_max
        if fails:
            with pytest.raises(OverflowError):
                _feed_all(wf, d, v, [32767] * 1400)
        else:
            _feed_all(wf, d, v, [32767] * 1400)


def test_the_current_clamp_keeps_the_low_word_small(wf):
    """The clamp was 32767: i2lo (up to 0xFFFF after its mask) + 32767**2 is exactly 2**30."""
    v = [_clip(23000 * math.sin(2 * math.pi * k / 64)) for k in range(200)]
    for i_max, fails in ((32767, True), (None, False)):
        d = _dsp(wf, 450 / 32767, 100 / 32767, 0.0)
        if i_max is not None:
            d.st[wf.I_MAX] = i_max
        d.st[wf.OFF_I] = -32000
        d.st[wf.SYNC] = 1
        d.st[wf.I2_LO] = 0xFFFF  # the largest low word the mask leaves
        if fails:
            with pytest.raises(OverflowError):
                _feed_all(wf, d, v, [32767] * 200)
        else:
            assert d.st[wf.I_MAX] == 32766
            _feed_all(wf, d, v, [32767] * 200)


@pytest.mark.parametrize("lead", [-1.5, 0.0, 1.5])
def test_the_new_sampling_chain_never_reaches_2_30(wf, lead):
    """6400 samples/s, 200 A full scale (the emulated board's ADC): full-scale clipped inputs,
    offsets, a divider and shunt 7 % off either way."""
    for gain in (0.93, 1.07):
        d = wf.WindowDsp(wf.calibration(450 / 32767 * gain, 200 / 32767 * gain, lead, 6400),
                         6400, 10, "bytecode")
        d.st = CheckedState(int(x) for x in d.st)
        n = 5760  # 45 cycles, the first ~10 settling the crossing detector
        v = [_clip(40000 * math.sin(2 * math.pi * 50 * k / 6400) + 300) for k in range(n)]
        i = [32767 if (k % 128) < 64 else -32767 for k in range(n)]
        d.st[wf.OFF_V] = -300
        d.st[wf.OFF_I] = 250
        assert _feed_all(wf, d, v, i) >= 2
        assert d.complete and abs(d.f_mhz - 50000) < 20


@pytest.mark.parametrize("pattern", ["nyquist", "square50", "resonant"])
def test_adversarial_voltage_never_reaches_2_30(wf, pattern):
    """Any int16 samples are allowed input: the voltage at full scale flipping every sample, a
    50 Hz square wave (what drives the crossing detector's band-pass hardest) and one flipping in
    step with the band-pass's own ringing, with the learnt offsets at their limit and the largest
    calibration the DSP accepts at 6400/s (leads of 3 degrees, gains 7 % off)."""
    n = 6400
    if pattern == "nyquist":
        v = [32767 if k % 2 else -32768 for k in range(n)]
    elif pattern == "square50":
        v = [32767 if (k % 128) < 64 else -32768 for k in range(n)]
    else:
        v = [32767 if (k % 128) < 64 else -32768 for k in range(n)]
        v[n // 2:] = [-x for x in v[n // 2:]]  # a phase jump: the band-pass rings hardest
    i = [-32768 if k % 3 else 32767 for k in range(n)]
    for lead in (-3.0, 3.0):
        for off in (-wf.OFFSET_LIMIT, wf.OFFSET_LIMIT):
            d = wf.WindowDsp(wf.calibration(450 / 32767 * 1.07, 200 / 32767 * 1.07, lead, 6400),
                             6400, 10, "bytecode")
            d.st = CheckedState(int(x) for x in d.st)
            d.st[wf.OFF_V] = off
            d.st[wf.OFF_I] = -off
            _feed_all(wf, d, v, i)


def test_calibration_out_of_range_is_refused(wf):
    with pytest.raises(ValueError):
        wf.calibration(450 / 32767 * 1.5, 200 / 32767 * 1.5, 12.0, 6400)
