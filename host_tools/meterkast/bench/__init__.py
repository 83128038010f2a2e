"""Benchmarks: each area module has `run(emit)` and reports `name: value unit` figures with a
reference measured in the same run (line rate, host crypto, dsmr_parser). The MicroPython halves
of the benches are firmware modules (`firmware/hal/unix/*_bench.py`); `reference` runs the
metrology reference bench for `meterkast accuracy` and the tests."""

AREAS = ("p1", "storage", "gcm", "dlms", "link", "board", "console", "metrology")
