"""Tables and figures of the candidate operators, for notebook 02 (2+1)D operators.

* :func:`op_cost_frame`: the cost of every op of both papers (``nas.cost.op_table``) as one readable table,
  normal and reduction side by side, with units in the headers.
* :func:`plot_conv_costs`: parameters and FLOPs of 3D and (2+1)D convs against the width ``C``, on log axes
  with distinct markers and line styles, and a panel of each variant's ratio to the 3D conv (curves that
  coincide on a linear axis stay apart there).
* :func:`group_footprints` and :func:`plot_receptive_fields`: ops whose impulse footprints
  (``nas.cost.impulse_footprint``) are identical share one panel, so the figure has a few large panels.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from videonas_lite.nas.cost import op_table

__all__ = ["group_footprints", "op_cost_frame", "plot_conv_costs", "plot_receptive_fields"]

STYLES = (("o", "-"), ("s", "--"), ("^", ":"), ("D", "-."))
"""(marker, line style) per curve, so overlapping curves stay distinguishable in print."""


def op_cost_frame(channels: int, clip_shape: tuple[int, int, int]) -> pd.DataFrame:
    """Parameters and forward MFLOPs of every op of both papers, at stride 1 (normal cell) and 2 (reduction cell).

    Indexed by (paper, set, op); the clip is ``(1, channels, *clip_shape)``; see ``nas.cost.op_table``.
    """
    if channels < 1 or len(clip_shape) != 3 or min(clip_shape) < 1:
        raise ValueError(f"expected channels >= 1 and a clip shape (T, H, W) of positive sizes, "
                         f"got channels={channels}, clip_shape={clip_shape}")
    normal, reduction = op_table(channels, clip_shape, stride=1), op_table(channels, clip_shape, stride=2)
    rows = [
        {"paper": n.paper, "set": n.op_set, "op": n.op,
         "params, normal": n.params, "params, reduction": r.params,
         "MFLOPs, normal": round(n.flops / 1e6, 3), "MFLOPs, reduction": round(r.flops / 1e6, 3)}
        for n, r in zip(normal, reduction, strict=True)
    ]  # fmt: skip
    return pd.DataFrame(rows).set_index(["paper", "set", "op"])


def plot_conv_costs(
    widths: Sequence[int],
    params: Mapping[str, Sequence[float]],
    flops: Mapping[str, Sequence[float]],
    reference: str | None = None,
    clip: str = "",
):
    """Parameters and GFLOPs against ``C`` (log-log), and each variant's parameter ratio to ``reference``.

    ``params`` and ``flops`` map a label to one value per width; ``reference`` (default: the first label) is
    the 3D conv the ratios divide by. Returns the figure (10 x 3.4 inches).
    """
    labels = list(params)
    reference = reference or labels[0]
    if reference not in params or set(flops) != set(params):
        raise ValueError(f"params and flops must have the same labels, including reference {reference!r}; "
                         f"got {sorted(params)} and {sorted(flops)}")
    if any(len(v) != len(widths) for v in [*params.values(), *flops.values()]):
        raise ValueError(f"every curve needs one value per width ({len(widths)} widths)")
    fig, (ax_p, ax_f, ax_r) = plt.subplots(1, 3, figsize=(10, 3.4))
    ref = np.asarray(params[reference], dtype=float)
    for k, label in enumerate(labels):
        marker, ls = STYLES[k % len(STYLES)]
        style = {"marker": marker, "ls": ls, "label": label, "ms": 7 - 1.5 * k, "mfc": "none" if k == 0 else None}
        ax_p.plot(widths, params[label], **style)
        ax_f.plot(widths, np.asarray(flops[label], dtype=float) / 1e9, **style)
        ax_r.plot(widths, np.asarray(params[label], dtype=float) / ref, **style)
    for ax in (ax_p, ax_f):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
    ax_r.set_xscale("log", base=2)
    ax_p.set(xlabel="channels C (C_in = C_out)", ylabel="parameters (log scale)", title="weights")
    ax_f.set(xlabel="channels C", ylabel="GFLOPs per clip (log scale)", title=f"forward FLOPs{clip}")
    ax_r.set(xlabel="channels C", ylabel=f"parameters / {reference}", title="ratio to the 3D conv", ylim=(0, 1.15))
    ax_r.axhline(12 / 27, color="gray", lw=0.8, ls=":")
    ax_r.annotate("12/27", (widths[-1], 12 / 27), xytext=(0, -12), textcoords="offset points", ha="right",
                  fontsize=9, color="gray")
    ax_r.legend(loc="lower right", fontsize=9)
    for ax in (ax_p, ax_f, ax_r):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def group_footprints(footprints: Mapping[str, torch.Tensor]) -> list[tuple[list[str], torch.Tensor]]:
    """Ops with identical footprints, grouped: ``[(op names, footprint), ...]`` in first-appearance order."""
    groups: list[tuple[list[str], torch.Tensor]] = []
    for name, reached in footprints.items():
        reached = reached.bool()
        for names, shared in groups:
            if shared.shape == reached.shape and torch.equal(shared, reached):
                names.append(name)
                break
        else:
            groups.append(([name], reached))
    return groups


def plot_receptive_fields(footprints: Mapping[str, torch.Tensor], radius: int = 3, cols: int = 3):
    """One panel per distinct footprint (``(T, H, W)`` booleans around a centred impulse), titled by its ops.

    Each panel shows frames ``t-1, t, t+1`` side by side, ``2 radius + 1`` pixels square around the centre.
    """
    groups = group_footprints(footprints)
    rows = -(-len(groups) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 1.8 * rows + 0.2), squeeze=False)
    for ax, (names, reached) in zip(axes.flat, groups, strict=False):
        (T, H, W), (t, h, w) = reached.shape, (s // 2 for s in reached.shape)
        if T < 3 or min(h, w, H - 1 - h, W - 1 - w) < radius:
            raise ValueError(f"footprint {tuple(reached.shape)} too small for frames t-1..t+1 and radius {radius}")
        patch = reached[t - 1 : t + 2, h - radius : h + radius + 1, w - radius : w + radius + 1].float().numpy()
        side = 2 * radius + 1
        strip = np.concatenate([np.pad(p, ((0, 0), (0, 1)), constant_values=0.35) for p in patch], axis=1)
        ax.imshow(strip, cmap="Greens", vmin=0, vmax=1)
        ax.set_xticks([radius + k * (side + 1) for k in range(3)], ["t-1", "t", "t+1"], fontsize=9)
        ax.set_yticks([])
        taps = int(reached.sum())
        ax.set_title(textwrap.fill(", ".join(names), 34) + f"\n{taps} tap{'s' * (taps != 1)}", fontsize=9)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig
