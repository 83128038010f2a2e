# meterkast: the emulated meter test bench: a reference source drives a front-end, the exact
# energy of the source is the reference (IEC 62053-21 class 1 load points, starting, no-load,
# 24 h conservation)
# MIT license
#
# Runs under the unix port:  micropython -m hal.unix.reference_bench accuracy|distortion|
# starting|no_load|conservation waveform|ic   (MICROPYPATH=firmware:.frozen), one JSON object per
# line; `meterkast accuracy` and the tests read those lines. `accuracy` prints the load points and
# then the distortion points (`distortion` alone prints only those).
#
# Distortion points (hal.unix.distortion): the standard's influence tests with distorted currents
# (90 degree phase-fired: odd harmonics; burst-fired 2 on / 2 off: sub-harmonics; half-wave
# rectified: DC and even harmonics) and a crest-factor-3 current up to Imax, each at several
# positions of the waveform against the sample clock: mains locked to it at exactly 50.000 Hz
# with the waveform shifted by 0, 1/4, 1/2 and 3/4 of a sample, and one mains drifting against
# it (49.97 Hz). Each is compared with the sine of the same peak, measured the same way (the
# reference row, "variation" = the change from it).
#
# Meter: Un = 230 V, Ib = 5 A, Imax = 60 A (a Dutch 5(60) A meter), 50 Hz, 1000 imp/kWh.
# The limits are the class-1 figures of IEC 62053-21 as quoted in the project's reference notes
# (the standard itself is paywalled; the table values there are marked unverified, the
# influence-quantity rows were seen in an excerpt).
import json
import math
import sys
from array import array

from contract import frontend as fe
from contract.reading import ReadingQueue
from hal.unix.frontends import build_measuring
from hal.unix import distortion as dist
from hal.unix.signals import ConstantWorld, Mains
from metering.metrology import Metrology

UN = 230.0
IB = 5.0
IMAX = 60.0
FN = 50.0
MC = 1000  # imp/kWh
WH_MWS = 3600000

_IND = math.acos(0.5)  # PF 0.5 inductive: current lags 60 degrees
_CAP = -math.acos(0.8)  # PF 0.8 capacitive: current leads 36.87 degrees
_ALL = (0, 1, 2)

# (label, I, phi, V factor, f factor, loaded phases, class-1 limit %, reference label or None,
#  influence limit % (the allowed change from the reference point), harmonics)
# the harmonics influence test as commonly described (5th: 10 % in V, 40 % in I, in phase at
# 0.5 Imax; the conditions are not in the reference notes, only its 0.8 % allowance is)
_H5 = ((5, 0.10, 0.0),), ((5, 0.40, 0.0),)


def load_points():
    p = []
    for f, lim in ((0.05, 1.5), (0.1, 1.0), (0.5, 1.0), (1.0, 1.0)):
        p.append(("%g Ib PF 1" % f, f * IB, 0.0, 1, 1, _ALL, lim, None, 0, None))
    for f in (0.5, 1.0):
        p.append(("%g Imax PF 1" % f, f * IMAX, 0.0, 1, 1, _ALL, 1.0, None, 0, None))
    for tag, phi in (("0.5 ind", _IND), ("0.8 cap", _CAP)):
        for f, lim in ((0.1, 1.5), (0.2, 1.0), (1.0, 1.0)):
            p.append(("%g Ib PF %s" % (f, tag), f * IB, phi, 1, 1, _ALL, lim, None, 0, None))
        p.append(("Imax PF %s" % tag, IMAX, phi, 1, 1, _ALL, 1.0, None, 0, None))
    for vf in (0.9, 1.1):
        p.append(("Ib PF 1, %d%% Un" % round(vf * 100), IB, 0.0, vf, 1, _ALL, 1.0, "1 Ib PF 1", 0.7,
                  None))
        p.append(("Ib PF 0.5 ind, %d%% Un" % round(vf * 100), IB, _IND, vf, 1, _ALL, 1.0,
                  "1 Ib PF 0.5 ind", 1.0, None))
    for ff in (0.98, 1.02):
        p.append(("Ib PF 1, %g Hz" % (FN * ff), IB, 0.0, 1, ff, _ALL, 1.0, "1 Ib PF 1", 0.5, None))
        p.append(("Ib PF 0.5 ind, %g Hz" % (FN * ff), IB, _IND, 1, ff, _ALL, 1.0,
                  "1 Ib PF 0.5 ind", 0.7, None))
    p.append(("0.5 Imax PF 1, 5th harmonic", 0.5 * IMAX, 0.0, 1, 1, _ALL, 1.0, "0.5 Imax PF 1",
              0.8, _H5))
    for ph in _ALL:
        p.append(("Ib PF 1, L%d only" % (ph + 1), IB, 0.0, 1, 1, (ph,), 2.0, None, 0, None))
        p.append(("Ib PF 0.5 ind, L%d only" % (ph + 1), IB, _IND, 1, 1, (ph,), 2.0, None, 0, None))
    p.append(("Ib PF 1 export", -IB, 0.0, 1, 1, _ALL, 1.0, None, 0, None))
    p.append(("Ib PF 0.5 ind export", -IB, _IND, 1, 1, _ALL, 1.0, None, 0, None))
    return p


