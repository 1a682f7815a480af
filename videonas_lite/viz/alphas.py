"""Pictures of a search run, drawn from its records: curves, the op weights per epoch, their animation.

Taught by notebook 05. The records are read and checked by :mod:`videonas_lite.viz.records` (an
:class:`~videonas_lite.viz.records.AlphaHistory`: one ``(epochs, edges, ops)`` array of ``softmax(alpha)``
per cell kind); every function here takes records in any form that module reads, so a finished run can be
replayed without searching again:

* :func:`plot_curves`: losses and accuracy per epoch; :func:`plot_alphas`: one heatmap per cell kind;
  :func:`plot_parameter_free`: the drift towards parameter-free ops (PV-NAS Sec. 3.3), per epoch.
* Three ways to watch the alphas move: :func:`animate_alphas` (a matplotlib animation), saved by
  :func:`save_animation` as a GIF plus a self-contained ``to_jshtml`` player, and :func:`alpha_player`,
  an ipywidgets player whose frames are pre-rendered PNGs switched by front-end links only, so it keeps
  working in a notebook executed headless (papermill) and in its HTML export, where no kernel runs.

The records' names (:func:`load_records`, :func:`alpha_history`, :func:`op_mass`, ...) are importable from
here too, where notebook 05 and the benchmarks import them with the figures.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np

from videonas_lite.nas.genotype import PARAMETER_FREE
from videonas_lite.viz.cells import edge_labels
from videonas_lite.viz.records import (
    AlphaHistory,
    Records,
    alpha_history,
    as_history,
    known_op_names,
    load_records,
    op_mass,
    parameter_free_mass,
)

if TYPE_CHECKING:
    import ipywidgets
    from matplotlib.animation import FuncAnimation
    from matplotlib.figure import Figure

__all__ = [
    "AlphaHistory",
    "Records",
    "alpha_history",
    "alpha_player",
    "animate_alphas",
    "edge_labels",
    "known_op_names",
    "load_records",
    "op_mass",
    "parameter_free_mass",
    "plot_alphas",
    "plot_curves",
    "plot_parameter_free",
    "render_frames",
    "save_animation",
]

SCALES = ("absolute", "relative")
"""Colour scales of :func:`plot_alphas`: the weights on a fixed 0..1 scale, or their difference from uniform."""


def plot_curves(
    records: Sequence[Mapping] | str | os.PathLike, ax: plt.Axes | None = None, chance: float | None = None
) -> tuple[plt.Axes, plt.Axes]:
    """Both halves' loss (left) and accuracy (right) per epoch, as the search scored them after each epoch.

    Solid: the weight half (``train_*``), dashed: the alpha half (``val_*``); ``chance`` adds a dotted
    line at the chance accuracy; a shaded band marks the warm-up epochs whose alphas stayed frozen.
    Returns ``(loss_axis, accuracy_axis)``.
    """
    records = load_records(records)
    own = ax is None
    ax = ax or plt.subplots(figsize=(7, 3.2))[1]
    epochs = [r.get("epoch", i) for i, r in enumerate(records)]
    for key, label, style in (("train_eval_loss", "loss, weight half", "o-"),
                              ("val_eval_loss", "loss, alpha half", "s--")):  # fmt: skip
        if all(key in r for r in records):
            ax.plot(epochs, [r[key] for r in records], style, color="C0", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.xaxis.get_major_locator().set_params(integer=True)
    frozen = [e for e, r in zip(epochs, records, strict=True) if r.get("alphas_frozen")]
    if frozen:
        ax.axvspan(min(frozen) - 0.5, max(frozen) + 0.5, color="0.9", zorder=0, label="alphas frozen")
    acc_ax = ax.twinx()
    for key, label, style in (("train_acc", "accuracy, weight half", "o-"),
                              ("val_acc", "accuracy, alpha half", "s--")):  # fmt: skip
        if all(key in r for r in records):
            acc_ax.plot(epochs, [r[key] for r in records], style, color="C2", label=label)
    if chance is not None:
        acc_ax.axhline(chance, color="C2", ls=":", lw=1, label="chance")
    acc_ax.set_ylim(0, 1)
    acc_ax.set_ylabel("accuracy", color="C2")
    lines = ax.get_legend_handles_labels()
    acc_lines = acc_ax.get_legend_handles_labels()
    ax.legend(lines[0] + acc_lines[0], lines[1] + acc_lines[1], loc="center left", bbox_to_anchor=(1.12, 0.5),
              fontsize=8)  # fmt: skip
    ax.set_title("search: both halves, scored after every epoch")
    if own:
        ax.figure.tight_layout()
    return ax, acc_ax


def plot_parameter_free(records: Sequence[Mapping] | str | os.PathLike) -> Figure:
    """Two panels per epoch: the derived cells' parameter-free share, and each kind's softmax mass on
    parameter-free ops (:func:`parameter_free_mass`) beside its uniform level (dotted). PV-NAS Sec. 3.3's
    collapse shows as both rising; notebook 05, section 9. The records need ``parameter_free_share``.
    """
    records = load_records(records)
    if not all("parameter_free_share" in r for r in records):
        raise ValueError("every record needs 'parameter_free_share' (train/search.py writes it after each epoch)")
    history = as_history(records)
    mass = parameter_free_mass(history)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].plot(history.epochs, [r["parameter_free_share"] for r in records], "o-")
    axes[0].set_ylim(0, 1)
    axes[0].set_title("parameter-free share of the derived cells")
    for k, (kind, m) in enumerate(mass.items()):
        axes[1].plot(history.epochs, m, "o-", color=f"C{k}", label=kind)
        axes[1].axhline(_uniform_free(history, kind), color=f"C{k}", ls=":", lw=1)
    axes[1].set_title("softmax mass on parameter-free ops")
    axes[1].legend(fontsize=9)
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig


def _live_ops(weights: np.ndarray) -> np.ndarray:
    """Which op columns of an ``(epochs, edges, ops)`` history weigh anything: a search with ``zero_op=False``
    holds ``Zero`` at exactly 0, so uniform is ``1/|O|`` over the others (``genotype.mixed_op_count``)."""
    return (weights != 0).any(axis=(0, 1))


def _uniform_free(history: AlphaHistory, kind: str) -> float:
    """The mass uniform weights put on parameter-free ops: ``#free ops / |O|``, over the ops that can weigh."""
    live = _live_ops(history.weights[kind])
    return float(np.mean([name in PARAMETER_FREE for name, on in zip(history.op_names[kind], live, strict=True) if on]))


