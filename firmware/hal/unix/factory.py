# meterkast: the emulated production line: every meter's calibration is found by measurement
# MIT license
#
# A real meter leaves the factory with constants that a calibration bench measured: the bench
# applies reference loads, compares the meter's own readings with its reference instrument and
# writes the corrections. The meter never learns its sensors' errors any other way. The
# emulator does the same here, so the accuracy table tests the whole chain (sensor errors,
# calibration by measurement, DSP) rather than a calibration that was read out of the sensor
# model. The model-derived constants (WaveformSource / ChipSet .factory_calibration()) stay as
# the yardstick that tests/fw/test_frontend_calibration.py holds this procedure to.
#
# The procedure, in the order the ADE7758 calibration notes give (gain at Ib and PF 1, phase at
# Ib and PF 0.5 inductive), all elements at once, reference conditions: sinusoidal, Un, 50 Hz.
#   1. PF 1 with the design constants loaded. Waveform front-end: the current gain from the Irms
#      reading (1 mA in 5 A: 2e-4 resolution), the voltage gain from the energy over whole
#      seconds against the bench's reference energy (so P, the billed quantity, is exact and the
#      Vrms reading carries the Irms reading's rounding). Metering IC: AVGAIN and AIGAIN from
#      VRMS and IRMSA (fine LSBs), AWGAIN from AENERGYA against the reference energy.
#   2. PF 0.5 inductive with those gains loaded: energy / reference gives the current path's
#      phase lead d (CT lead, plus the V-to-I conversion delay of a multiplexed ADC), stored as
#      degrees (waveform) or PHCALA steps of 1/894.9 kHz (IC).
#   3. Step 1 saw cos(d) of the power (its phase was not yet corrected), so its power gain is
#      1 / cos(d) too large: that factor comes out again.
# DC offsets are learnt by the window DSP itself, the current's only at no load (a load's DC is
# not an offset): step 0 applies Un without current, and the offsets learnt on the bench are
# stored as the meter's starting values, as a production line would store them.
#
# Reference energy: the bench's exact integral of the applied waveforms (hal.unix.signals), the
# role of the reference meter on a real bench. Emulator code: floats are fine here.
import math
from array import array

from contract import frontend as fe
from hal.unix.signals import ConstantWorld, Mains

_FULL = 0x400000  # ADE7953 gain registers: 1.0
_PF_HALF = math.acos(0.5)


class _BenchSource(ConstantWorld):
    """The calibration bench's source: a clean sine (no harmonics) on every element. Its phase
    is a third of a sample period off the ADC's sampling instants, as any real source's would
    be: a zero crossing that falls exactly on a sample (the emulator's t = 0) makes the window
    edges, and with them the RMS readings of a window, jitter by a sample in the noise."""

    def fill(self, second, m):
        ConstantWorld.fill(self, second, m)
        c = m.cycles + 1 / 192  # a third of 1/64 cycle
        m.cycles = c - math.floor(c)


def _bench(phases, phi, un, ib, f):
    return Mains(_BenchSource(un, ib, phi, f, tuple(range(phases))), phases, (), ())


def _run(front, mains, seconds):
    """Per phase: (energy / reference energy, mean Vrms in 0.1 V, mean Irms in mA) over
    `seconds` whole seconds after one settling second. An ADC front-end's windows straddle
    seconds: its open window is taken into account at both ends, so the comparison covers
    exactly the same stretch of waveform as the reference."""
    n = mains.phases
    out = array("i", [0] * fe.FIELDS)
    front.measure(0, out)
    pending = getattr(front, "pending_mws", None)
    energy = [0.0] * n
    exact = [0.0] * n
    volts = [0] * n
    amps = [0] * n
    for p in range(n):
        if pending is not None:
            hi, lo = pending(p)
            energy[p] -= hi + lo / 32768
    for s in range(1, seconds + 1):
        front.measure(s, out)
        mains.load(s)
        for p in range(n):
            energy[p] += out[fe.ENERGY_MWS + p]
            exact[p] += mains.exact_mws(p)
            volts[p] += out[fe.VOLTAGE_DV + p]
            amps[p] += out[fe.CURRENT_MA + p]
    for p in range(n):
        if pending is not None:
            hi, lo = pending(p)
            energy[p] += hi + lo / 32768
    return ([energy[p] / exact[p] if exact[p] else 0.0 for p in range(n)],
            [volts[p] / seconds for p in range(n)],
            [amps[p] / seconds for p in range(n)])


def _lead(ratio):
    """The current path's phase lead d (rad) from energy / reference at PF 0.5 inductive,
    measured with the gains of step 1, which hold 1 / cos(d) too much (step 1 saw cos(d)):
    ratio = cos(60 deg - d) / (cos 60 deg cos d) = 1 + tan 60 deg tan d, exactly."""
    return math.atan((ratio - 1) / math.tan(_PF_HALF))


