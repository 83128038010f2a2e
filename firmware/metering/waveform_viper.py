# meterkast: the native (viper) sample kernel of the window DSP
# MIT license
#
# Bit for bit the same algorithm as metering.waveform.kernel (read that one first; the state
# words are documented there). It lives in its own module so that a port without a native
# emitter (a SyntaxError when this source compiles) or an .mpy built for another architecture
# (a ValueError at import) costs only this file: metering.waveform falls back to bytecode.
#
# Portable between 32-bit viper (boards) and 64-bit viper (unix x64): every intermediate value
# stays below 2**30 in magnitude, so a 32-bit machine word never overflows. ptr32 loads are
# sign-extended by hand with the -2**31 word kept in the state (x64 loads zero-extend; no big
# literal appears in the code), ptr16 loads with 0x8000.
import micropython
from micropython import const

# state word indices (the consts of metering.waveform, repeated: viper needs literals)
_E_HI = const(0)
_E_LO = const(1)
_V2_HI = const(2)
_V2_LO = const(3)
_I2_HI = const(4)
_I2_LO = const(5)
_SUM_V = const(6)
_SUM_I = const(7)
_N = const(8)
_OFF_V = const(9)
_OFF_I = const(10)
_CAL_X = const(11)
_CAL_Y = const(12)
_I_MAX = const(13)
_PREV = const(14)
_RUN = const(15)
_ARMED = const(16)
_CYCLES = const(17)
_TARGET = const(18)
_D_OPEN = const(19)
_D_CAND = const(20)
_CLOSED = const(21)
_SYNC = const(22)
_N_MAX = const(23)
_START = const(24)
_SIGN = const(25)
_HYST = const(26)
_LAST_P = const(27)
_RES_Y1 = const(28)
_RES_Y2 = const(29)
_RES_X2 = const(30)
_RES_A = const(31)
_RES_E = const(32)
_RES_G = const(33)
_GAP = const(34)
_MIN_GAP = const(35)
_CONFIRM = const(3)


@micropython.viper
def kernel(st: ptr32, v: ptr16, i: ptr16, n: int):
    m = st[_SIGN]
    k = st[_START]
    ehi = (st[_E_HI] ^ m) - m
    elo = st[_E_LO]
    v2hi = st[_V2_HI]
    v2lo = st[_V2_LO]
    i2hi = st[_I2_HI]
    i2lo = st[_I2_LO]
    sv = (st[_SUM_V] ^ m) - m
    si = (st[_SUM_I] ^ m) - m
    cnt = (st[_N] ^ m) - m  # negative while the crossing detector settles
    offv = (st[_OFF_V] ^ m) - m
    offi = (st[_OFF_I] ^ m) - m
    x = (st[_CAL_X] ^ m) - m
    y = (st[_CAL_Y] ^ m) - m
    imax = st[_I_MAX]
    prev = (st[_PREV] ^ m) - m
    run = st[_RUN]
    armed = st[_ARMED]
    cycles = st[_CYCLES]
    target = st[_TARGET]
    dcand = st[_D_CAND]
    sync = st[_SYNC]
    nmax = st[_N_MAX]
    hyst = st[_HYST]
    closed = 0
    p = (st[_LAST_P] ^ m) - m
    y1 = (st[_RES_Y1] ^ m) - m
    y2 = (st[_RES_Y2] ^ m) - m
    x2 = (st[_RES_X2] ^ m) - m
    ra = st[_RES_A]
    re = st[_RES_E]
    rg = st[_RES_G]
    gap = (st[_GAP] ^ m) - m
    mingap = st[_MIN_GAP]
    while k < n:
        rv = (v[k] ^ 0x8000) - 0x8000
        ri = (i[k] ^ 0x8000) - 0x8000
        k += 1
        vc = rv - offv
        if sync:
            sv += rv
            si += ri
            vp = ((x * vc + 8192) >> 14) + ((y * prev + 8192) >> 14)
            if vp > imax:
                vp = imax
            elif vp < 0 - imax:
                vp = 0 - imax
            ip = ri - offi
            if ip > imax:
                ip = imax
            elif ip < 0 - imax:
                ip = 0 - imax
            p = vp * ip
            elo += p
            ehi += elo >> 15
            elo &= 0x7FFF
            v2lo += vp * vp
            v2hi += v2lo >> 16
            v2lo &= 0xFFFF
            i2lo += ip * ip
            i2hi += i2lo >> 16
            i2lo &= 0xFFFF
        cnt += 1
        yy = (y1 + y1 - y2 - ((ra * y1 + 8192) >> 14) + ((re * y2 + 8192) >> 14)
              + ((rg * (vc - x2) + 8192) >> 14))
        x2 = prev
        y2 = y1
        gap += 1
        if yy >= 0:
            if y1 < 0:
                dcand = (yy << 8) // (yy - y1)
                run = 0
            run += 1
            if run == _CONFIRM and armed and gap >= mingap:
                armed = 0
                gap = 0
                if sync:
                    cycles += 1
                    if cycles >= target:
                        closed = 1
                else:
                    sync = 1
                    cnt = 0
                    st[_D_OPEN] = dcand
        else:
            run = 0
            if yy < 0 - hyst:
                armed = 1
        prev = vc
        y1 = yy
        if cnt >= nmax and not closed:
            if sync:
                closed = 2
            else:
                sync = 1
                cnt = 0
        if closed:
            break
    st[_START] = k
    st[_E_HI] = ehi
    st[_E_LO] = elo
    st[_V2_HI] = v2hi
    st[_V2_LO] = v2lo
    st[_I2_HI] = i2hi
    st[_I2_LO] = i2lo
    st[_SUM_V] = sv
    st[_SUM_I] = si
    st[_N] = cnt
    st[_PREV] = prev
    st[_RUN] = run
    st[_ARMED] = armed
    st[_CYCLES] = cycles
    st[_D_CAND] = dcand
    st[_SYNC] = sync
    st[_CLOSED] = closed
    st[_LAST_P] = p
    st[_RES_Y1] = y1
    st[_RES_Y2] = y2
    st[_RES_X2] = x2
    st[_GAP] = gap
