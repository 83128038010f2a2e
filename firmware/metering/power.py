# meterkast: derived quantities shared by the front-ends, in small ints
# MIT license
from micropython import const

_BIG = const(0x100000)


def power_factor(p_mw, v_dv, i_ma):
    """P / (Vrms Irms) in thousandths, signed like P, 0 without current; no intermediate
    above 2**30 (apparent power reaches 2.6e7 mVA at 60 A and 110 % Un)."""
    s = v_dv * i_ma // 10  # mVA
    if s <= 0:
        return 0
    if -_BIG < p_mw < _BIG:
        pf = p_mw * 1000 // s
    else:
        pf = (p_mw >> 10) * 1000 // ((s >> 10) or 1)
    return 1000 if pf > 1000 else (-1000 if pf < -1000 else pf)
