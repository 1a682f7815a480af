"""Accuracy against parameters, this run's contenders beside the papers' own figures. Notebook 07.

:func:`plot_accuracy_vs_parameters` draws the rows of :func:`~videonas_lite.train.compare.run_compare`'s table
(clip top-1 against parameters, log x, the spread over seeds as error bars) and, in a second panel, Peng et al.
2019 Table 2 and PV-NAS Table 3 (UCF101, from scratch), for the shape of the result only: the papers trained at
full size for hundreds of epochs. The papers' numbers are written here once (:data:`PENG_TABLE_2`,
:data:`PVNAS_TABLE_3`; ``benchmarks/pvnas_study.py`` reads the latter too).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

__all__ = ["PENG_TABLE_2", "PVNAS_TABLE_3", "plot_accuracy_vs_parameters"]

PENG_TABLE_2: tuple[tuple[str, float, bool, float], ...] = (
    ("3D-ResNet 18", 33.2, False, 42.4), ("3D-ResNet 101", 100, True, 46.7), ("3D-ConvNet", 79, False, 51.6),
    ("STC-ResNet 18", 33.2, True, 42.8), ("STC-ResNet 50", 92, True, 46.2), ("STC-ResNet 101", 100, True, 47.9),
    ("Ours (Peng)", 0.67, False, 58.6),
)  # fmt: skip
"""Peng et al. 2019, Table 2 (UCF101 split 1, from scratch): (architecture, parameters in millions, whether the
count is a lower bound ("+" in the table), top-1 %)."""

PVNAS_TABLE_3: dict[str, tuple[int | None, int, float, float]] = {
    "baseline": (80, 64, 66.43, 85.70), "stop at 1/4": (20, 64, 64.11, 84.78), "stop at 1/2": (40, 64, 65.41, 85.64),
    "stop at 3/4": (60, 64, 65.80, 85.69), "half channels": (80, 32, 65.12, 85.35),
    "double channels": (80, 128, 68.51, 87.10), "random (mean of 5)": (None, 64, 61.81, 82.97),
}  # fmt: skip
"""PV-NAS Table 3 (UCF-101, from scratch): row -> (search epoch, initial channels, top-1 %, top-5 %)."""


def plot_accuracy_vs_parameters(rows: Sequence[Mapping], chance: float, title: str) -> Figure:
    """Clip top-1 against parameters (log x) for a comparison's ``rows``, and the papers' figures beside.

    ``rows``: ``run_compare``'s table rows (``architecture``, ``kind``, ``params``, ``top1`` with ``mean``/``min``/
    ``max``) with a ``source``: ``"this run"`` (filled markers) or committed (hollow squares). The random cells'
    summary row is left out (each random cell has its own).
    """
    fig, (ax, ref) = plt.subplots(1, 2, figsize=(10, 4.2))
    for r in rows:
        if r["kind"] == "random-summary":
            continue
        top1, here = r["top1"], r["source"] == "this run"
        colour = {"searched": "C3", "random": "C2"}.get(r["kind"], "C0")
        ax.errorbar(r["params"], top1["mean"], yerr=[[top1["mean"] - top1["min"]], [top1["max"] - top1["mean"]]],
                    fmt="o" if here else "s", color=colour, capsize=3, mfc=colour if here else "none")  # fmt: skip
        ax.annotate(r["architecture"], (r["params"], top1["mean"]), textcoords="offset points", xytext=(5, 4),
                    fontsize=9)  # fmt: skip
    ax.axhline(chance, color="gray", ls=":", label=f"chance {chance:.2f}")
    ax.set(xscale="log", xlabel="parameters", ylabel="clip top-1", ylim=(0, 1.05), title=title)
    ax.legend(fontsize=9, loc="lower right")
    for name, params, lower, acc in PENG_TABLE_2:
        ref.plot(params * 1e6, acc, ">" if lower else "o", color="C3" if name.startswith("Ours") else "C0")
        ref.annotate(name, (params * 1e6, acc), textcoords="offset points", xytext=(5, 3), fontsize=9)
    for k, name in enumerate(("baseline", "random (mean of 5)")):
        acc = PVNAS_TABLE_3[name][2]
        label = "Baseline (PV-NAS-L)" if name == "baseline" else "Random (mean of 5)"
        ref.axhline(acc, color=f"C{k + 3}", ls="--", lw=1, label=f"PV-NAS T3: {label} {acc}")
    ref.set(xscale="log", xlabel="parameters", ylabel="top-1 % (UCF101)", ylim=(35, 72),
            title="the papers (UCF101, from scratch)")  # fmt: skip
    ref.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig
