"""viz/compare.py: accuracy against parameters beside the papers' tables (notebook 07)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from videonas_lite.viz.compare import PENG_TABLE_2, PVNAS_TABLE_3, plot_accuracy_vs_parameters


def _row(name, kind, params, mean, lo, hi, source="this run"):
    return {"architecture": name, "kind": kind, "params": params, "source": source,
            "top1": {"mean": mean, "min": lo, "max": hi}}  # fmt: skip


def test_each_contender_is_one_marker_with_its_spread_and_the_papers_sit_beside():
    rows = [_row("searched", "searched", 48_668, 0.9, 0.8, 1.0), _row("tsn_2d", "baseline", 6_220, 0.25, 0.24, 0.26),
            _row("r3d_18", "baseline", 33_168_324, 0.27, 0.25, 0.28, source="committed"),
            {"architecture": "random (mean of 1)", "kind": "random-summary", "params": 1, "source": "this run",
             "top1": {"mean": 0.5, "min": 0.5, "max": 0.5}}]  # fmt: skip
    fig = plot_accuracy_vs_parameters(rows, 0.25, "a title")
    ax, ref = fig.axes
    assert ax.get_xscale() == "log" and ref.get_xscale() == "log" and ax.get_title() == "a title"
    assert [t.get_text() for t in ax.texts] == ["searched", "tsn_2d", "r3d_18"]  # the summary row is left out
    bars = [c for c in ax.containers]
    assert len(bars) == 3
    low, high = bars[0].lines[2][0].get_segments()[0][:, 1]
    assert (low, high) == (0.8, 1.0)  # the error bar spans the seeds' min to max
    assert [t.get_text() for t in ref.texts] == [name for name, *_ in PENG_TABLE_2]
    assert {line.get_ydata()[0] for line in ref.get_lines() if line.get_linestyle() == "--"} == {
        PVNAS_TABLE_3["baseline"][2], PVNAS_TABLE_3["random (mean of 5)"][2]}


def test_the_papers_numbers_are_the_tables():
    """Spot checks against the papers' text: Peng Table 2's own row, PV-NAS Table 3's baseline and random rows."""
    assert ("Ours (Peng)", 0.67, False, 58.6) in PENG_TABLE_2
    assert PVNAS_TABLE_3["baseline"] == (80, 64, 66.43, 85.70)
    assert PVNAS_TABLE_3["random (mean of 5)"] == (None, 64, 61.81, 82.97)
