"""viz/bilevel.py: notebook 04's figures and its measured sentences."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from videonas_lite.train.stepcost import DARTS_FULL_PASSES, PASSES
from videonas_lite.viz.bilevel import FONT, WIDTH, cost_statements, memory_problem, plot_fd_error, plot_step_cost

RADII = [10 ** (-k / 2) for k in range(2, 21)]


def fake_curves():
    central = [r**2 + 1e-16 / r for r in RADII]
    forward = [r + 1e-16 / r for r in RADII]
    return {("smooth", "float64", "central"): central, ("smooth", "float64", "forward"): forward,
            ("smooth", "float32", "central"): [10 * e for e in central],
            ("ReLU", "float64", "central"): [1.0 if r > 1e-5 else 1e-9 for r in RADII],
            ("ReLU", "float64", "forward"): [1.0 if r > 1e-5 else 1e-7 for r in RADII]}


def fake_kinks():
    counts = [int(r * 1e5) for r in RADII]
    return {d: {"ReLU": counts, "max pool": [c // 2 for c in counts]} for d in ("central", "forward")}


def test_fd_error_figure_is_readable():
    fig = plot_fd_error(RADII, fake_curves(), fake_kinks())
    assert fig.get_size_inches()[0] <= WIDTH and len(fig.axes) == 3
    for ax in fig.axes:
        legend = ax.get_legend()
        assert legend is not None and all(t.get_fontsize() >= FONT for t in legend.get_texts())
    assert len(fig.axes[0].get_lines()) >= 6  # four curves and three guides
    plt.close(fig)


def test_fd_error_rejects_a_curve_of_the_wrong_length():
    curves = fake_curves()
    curves["ReLU", "float64", "central"] = curves["ReLU", "float64", "central"][:-1]
    with pytest.raises(ValueError, match="one per radius"):
        plot_fd_error(RADII, curves, fake_kinks())


def cost_table(seconds):
    cost = pd.DataFrame({"measured s": seconds, "predicted s": [1.0, 2.6, 2.3, math.nan, 1.0],
                         "peak MiB": [1, 3, 3, 9, 1]}, index=["first", "second", "second-forward", "second-exact",
                                                               "one-level"])
    cost["measured / first"] = cost["measured s"] / cost.loc["first", "measured s"]
    cost["predicted / first"] = cost["predicted s"] / cost.loc["first", "predicted s"]
    cost["all-full count / first"] = [DARTS_FULL_PASSES.get(m, math.nan) / 2 for m in cost.index]
    return cost


def test_step_cost_drops_the_memory_panel_when_asked():
    cost = cost_table([1.0, 2.0, 1.8, 3.0, 1.0])
    with_memory, without = plot_step_cost(cost, "t"), plot_step_cost(cost, "t", memory=False)
    assert len(with_memory.axes) == 3 and len(without.axes) == 2
    assert with_memory.get_size_inches()[0] <= WIDTH
    plt.close("all")
    with pytest.raises(ValueError, match="peak MiB"):
        plot_step_cost(cost.drop(columns="peak MiB"))


def test_statements_follow_the_measurements():
    cost = cost_table([1.0, 1.87, 1.8, 3.0, 0.55])
    lines = cost_statements(cost["measured s"].to_dict(), cost["predicted s"].to_dict(), PASSES, steps=1)
    text = "\n".join(lines)
    assert "second / first: measured 1.87x, predicted 2.60x: below the prediction by 28%" in text
    assert "one-level / first: measured 0.55x, predicted 1.00x: below the prediction by 45%" in text
    assert "timing scatter (45%), so not a finding" in text  # second's 28% is inside the 45% scatter
    assert "second-exact / first: measured 3.00x (no pass count" in text
    assert "first order saves 47% of a second-order step" in text
    assert "came out" not in text  # the first-order step matched its prediction
    slow_first = cost_statements({"first": 2.0, "second": 4.0}, {"first": 1.0, "second": 2.6}, PASSES, steps=1)
    assert any("came out 100% above its own prediction" in line and "ratios by 0.50" in line for line in slow_first)
    steady = cost_table([1.0, 2.6, 2.3, 3.0, 1.02])
    text = "\n".join(cost_statements(steady["measured s"].to_dict(), steady["predicted s"].to_dict(), PASSES, 2))
    assert "second / first: measured 2.60x, predicted 2.60x: within 10% of the prediction" in text


def test_statements_need_the_first_order_mode():
    with pytest.raises(ValueError, match="'first' mode"):
        cost_statements({"second": 1.0}, {"second": 1.0}, PASSES, steps=1)


def test_memory_problem_reads_the_peaks():
    ci = {"first": 7, "second": 2, "second-forward": 1, "second-exact": 37, "one-level": 7}  # a ci run's rises
    assert "second 2 MiB" in memory_problem(ci, "cpu", PASSES)
    shuffled = {"first": 40, "second": 30, "second-exact": 90}
    assert memory_problem(shuffled, "cpu", PASSES).startswith("second take at least")
    ordered = {"first": 40, "second": 60, "second-forward": 55, "second-exact": 90, "one-level": 41}
    assert memory_problem(ordered, "cpu", PASSES) is None
    assert memory_problem(ci, "cuda", PASSES) is None
