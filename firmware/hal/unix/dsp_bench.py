# meterkast bench: the window DSP's throughput (viper, bytecode) and each emulated front-end's
# cost per meter second, under MicroPython
# MIT license
#
# Run by `meterkast bench metrology` (micropython -m hal.unix.dsp_bench, MICROPYPATH=firmware);
# prints "dsp IMPL SAMPLES_PER_S" and "emu KIND FULL_RATE US_PER_METER_S" lines.
import math
import time
from array import array

from contract import frontend as fe
from hal.unix.frontends import FS, build_measuring
from hal.unix.signals import ConstantWorld, Mains
from metering import waveform as wf


def dsp_rates(fs=FS, n=FS):
    """Samples per second (both channels counted) through the kernel and the window closes at
    the emulated board's rate: the real-time need is 2 * fs * phases."""
    v = array("h", [int(23000 * math.sin(2 * math.pi * 50 * k / fs)) + 37 for k in range(n)])
    i = array("h", [int(3000 * math.sin(2 * math.pi * 50 * k / fs - 0.5)) - 21 for k in range(n)])
    cal = wf.calibration(450 / 32767, 200 / 32767, 0.6, fs)
    for impl in ("viper", "bytecode"):
        d = wf.WindowDsp(cal, fs, 10, impl)
        reps = 30 if impl == "viper" else 4
        best = None
        for _ in range(3):
            t = time.ticks_us()
            for _ in range(reps):
                s = 0
                while d.feed(v, i, s, n):
                    d.close()
                    s = d.st[wf.START]
            dt = time.ticks_diff(time.ticks_us(), t)
            best = dt if best is None or dt < best else best
        print("dsp", impl, reps * n * 2 * 1000000 // best)


def frontend_costs():
    out = array("i", [0] * fe.FIELDS)
    for kind, full in (("waveform", True), ("waveform", False), ("ic", True)):
        m = Mains(ConstantWorld(230.0, 5.0, 0.5, 50.0, (0, 1, 2)), 3)
        f = build_measuring(kind, m, full_rate=full)
        secs = 20 if full and kind == "waveform" else 200
        t = time.ticks_us()
        for s in range(secs):
            f.measure(s, out)
        print("emu", kind, int(full), time.ticks_diff(time.ticks_us(), t) // secs)


if __name__ == "__main__":
    print("need", 2 * FS * 3)
    dsp_rates()
    frontend_costs()