def _mains(irms, phi, vf=1, ff=1, loaded=_ALL, harmonics=None):
    world = ConstantWorld(UN * vf, irms, phi, FN * ff, loaded)
    if harmonics is None:
        return Mains(world, 3)
    return Mains(world, 3, harmonics[0], harmonics[1])


def measure_point(kind, point, seconds=2, mains=None):
    """(measured mWs, exact mWs, the last second's readings, the Mains) over `seconds` whole
    meter seconds after one to settle."""
    label, irms, phi, vf, ff, loaded, lim, ref, ilim, harm = point
    if mains is None:
        mains = _mains(irms, phi, vf, ff, loaded, harm)
    front = build_measuring(kind, mains)
    out = array("i", [0] * fe.FIELDS)
    front.measure(0, out)
    before = _pending(front)
    measured = 0
    exact = 0.0
    for s in range(1, seconds + 1):
        front.measure(s, out)
        measured += out[fe.ENERGY_MWS] + out[fe.ENERGY_MWS + 1] + out[fe.ENERGY_MWS + 2]
        mains.load(s)
        for p in range(3):
            exact += mains.exact_mws(p)
    return measured + _pending(front) - before, exact, out, mains


def _pending(front):
    """Energy a front-end measured but has not delivered yet (a waveform window still open)."""
    if not hasattr(front, "pending_mws"):
        return 0.0
    total = 0.0
    for p in range(front.phases):
        hi, lo = front.pending_mws(p)
        total += hi + lo / 32768
    return total


class DistortedWorld(ConstantWorld):
    """Un on every phase and a distorted current (a CurrentShape, peak amplitudes in A) on the
    loaded ones (L1 only by default: on a balanced load the three phases' edges fall at three
    different sample phases and partly average out; one phase shows the worst case), its
    pattern shifted by `shift` line cycles against the sample clock."""

    def __init__(self, shape, freq=FN, shift=0.0, loaded=(0,)):
        ConstantWorld.__init__(self, UN, 0.0, 0.0, freq, loaded)
        self.shape_ = shape
        self.shift = shift

    def fill(self, second, m):
        ConstantWorld.fill(self, second, m)
        p = self.shape_.period
        c = self.freq * second + self.shift
        m.cycles = c - math.floor(c / p) * p  # the pattern's own period (burst: 4 cycles)
        for ph in range(m.phases):
            m.shape[ph] = self.shape_ if ph in self.loaded else None


# the positions of the waveform against the sample clock: (label, frequency Hz, shift in samples
# of the 128-per-cycle clock); locked at 50.000 Hz the edges fall on the same sample phase every
# cycle, so the position decides the error unless the sampling chain averages it away
_POSITIONS = (("locked +0", FN, 0.0), ("locked +1/4", FN, 0.25), ("locked +1/2", FN, 0.5),
              ("locked +3/4", FN, 0.75), ("49.97 Hz", 49.97, 0.0))
