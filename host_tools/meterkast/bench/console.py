"""Console figures: how fast `meterkast console` verifies what is on the wire, against
dsmr_parser's own parse rate on the same telegrams and against what a 115200-baud line carries.

* console_decode_rate: plain telegrams framed, CRC-checked, strictly checked and decoded per
  second, fed as 4 kB reads of a merged stream (the console's real path).
* dsmr_parser_parse_rate: TelegramParser(V5).parse per second on the same telegrams (CRC
  checked), and the ratio of the two.
* console_vs_dsmr_parser_meters: the same ratio on the example telegrams of real meters that
  dsmr_parser ships (tests/vectors/dsmr_parser_examples.py: DSMR 2.2 to 5, Fluvius, Q3D,
  Sagemcom, Iskra, E.ON), each parsed by dsmr_parser with the specification its tests use.
* console_encrypted_rate: encrypted frames framed, GCM-verified, decrypted and decoded per second.
* line_telegram_rate: telegrams per second a 115200-baud 8N1 line can carry at all; the headroom
  is how many times faster the console is than the line.
* fault_injector_rate: bytes per second through the fault injector (what bounds a soak).
"""
import random
import sys
import time
from copy import deepcopy
from pathlib import Path

from meterkast.keys.file import Keys
from meterkast.line.faults import FaultInjector, FaultSpec
from meterkast.wire.frames import FrameDecoder, encrypted_frame
from meterkast.wire.p1 import make_telegram

LINE_BPS = 11520  # 115200 baud 8N1: 10 bits per character
_EK = bytes(range(16))
_AK = bytes(range(0xD0, 0xE0))
_TITLE = b"MKS\x00\x00\x00\x00\x01"


def sample_telegrams(n, seed=1):
    """Three-phase DSMR 5 telegrams in the firmware's layout, with varying values."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        def kwh():
            return "%010.3f" % (rng.randrange(10 ** 9) / 1000)
        def kw():
            return "%06.3f" % (rng.randrange(10 ** 5) / 1000)
        lines = ["1-3:0.2.8(50)", "0-0:1.0.0(2601%02d%02d%02d%02dW)" % (
            1 + i // 86400 % 28, i // 3600 % 24, i // 60 % 60, i % 60),
            "0-0:96.1.1(4D4B5330303030303030303030303031)",
            "1-0:1.8.1(%s*kWh)" % kwh(), "1-0:1.8.2(%s*kWh)" % kwh(),
            "1-0:2.8.1(%s*kWh)" % kwh(), "1-0:2.8.2(%s*kWh)" % kwh(),
            "0-0:96.14.0(000%d)" % rng.choice((1, 2)), "1-0:1.7.0(%s*kW)" % kw(),
            "1-0:2.7.0(%s*kW)" % kw(), "0-0:96.7.21(00004)", "0-0:96.7.9(00002)",
            "1-0:99.97.0(2)(0-0:96.7.19)(251201101500W)(0000000240*s)(251115083000W)(0000000301*s)"]
        lines += ["1-0:%d.32.0(00002)" % c for c in (32, 52, 72)]
        lines += ["1-0:%d.36.0(00000)" % c for c in (32, 52, 72)]
        lines += ["0-0:96.13.0()"]
        lines += ["1-0:%d.7.0(%03d.%d*V)" % (c, rng.randint(220, 240), rng.randint(0, 9)) for c in (32, 52, 72)]
        lines += ["1-0:%d.7.0(%03d*A)" % (c, rng.randint(0, 25)) for c in (31, 51, 71)]
        lines += ["1-0:%d.7.0(%s*kW)" % (c, kw()) for c in (21, 41, 61, 22, 42, 62)]
        out.append(make_telegram("MKS5MK-NG-1", lines))
    return out


def _rate(fn, units, rounds=3):
    best = None
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return units / best


def _decode_stream(stream, keys=None):
    def go():
        dec = FrameDecoder(keys)
        n = 0
        for i in range(0, len(stream), 4096):
            n += sum(1 for f in dec.feed(stream[i:i + 4096]) if f.ok)
        return n
    return go


def run(emit):
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser

    telegrams = sample_telegrams(2000)
    stream = b"".join(telegrams)
    avg = len(stream) / len(telegrams)
    check = _decode_stream(stream)()
    assert check == len(telegrams), "every sample telegram must be accepted"
    console = _rate(_decode_stream(stream), len(telegrams))
    parser = TelegramParser(telegram_specifications.V5)
    texts = [t.decode("ascii") for t in telegrams[:500]]
    dsmr = _rate(lambda: [parser.parse(t, throw_ex=True) for t in texts], len(texts))
    frames = [encrypted_frame(t, _TITLE, 1 + i, _EK, _AK) for i, t in enumerate(telegrams)]
    enc_stream = b"".join(frames)
    keys = Keys(_TITLE, _EK, _AK)
    assert _decode_stream(enc_stream, keys)() == len(frames)
    encrypted = _rate(_decode_stream(enc_stream, keys), len(frames))
    line = LINE_BPS / avg
    line_enc = LINE_BPS / (len(enc_stream) / len(frames))
    emit("telegram_size", round(avg), "B")
    emit("console_decode_rate", console, "telegrams/s")
    emit("dsmr_parser_parse_rate", dsmr, "telegrams/s")
    emit("console_vs_dsmr_parser", console / dsmr, "x")
    meters = _meters_ratio()
    if meters is not None:
        emit("console_vs_dsmr_parser_meters", meters, "x")
    emit("console_encrypted_rate", encrypted, "frames/s")
    emit("line_telegram_rate_115200", line, "telegrams/s")
    emit("console_headroom_115200", console / line, "x")
    emit("console_encrypted_headroom_115200", encrypted / line_enc, "x")
    data = stream[:1_000_000]
    spec = FaultSpec.parse("ber=1e-4,drop=1e-4,insert=2e-5,burst=2e-6:16")

    def inject():
        inj = FaultInjector(spec, "out")
        for i in range(0, len(data), 4096):
            inj.apply(data[i:i + 4096], i / LINE_BPS, 1 / LINE_BPS)
    emit("fault_injector_rate", _rate(inject, len(data)) / 1e6, "MB/s")


def _meters_ratio(rounds=200):
    """Console rate / dsmr_parser rate over the real-meter examples (None without the tests)."""
    from dsmr_parser import telegram_specifications
    from dsmr_parser.parsers import TelegramParser

    vectors = Path(__file__).resolve().parents[3] / "tests" / "vectors"
    if not (vectors / "dsmr_parser_examples.py").exists():
        return None
    sys.path.insert(0, str(vectors))
    try:
        import dsmr_parser_examples as examples
    finally:
        sys.path.remove(str(vectors))
    jobs = []
    for name, spec_name in sorted(examples.SPEC.items()):
        spec = deepcopy(getattr(telegram_specifications, spec_name))
        spec["general_global_cipher"] = False
        jobs.append((getattr(examples, name), TelegramParser(spec)))
    stream = b"".join(text.encode("latin-1") for text, _ in jobs) * rounds
    console = _rate(_decode_stream(stream), len(jobs) * rounds)
    dsmr = _rate(lambda: [p.parse(t) for _ in range(rounds // 10) for t, p in jobs],
                 len(jobs) * (rounds // 10))
    return console / dsmr
