# meterkast: the emulated meter test bench: a reference source drives a front-end, the exact
# energy of the source is the reference (IEC 62053-21 class 1 load points, starting, no-load,
# 24 h conservation)
# MIT license
#
# Runs under the unix port:  micropython -m hal.unix.reference_bench accuracy|starting|
# no_load|conservation waveform|ic   (MICROPYPATH=firmware:.frozen), one JSON object per line;
# `meterkast accuracy` and the tests read those lines.
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


def measure_point(kind, point, seconds=2):
    """(measured mWs, exact mWs) over `seconds` whole meter seconds after one to settle."""
    label, irms, phi, vf, ff, loaded, lim, ref, ilim, harm = point
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
    return measured + _pending(front) - before, exact, out


def _pending(front):
    """Energy a front-end measured but has not delivered yet (a waveform window still open)."""
    if not hasattr(front, "pending_mws"):
        return 0.0
    total = 0.0
    for p in range(front.phases):
        hi, lo = front.pending_mws(p)
        total += hi + lo / 32768
    return total


def accuracy(kind, emit):
    errors = {}
    for point in load_points():
        label, irms, phi, vf, ff, loaded, lim, ref, ilim, harm = point
        m, e, out = measure_point(kind, point)
        err = (m - e) / abs(e) * 100
        errors[label] = err
        row = {"kind": "point", "frontend": kind, "point": label, "error_pct": err, "limit_pct": lim,
               "measured_mws": m, "exact_mws": e, "v_dv": out[fe.VOLTAGE_DV + loaded[0]],
               "i_ma": out[fe.CURRENT_MA + loaded[0]], "pf": out[fe.POWER_FACTOR + loaded[0]],
               "f_mhz": out[fe.FREQUENCY_MHZ]}
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