def calibrate_waveform(sensors, phases=3, seed=1, fs=None, un=230.0, ib=5.0, f=50.0,
                       seconds=2):
    """[(volts_per_count, amps_per_count, lead_deg, v_offset, i_offset)] per phase, measured."""
    from hal.unix.frontends import FS
    from hal.unix.waveform_source import WaveformSource
    from metering import waveform as wf
    from metering.adc_frontend import AdcFrontend

    def measure(phi, cal, amps=ib):
        mains = _bench(phases, phi, un, amps, f)
        src = WaveformSource(mains, sensors, fs or FS, seed=seed)
        if cal is None:  # the design values: what the board's divider and shunt should give
            cal = [(src.volts_per_count, src.amps_per_count, 0.0, 0, 0)] * phases
        front = AdcFrontend(src, cal, True, int(ib * 1000), int(un * 10))
        return _run(front, mains, seconds), cal, front

    # 0. no load, Un applied: the window DSP learns both channels' ADC offsets (the current's
    # only from windows without load, so this is where a meter first learns it)
    _, design, front = measure(0.0, None, 0.0)
    offsets = [(front.dsp[p].st[wf.OFF_V], front.dsp[p].st[wf.OFF_I]) for p in range(phases)]
    design = [(c[0], c[1], 0.0, offsets[p][0], offsets[p][1]) for p, c in enumerate(design)]
    (ratio, _, amps), _, _ = measure(0.0, design)
    gains = []
    for p in range(phases):
        vpc, apc = design[p][0], design[p][1]
        apc2 = apc * ib * 1000 / amps[p]
        gains.append((vpc * apc / apc2 / ratio[p], apc2))  # P ~ vpc * apc: exact at Ib
    cal = [(gains[p][0], gains[p][1], 0.0) + offsets[p] for p in range(phases)]
    (ratio, _, _), _, front = measure(_PF_HALF, cal)
    out = []
    for p in range(phases):
        d = _lead(ratio[p])
        st = front.dsp[p].st
        out.append((gains[p][0] * math.cos(d), gains[p][1], d * 180 / math.pi, st[wf.OFF_V],
                    offsets[p][1]))
    return out


def calibrate_ic(sensors, phases=3, seed=1, un=230.0, ib=5.0, f=50.0, seconds=2):
    """[(AVGAIN, AIGAIN, AWGAIN, PHCALA)] per phase, measured through the SPI driver."""
    from hal.unix.metering_ic import CLOCK_HZ, ChipSet
    from metering import ade7953 as ade
    from metering.ic_frontend import BOARD_SCALE, IcFrontend

    def measure(phi, cal):
        mains = _bench(phases, phi, un, ib, f)
        chipset = ChipSet(mains, sensors, seed)
        chips = [ade.Ade7953(chipset.bus, pin) for pin in chipset.pins]
        front = IcFrontend(chips, cal, ib_ma=int(ib * 1000), un_dv=int(un * 10),
                           advance=chipset.run_until)
        ratio = _run(front, mains, seconds)[0]
        return ratio, [c.read(ade.VRMS) for c in chips], [c.read(ade.IRMSA) for c in chips]

    ratio, vrms, irms = measure(0.0, [(_FULL, _FULL, _FULL, 0)] * phases)
    gains = []
    for p in range(phases):
        av = _FULL * un * 10 * BOARD_SCALE[0] / vrms[p]
        ai = _FULL * ib * 1000 * BOARD_SCALE[1] / irms[p]
        # the energy was measured with unit V and I gains; those now change it by av * ai
        aw = _FULL * _FULL * _FULL / (ratio[p] * av * ai)
        gains.append((int(round(av)), int(round(ai)), aw))
    ratio = measure(_PF_HALF, [(g[0], g[1], int(round(g[2])), 0) for g in gains])[0]
    out = []
    for p in range(phases):
        d = _lead(ratio[p])
        steps = int(round(d / (2 * math.pi * f) * CLOCK_HZ))
        phcal = (0x200 | -steps) if steps < 0 else steps  # sign-magnitude: + delays the current
        g = gains[p]
        out.append((g[0], g[1], int(round(g[2] * math.cos(d))), phcal))
    return out


def calibrate(kind, sensors, phases=3, seed=1, un_dv=2300, ib_ma=5000):
    """The measured calibration of a `kind` front-end fitted with `sensors`."""
    if kind == "waveform":
        return calibrate_waveform(sensors, phases, seed, un=un_dv / 10, ib=ib_ma / 1000)
    if kind == "ic":
        return calibrate_ic(sensors, phases, seed, un=un_dv / 10, ib=ib_ma / 1000)
    raise ValueError("no calibration bench for %r" % kind)