_SAMPLES_PER_CYCLE = 128
_PEAK_IB = IB * math.sqrt(2)
_PEAK_IMAX = IMAX * math.sqrt(2)
# IEC 62053-21 class 1 influence allowance for each distortion (the DC and even harmonics row was
# seen in an excerpt; odd and sub-harmonics at 3.0 % are the commonly cited figures,
# unverified). The crest-factor point is no influence test of the standard: it must meet the
# plain class-1 limit at its current.
_LIMIT_CLASS = 1.0
_LIMIT_DISTORTION = 3.0


def distortion_tests():
    """[(label, shape, reference label, reference shape, influence limit or None)]."""
    tests = []
    for tag, pk in (("Ib", _PEAK_IB), ("Imax", _PEAK_IMAX)):
        tests.append(("phase-fired 90 deg, %s sine" % tag, dist.phase_fired(pk),
                      "sine %.1f A peak" % pk, dist.sine(pk), _LIMIT_DISTORTION))
    tests.append(("burst-fired 2 on 2 off, Ib", dist.burst_fired(_PEAK_IB),
                  "sine %.1f A peak" % _PEAK_IB, dist.sine(_PEAK_IB), _LIMIT_DISTORTION))
    # the half-wave test runs at Imax / sqrt2 rms: a peak of sqrt2 Imax
    pk = 2 * IMAX / math.sqrt(2)
    tests.append(("half-wave rectified, Imax/sqrt2", dist.half_wave(pk),
                  "sine %.1f A peak" % pk, dist.sine(pk), _LIMIT_DISTORTION))
    for tag, rms in (("Ib", IB), ("Imax", IMAX)):
        pk = 3 * rms
        tests.append(("crest factor 3, %s" % tag, dist.crest_factor_3(pk),
                      "sine %.1f A rms" % rms, dist.sine(rms * math.sqrt(2)), None))
    return tests


def _distortion_row(kind, label, shape, freq, shift_samples, seconds=1):
    mains = Mains(DistortedWorld(shape, freq, shift_samples / _SAMPLES_PER_CYCLE), 3)
    point = (label, 0.0, 0.0, 1, 1, _ALL, _LIMIT_CLASS, None, 0, None)
    m, e, out, _ = measure_point(kind, point, seconds, mains)
    err = (m - e) / abs(e) * 100
    row = {"kind": "point", "frontend": kind, "point": label, "error_pct": err,
           "limit_pct": _LIMIT_CLASS, "measured_mws": m, "exact_mws": e,
           "v_dv": out[fe.VOLTAGE_DV], "i_ma": out[fe.CURRENT_MA], "pf": out[fe.POWER_FACTOR],
           "f_mhz": out[fe.FREQUENCY_MHZ], "distortion": True}
    row.update(_readings_accuracy(mains, 0, out))
    return row


def _readings_accuracy(mains, p, out):
    """The true RMS current and power factor of phase p over the loaded (last) second, and the
    errors of the front-end's readings of them (Irms in %, PF in absolute units)."""
    v_true, i_true = mains.rms(p)
    pf_true = mains.exact_mws(p) / 1000 / (v_true * i_true) if i_true > 0 else 0.0
    i_ma = out[fe.CURRENT_MA + p]
    return {"irms_true_ma": i_true * 1000,
            "irms_error_pct": (i_ma / 1000 / i_true - 1) * 100 if i_true > 0 else 0.0,
            "pf_true": pf_true, "pf_error": out[fe.POWER_FACTOR + p] / 1000 - pf_true}


def distortion(kind, emit):
    refs = {}
    for label, shape, ref_label, ref_shape, lim in distortion_tests():
        if ref_label not in refs:
            row = _distortion_row(kind, ref_label, ref_shape, FN, 1 / 3)
            refs[ref_label] = row["error_pct"]
            emit(row)
        for pos, freq, shift in _POSITIONS:
            row = _distortion_row(kind, "%s, %s" % (label, pos), shape, freq, shift)
            if lim is not None:
                row["reference"] = ref_label
                row["variation_pct"] = row["error_pct"] - refs[ref_label]
                row["variation_limit_pct"] = lim
            emit(row)


