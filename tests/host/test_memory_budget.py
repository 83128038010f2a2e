"""Memory budget: the whole firmware (metrology, encrypted P1, profile and registers on flash, P3
with management keys) runs an accelerated day in the heap it claims (meterkast.bench.board)."""
import pytest
from meterkast.bench.board import (
    BUDGET_MPY,
    BUDGET_SOURCE,
    compiled_emulator_tree,
    whole_firmware_day,
)


def _kib(size):
    return int(size[:-1]) * 1024


@pytest.mark.parametrize("form", ["source", "mpy"])
def test_whole_firmware_runs_a_day_in_its_budget(form, tmp_path):
    firmware, budget = None, BUDGET_SOURCE
    if form == "mpy":  # the compiled modules a board receives
        firmware, budget = tmp_path / "mpy", BUDGET_MPY
        compiled_emulator_tree(firmware)
    ok, mem, err = whole_firmware_day(tmp_path / "run", budget, firmware, timeout=240)
    assert ok, err
    heap = mem["live"] + mem["free"]
    assert _kib(budget) * 0.98 <= heap <= _kib(budget), "the firmware ran in a %d-byte heap" % heap
    assert mem["live"] > 100 * 1024, "the whole meter was alive at the end of the day"


def test_far_below_the_budget_the_meter_does_not_start(tmp_path):
    ok, mem, err = whole_firmware_day(tmp_path / "run", "128K", duration=60, timeout=60)
    assert not ok and mem is None
    assert "MemoryError" in err
