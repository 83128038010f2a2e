# meterkast: derived quantities shared by the front-ends, in small ints
# MIT license
from micropython import const

_BIG = const(0x100000)


def power_factor(p_mw, v_dv, i_ma):
    """P / (Vrms Irms) in thousandths, signed like P, 0 without current; no intermediate
    above 2**30 for v_dv < 2**14 (1638 V) and any i_ma below 2**18 (262 A: the 200 A peak full
    scale, clipped, is at most 214 A rms with a 7 % gain)."""
    if i_ma >= 0x10000:  # above 65.5 A: apparent power in 16 mVA, P in 16 mW
        i_ma >>= 4
        p_mw >>= 4
    s = v_dv * i_ma // 10  # mVA (or 16 mVA)
    if s <= 0:
        return 0
    if -_BIG < p_mw < _BIG:
        pf = p_mw * 1000 // s
    else:
        pf = (p_mw >> 10) * 1000 // ((s >> 10) or 1)
    return 1000 if pf > 1000 else (-1000 if pf < -1000 else pf)