def _limits(history: AlphaHistory, scale: str) -> dict[str, tuple[float, float]]:
    """Fixed colour limits per kind, the same in every epoch (so frames of an animation compare)."""
    if scale == "absolute":
        return {kind: (0.0, 1.0) for kind in history.kinds}
    out = {}
    for kind, w in history.weights.items():
        live = _live_ops(w)
        dev = float(np.abs(w[..., live] - 1.0 / live.sum()).max()) or 1e-6
        out[kind] = (-dev, dev)
    return out


def _values(history: AlphaHistory, kind: str, index: int, scale: str) -> np.ndarray:
    """One epoch's weights, or their distance from uniform; a held-out op (always 0) is blank (NaN) in the latter."""
    w = history.weights[kind][index]
    if scale == "absolute":
        return w
    live = _live_ops(history.weights[kind])
    return np.where(live, w - 1.0 / live.sum(), np.nan)


def _alpha_figure(history: AlphaHistory, scale: str, pyplot: bool = True) -> tuple[Figure, list, object]:
    """A figure with one heatmap per cell kind (two per row); returns ``(figure, images, title)`` to fill per epoch.

    ``pyplot=False`` makes a bare :class:`~matplotlib.figure.Figure` that pyplot does not manage: a notebook
    never shows it as a stray static plot, and it needs no closing.
    """
    from matplotlib.figure import Figure

    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    kinds = history.kinds
    cols = min(2, len(kinds))
    rows = -(-len(kinds) // cols)
    width = cols * (0.38 * max(len(n) for n in history.op_names.values()) + 1.6) + 0.4  # 8 ops: under 10 in
    height = rows * (0.28 * len(history.edge_labels) + 1.9) + 0.5
    fig = plt.figure(figsize=(width, height)) if pyplot else Figure(figsize=(width, height))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    limits = _limits(history, scale)
    cmap = "viridis" if scale == "absolute" else "RdBu_r"
    label = "softmax(α)" if scale == "absolute" else "softmax(α) − 1/|O|"
    images = []
    for ax, kind in zip(axes, kinds, strict=False):
        image = ax.imshow(_values(history, kind, 0, scale), cmap=cmap, vmin=limits[kind][0], vmax=limits[kind][1],
                          aspect="auto", interpolation="nearest")  # fmt: skip
        names = history.op_names[kind]
        ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=9)
        ax.set_yticks(range(len(history.edge_labels)), edge_labels(history.nodes, "mathtext"), fontsize=9)
        ax.set_ylabel("edge (source → node)", fontsize=9)
        ax.set_title(f"cell kind {kind!r}", fontsize=9)
        fig.colorbar(image, ax=ax, fraction=0.08, pad=0.03).set_label(label, fontsize=9)
        images.append(image)
    for ax in axes[len(kinds) :]:
        ax.axis("off")
    title = fig.suptitle("", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return fig, images, title


def _draw_epoch(history: AlphaHistory, index: int, scale: str, images, title) -> None:
    for image, kind in zip(images, history.kinds, strict=True):
        image.set_data(_values(history, kind, index, scale))
    what = "softmax(α)" if scale == "absolute" else "softmax(α) − uniform"
    title.set_text(f"{what} per edge, after epoch {history.epochs[index]} ({index + 1}/{len(history.epochs)})")


def plot_alphas(records: Records, epoch: int = -1, scale: str = "absolute") -> Figure:
    """Heatmaps (edges x ops) of the mixing weights ``softmax(alpha)`` (PV-NAS Eq. 2) of every cell kind.

    ``epoch`` indexes the records (``-1``: the last). ``scale="absolute"`` colours the weights on a fixed
    0..1 scale; ``"relative"`` their difference from uniform ``1/|O|`` on a symmetric scale fixed over
    the whole run (the early epochs of a short search move the weights by far less than 0.1).
    Returns the figure.
    """
    history = as_history(records)
    index = range(len(history.epochs))[epoch]
    fig, images, title = _alpha_figure(history, scale)
    _draw_epoch(history, index, scale, images, title)
    return fig


def animate_alphas(records: Records, scale: str = "absolute", interval: int = 600) -> FuncAnimation:
    """A :class:`matplotlib.animation.FuncAnimation` of :func:`plot_alphas`, one frame per epoch."""
    from matplotlib import animation

    history = as_history(records)
    fig, images, title = _alpha_figure(history, scale, pyplot=False)

    def draw(index: int):
        _draw_epoch(history, index, scale, images, title)
        return [*images, title]

    return animation.FuncAnimation(fig, draw, frames=len(history.epochs), interval=interval, blit=False)


def save_animation(anim: FuncAnimation, gif_path: str | os.PathLike, fps: float = 2.0) -> str:
    """Write ``anim`` as a GIF (Pillow) to ``gif_path`` and return its self-contained ``to_jshtml`` player.

    Both play without a kernel.
    """
    from matplotlib import animation

    path = Path(gif_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    anim.save(path, writer=animation.PillowWriter(fps=fps))
    return anim.to_jshtml(fps=fps, default_mode="once")


def render_frames(records: Records, scale: str = "absolute", dpi: int = 80) -> list[bytes]:
    """One PNG (bytes) of :func:`plot_alphas` per epoch, drawn on one reused figure."""
    history = as_history(records)
    fig, images, title = _alpha_figure(history, scale, pyplot=False)
    frames = []
    for index in range(len(history.epochs)):
        _draw_epoch(history, index, scale, images, title)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi)
        frames.append(buffer.getvalue())
    return frames


def alpha_player(records: Records, scale: str = "absolute", interval: int = 700, dpi: int = 80) -> ipywidgets.VBox:
    """An ipywidgets player over the epochs that needs no kernel: Play ⇄ slider ⇄ a Stack of PNG frames.

    Each epoch's heatmaps are rendered once to a PNG (:class:`ipywidgets.Image`); a
    :class:`ipywidgets.Stack` shows one of them, and :func:`ipywidgets.jslink` ties the Play button to
    the slider and the slider to the Stack's ``selected_index`` in the browser. No Python callback is
    involved, so the player works after a headless papermill run and in the HTML export (widget state
    saved). Returns a :class:`ipywidgets.VBox`.
    """
    import ipywidgets as widgets

    history = as_history(records)
    frames = render_frames(history, scale, dpi)
    stack = widgets.Stack([widgets.Image(value=png, format="png") for png in frames], selected_index=0)
    last = len(frames) - 1
    play = widgets.Play(value=0, min=0, max=last, step=1, interval=interval, description="play")
    slider = widgets.IntSlider(value=0, min=0, max=last, step=1, description="epoch #",
                               readout=True, continuous_update=True)  # fmt: skip
    widgets.jslink((play, "value"), (slider, "value"))
    widgets.jslink((slider, "value"), (stack, "selected_index"))
    return widgets.VBox([widgets.HBox([play, slider]), stack])
