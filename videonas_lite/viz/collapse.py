"""The false-case figure (PV-NAS Sec. 3.3, Fig. 4; Zela et al. 2020): searches under two schedules, side by side.

Notebook 08 draws it from :func:`~videonas_lite.nas.collapse.collapse_curves` of each run: one panel per
quantity over the search epochs (the weights' learning rate, the derived cells' parameter-free share, the
softmax mass on parameter-free ops in the temporal normal cell, the alphas' entropy relative to uniform, the
dominant eigenvalue of the alpha Hessian, the derived network's parameters), one colour per group of runs
(e.g. a schedule), a thin line per run and a thick line for the group's mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

__all__ = ["PANELS", "plot_collapse"]

PANELS: tuple[tuple[str, str], ...] = (
    ("lr", "weights' learning rate"),
    ("free_share_all", "parameter-free share of the derived cells"),
    ("free_mass_T-NC", "parameter-free softmax mass, T-NC"),
    ("relative_entropy", "alpha entropy / uniform (mean of kinds)"),
    ("eigenvalue", "dominant eigenvalue of the alpha Hessian"),
    ("derived_params", "parameters of the derived network"),
)


def _series(curves: Mapping, key: str) -> np.ndarray:
    if key.startswith("free_mass_"):
        return np.asarray(curves["free_mass"][key.removeprefix("free_mass_")], dtype=float)
    if key == "relative_entropy":
        kinds = list(curves["entropy"])
        return np.mean([np.asarray(curves["entropy"][k]) / curves["max_entropy"][k] for k in kinds], axis=0)
    return np.asarray([np.nan if v is None else v for v in curves[key]], dtype=float)


def plot_collapse(groups: Mapping[str, Sequence[Mapping]], frozen_epochs: int = 0) -> Figure:
    """A 2 x 3 grid of :data:`PANELS` for ``{group label: [collapse curves of each run]}``.

    ``frozen_epochs`` shades the warm-up (alphas frozen) in every panel. 10 inches wide, no text under 9 pt.
    """
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    axes = fig.subplots(2, 3).ravel()
    colours = ("tab:red", "tab:blue", "tab:green", "tab:purple")
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        for colour, (label, runs) in zip(colours, groups.items(), strict=False):
            values = [_series(c, key) for c in runs]
            epochs = np.asarray(runs[0]["epoch"])
            for v in values:
                ax.plot(epochs, v, color=colour, alpha=0.3, lw=0.8)
            ax.plot(epochs, np.nanmean(values, axis=0), color=colour, lw=2.2, label=f"{label} (mean of {len(runs)})")
        if frozen_epochs:
            ax.axvspan(-0.5, frozen_epochs - 0.5, color="0.9", zorder=0)
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("search epoch")
        if key == "lr":
            ax.set_yscale("log")
    axes[0].legend(fontsize=9)
    if frozen_epochs:
        axes[1].text(0, 0.02, "grey: alphas frozen", transform=axes[1].transAxes, fontsize=9, color="0.4")
    return fig
