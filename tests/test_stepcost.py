"""train/stepcost.py: each mode's step is timed and its peak memory measured, on the same batches."""

from __future__ import annotations

import pytest

from videonas_lite.train.stepcost import MODES, StepSetup, measure_mode, measure_modes, pass_costs

SMALL = StepSetup(batch=2, frames=4, size=16, channels=2, classes=3, threads=1)


def test_every_mode_runs_and_reports_its_steps():
    for mode in MODES:
        result = measure_mode(SMALL, mode, steps=2, warmup=1)
        assert result["mode"] == mode and len(result["seconds_all"]) == 2
        assert result["seconds"] > 0 and result["peak_mib"] >= 0


def test_the_exact_hypergradient_holds_more_memory_than_the_finite_difference():
    """Double backward keeps the virtual step's graph (and its gradient graph) alive; the FD passes do not."""
    setup = StepSetup(batch=2, frames=4, size=24, channels=4, classes=3, threads=1)
    fd, exact = measure_modes(setup, ["second", "second-exact"], steps=1, warmup=1)
    assert fd["mode"] == "second" and exact["mode"] == "second-exact"
    assert fd["peak_mib"] > 1 and exact["peak_mib"] > 1.5 * fd["peak_mib"]


def test_pass_costs_names_the_three_kinds_of_pass():
    costs = pass_costs(SMALL, repeats=1)
    assert set(costs) == {"forward", "alpha", "full"} and all(t > 0 for t in costs.values())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        measure_mode(SMALL, "third")
    with pytest.raises(ValueError, match="space must be 'peng' or 'pvnas'"):
        StepSetup(space="darts")
