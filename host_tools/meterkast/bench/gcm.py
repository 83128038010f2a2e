"""AES-GCM benchmark figures: the firmware's GCM under MicroPython, the host's for scale, and the
size of the compiled modules for the boards.

`run(emit)` calls `emit(name, value, unit)` once per figure:

    gcm_key_setup_<impl>              us    Gcm(key) with its GHASH tables
    gcm_encrypt_1k_<impl>             B/s   encrypt_into, 1024-byte frame, 17-byte AAD, 12-byte tag
    gcm_encrypt_1k_<impl>_vs_p1_line  x     that rate over the P1 line rate (115200 baud, 8N1)
    gcm_decrypt_1k_<impl>             B/s   decrypt_into of the same frame
    gcm_mpy_<arch>_bytes              B     gcm.mpy + ghash.mpy from mpy-cross -march=<arch>

for impl in viper, bytecode and host_cryptography (the `cryptography` package on this host;
no key setup figure), and arch in armv6m (RP2040/RP2350) and xtensawin (ESP32). Every figure is
the best of several runs: the minimum says what the code costs, not what else the machine was
doing.
"""
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from meterkast import firmware_dir
from meterkast.emu.processes import micropython_command
from meterkast.image.build import mpy_cross_command

P1_LINE_BYTES_PER_S = 11520  # 115200 baud, 10 bits per byte
FRAME = 1024
AAD = 17
ARCHS = ("armv6m", "xtensawin")
_LINE = re.compile(r"(\w+) setup_us ([\d.]+) encrypt_us ([\d.]+) decrypt_us ([\d.]+)")


def micropython_figures():
    """{impl: (setup_us, encrypt_us, decrypt_us)} from one MicroPython run."""
    env = dict(os.environ, MICROPYPATH="%s:.frozen" % firmware_dir())
    proc = subprocess.run(
        [micropython_command(), "-m", "hal.unix.gcm_bench", "viper", "bytecode"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(firmware_dir()),
    )
    if proc.returncode != 0:
        raise RuntimeError("GCM benchmark failed under MicroPython:\n" + proc.stdout + proc.stderr)
    figures = {}
    for m in _LINE.finditer(proc.stdout):
        figures[m.group(1)] = tuple(float(x) for x in m.groups()[1:])
    if set(figures) != {"viper", "bytecode"}:
        raise RuntimeError("unexpected benchmark output:\n" + proc.stdout)
    return figures


def host_figures(rounds=200, calls=50):
    """(encrypt_us, decrypt_us) for the same frame with `cryptography` on this host."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    gcm = AESGCM(bytes(range(16)))
    iv = bytes(range(12))
    aad = bytes(range(AAD))
    pt = bytes((i * 7) & 255 for i in range(FRAME))
    ct = gcm.encrypt(iv, pt, aad)

    def best(fn, *args):
        t = float("inf")
        for _ in range(rounds):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn(*args)
            t = min(t, (time.perf_counter() - t0) / calls)
        return t * 1e6

    return best(gcm.encrypt, iv, pt, aad), best(gcm.decrypt, iv, ct, aad)


def mpy_sizes():
    """{arch: bytes of gcm.mpy + ghash.mpy}; raises if mpy-cross fails."""
    comms = firmware_dir() / "comms" / "crypto"
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            total = 0
            for mod in ("gcm.py", "ghash.py"):
                out = Path(tmp) / ("%s_%s.mpy" % (mod[:-3], arch))
                cmd = [mpy_cross_command(), "-march=" + arch, "-o", str(out), str(comms / mod)]
                proc = subprocess.run(cmd, capture_output=True, text=True)
                if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
                    detail = proc.stdout + proc.stderr
                    raise RuntimeError("%s failed:\n%s" % (" ".join(cmd), detail))
                total += out.stat().st_size
            sizes[arch] = total
    return sizes


def run(emit):
    for impl, (setup, enc, dec) in micropython_figures().items():
        emit("gcm_key_setup_" + impl, round(setup), "us")
        emit("gcm_encrypt_1k_" + impl, round(FRAME * 1e6 / enc), "B/s")
        ratio = FRAME * 1e6 / enc / P1_LINE_BYTES_PER_S
        emit("gcm_encrypt_1k_%s_vs_p1_line" % impl, round(ratio), "x")
        emit("gcm_decrypt_1k_" + impl, round(FRAME * 1e6 / dec), "B/s")
    enc, dec = host_figures()
    emit("gcm_encrypt_1k_host_cryptography", round(FRAME * 1e6 / enc), "B/s")
    emit(
        "gcm_encrypt_1k_host_cryptography_vs_p1_line",
        round(FRAME * 1e6 / enc / P1_LINE_BYTES_PER_S),
        "x",
    )
    emit("gcm_decrypt_1k_host_cryptography", round(FRAME * 1e6 / dec), "B/s")
    for arch, size in mpy_sizes().items():
        emit("gcm_mpy_%s_bytes" % arch, size, "B")
