# meterkast bench: GCM speed under MicroPython
# MIT license
#
# Run by `meterkast bench gcm` (micropython -m hal.unix.gcm_bench viper bytecode,
# MICROPYPATH=firmware); also runs on a board: mpremote run firmware/hal/unix/gcm_bench.py
# (with comms/ on the board).
# Prints one line per implementation:
#   <impl> setup_us <best key setup> encrypt_us <best per 1 KiB frame> decrypt_us <same>
# Best of several rounds: the host this runs on is shared, so the minimum is the figure that
# measures the code rather than the neighbours.
import sys
import time

from comms.crypto.gcm import Gcm

_FRAME = 1024
_AAD = 17  # security control byte, 8-byte system title, 8 more header bytes: a DLMS-sized AAD


def best_of(rounds, run):
    best = None
    for _ in range(rounds):
        t0 = time.ticks_us()
        per_call = run()
        dt = time.ticks_diff(time.ticks_us(), t0) / per_call
        if best is None or dt < best:
            best = dt
    return best


def bench(impl):
    key = bytes(range(16))
    iv = bytes(range(12))
    aad = bytes(range(_AAD))
    src = bytearray((i * 7) & 255 for i in range(_FRAME))
    frame = bytearray(_FRAME + 16)
    out = bytearray(_FRAME)
    g = Gcm(key, impl=impl)
    assert g.impl == impl
    calls = 100 if impl == "viper" else 10

    def setup():
        for _ in range(3):
            Gcm(key, impl=impl)
        return 3

    def encrypt():
        for _ in range(calls):
            g.encrypt_into(iv, aad, src, _FRAME, frame, 12)
        return calls

    def decrypt():
        for _ in range(calls):
            g.decrypt_into(iv, aad, frame, _FRAME + 12, out, 12)
        return calls

    t_setup = best_of(10, setup)
    t_enc = best_of(60, encrypt)
    t_dec = best_of(60, decrypt)
    assert out == src
    print("%s setup_us %.1f encrypt_us %.2f decrypt_us %.2f" % (impl, t_setup, t_enc, t_dec))


for name in sys.argv[1:] or ("viper", "bytecode"):
    bench(name)