def accuracy(kind, emit):
    errors = {}
    for point in load_points():
        label, irms, phi, vf, ff, loaded, lim, ref, ilim, harm = point
        m, e, out, mains = measure_point(kind, point)
        err = (m - e) / abs(e) * 100
        errors[label] = err
        row = {"kind": "point", "frontend": kind, "point": label, "error_pct": err, "limit_pct": lim,
               "measured_mws": m, "exact_mws": e, "v_dv": out[fe.VOLTAGE_DV + loaded[0]],
               "i_ma": out[fe.CURRENT_MA + loaded[0]], "pf": out[fe.POWER_FACTOR + loaded[0]],
               "f_mhz": out[fe.FREQUENCY_MHZ]}
        row.update(_readings_accuracy(mains, loaded[0], out))
        if ref is not None:
            row["reference"] = ref
            row["variation_pct"] = err - errors[ref]
            row["variation_limit_pct"] = ilim
        emit(row)


class BenchClock:
    """The bench's clock: meter second s is UTC t0 + s, no adjustments."""

    speed = 1

    def __init__(self, t0=0):
        self.t0 = t0

    def mono(self):
        return 0

    def utc_at(self, s):
        return self.t0 + s

    def take_adjustment(self):
        return 0


def _metrology(front, t0=0):
    return Metrology(BenchClock(t0), front, ReadingQueue(), int(UN * 10))


def starting(kind, emit):
    """Ist = 0.004 Ib on every phase at Un, PF 1: the first pulse must come within 1.2 times the
    theoretical time (the ATM90E26 datasheet's criterion), and every phase must register."""
    ist = 0.004 * IB
    mains = _mains(ist, 0.0)
    front = build_measuring(kind, mains)
    m = _metrology(front)
    theory = WH_MWS * 1000 / MC / (3 * UN * ist * 1000)  # s per pulse at the exact power
    limit = int(1.2 * theory) + 1
    first = None
    per_phase = [0, 0, 0]
    for s in range(limit + 1):
        m.step()
        for p in range(3):
            per_phase[p] += m._fe[fe.ENERGY_MWS + p]
        if first is None and m.pulse.pulses:
            first = s + 1  # seconds elapsed at the end of second s
    emit({"kind": "starting", "frontend": kind, "ist_ma": ist * 1000, "theory_s": theory,
          "limit_s": limit, "first_pulse_s": first, "phase_mws": per_phase})


def no_load(kind, emit):
    """115 % Un, current circuits open (only ADC offset and noise on the current channels),
    for the IEC 62053-21 minimum test time 600e6 / (k m Un Imax) minutes: at most one pulse."""
    minutes = 600e6 / (MC * 3 * UN * IMAX)
    seconds = int(minutes * 60) + 1
    front = build_measuring(kind, _mains(0.0, 0.0, 1.15))
    m = _metrology(front)
    for s in range(seconds):
        m.step()
    wh = m.registers.wh
    emit({"kind": "no_load", "frontend": kind, "seconds": seconds, "pulses": m.pulse.pulses,
          "registered_mws": sum(m.registers.total_mws(r) for r in range(4)),
          "wh": [wh[0], wh[1], wh[2], wh[3]]})


def main(argv):
    what = argv[0]
    kinds = argv[1:] or ["waveform", "ic"]

    def emit(row):
        print(json.dumps(row))

    for kind in kinds:
        if what == "accuracy":
            accuracy(kind, emit)
            distortion(kind, emit)
        elif what == "distortion":
            distortion(kind, emit)
        elif what == "starting":
            starting(kind, emit)
        elif what == "no_load":
            no_load(kind, emit)
        elif what == "conservation":
            from hal.unix.conservation import conservation

            conservation(kind, emit)
        else:
            raise SystemExit("unknown bench %r" % what)


if __name__ == "__main__":
    main(sys.argv[1:])
