"""`meterkast run --frontend direct|waveform|ic`: the same emulated meter with each supplier's
front-end measures the same household, and nothing above the front-end can tell them apart
except by the last digit of a measurement."""
import pytest
from helpers import meter
from meterkast.cli import build_parser

START = "2026-06-01T11:55:00Z"  # a June midday: PV export on L1, import on the other phases


def _run(frontend, speed, duration, timeout):
    with meter(p1=None, start=START, speed=speed, duration=duration, frontend=frontend) as emu:
        assert emu.wait(timeout) == 0, emu.stderr[-2000:]
    rs = emu.readings()
    assert len(rs) == duration + 1, (frontend, len(rs))
    return rs


def test_the_three_frontends_agree():
    runs = {kind: {r["t"]: r for r in _run(kind, 300, 600, 60)}
            for kind in ("direct", "waveform", "ic")}
    # each run boots at a slightly different meter second (its boot time x the speed: 0.5 s on
    # a loaded machine is 150 s): compare over the common seconds
    common = sorted(set(runs["direct"]) & set(runs["waveform"]) & set(runs["ic"]))
    assert len(common) > 300
    t0, t1 = common[0], common[-1]
    direct = runs["direct"]

    def grown(rs, k):
        return rs[t1]["reg"][k] - rs[t0]["reg"][k]

    assert grown(direct, 2) + grown(direct, 3) > 300, "ten minutes of June noon export"
    for kind in ("waveform", "ic"):
        rs = runs[kind]
        for k in range(4):  # register growth within the accuracy, + the Wh carry at both ends
            a = grown(rs, k)
            b = grown(direct, k)
            assert abs(a - b) <= 2 + 0.002 * b, (kind, k, a, b)
        for t in common[1:]:  # second by second, the power readings and tariff too
            r = rs[t]
            d = direct[t]
            assert r["tar"] == d["tar"]
            assert abs(r["exp_w"] - d["exp_w"]) <= 3 + 0.002 * d["exp_w"], (kind, r, d)
            assert abs(r["imp_w"] - d["imp_w"]) <= 3 + 0.002 * d["imp_w"], (kind, r, d)
        # ... and it really was another front-end: somewhere the last digit differs
        assert any(rs[t]["exp_w"] != direct[t]["exp_w"] for t in common), kind


def test_waveform_every_sample_in_real_time():
    # at speed 1 the waveform front-end runs every ADC sample (19,200 a second) and keeps up
    rs = _run("waveform", 1, 4, 30)
    assert all(r["exp_w"] > 1000 for r in rs[1:])


def test_run_knows_the_frontends():
    p = build_parser()
    assert p.parse_args(["run", "--frontend", "ic"]).frontend == "ic"
    assert p.parse_args(["run"]).frontend == "direct"
    with pytest.raises(SystemExit):
        p.parse_args(["run", "--frontend", "magic"])
