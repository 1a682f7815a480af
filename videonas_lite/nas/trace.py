"""What each layer of a search network emits: output shape and weights, stem, cell by cell, classifier.

Taught by notebook 03 (section 4, both papers' search networks on a real clip batch). Forward hooks record
the output of the stem and of every cell during one forward pass without gradients; the hooks are removed
afterwards, even if the pass fails.
"""

from __future__ import annotations

import torch

from videonas_lite.nas.cost import count_parameters
from videonas_lite.nas.networks import SearchNetwork

__all__ = ["trace_cells"]


def trace_cells(net: SearchNetwork, clips: torch.Tensor) -> tuple[torch.Tensor, list[dict]]:
    """Run ``clips`` ``(N, 3, T, H, W)`` through ``net``; return its logits and one row per layer.

    Rows (stem, ``cell 0`` .. ``cell K-1``, classifier) hold ``layer``, ``kind`` (the cell kind: Peng's
    ``normal``/``reduce``, PV-NAS's ``S-NC`` ...), ``reduction``, ``C (per node)`` (a cell's output channels
    over its ``n`` nodes), ``output (N, C, T, H, W)`` and ``weights`` (parameters, alphas excluded as they
    belong to the network, not the cell). Fields that do not apply to a layer are ``""``.
    """
    if clips.dim() != 5:
        raise ValueError(f"expected clips of shape (N, C, T, H, W), got {tuple(clips.shape)}")
    shapes: dict[str | int, tuple[int, ...]] = {}

    def record(key):
        return lambda module, inputs, output: shapes.__setitem__(key, tuple(output.shape))

    hooks = [net.stem.register_forward_hook(record("stem"))]
    hooks += [cell.register_forward_hook(record(k)) for k, cell in enumerate(net.cells)]
    try:
        with torch.no_grad():
            logits = net(clips)
    finally:
        for hook in hooks:
            hook.remove()
    blank = {"kind": "", "reduction": "", "C (per node)": ""}
    rows = [{"layer": "stem", **blank, "output (N, C, T, H, W)": shapes["stem"], "weights": count_parameters(net.stem)}]
    for k, (spec, cell) in enumerate(zip(net.plan, net.cells, strict=True)):
        rows.append({"layer": f"cell {k}", "kind": spec.kind, "reduction": spec.reduction,
                     "C (per node)": cell.out_channels // cell.nodes, "output (N, C, T, H, W)": shapes[k],
                     "weights": count_parameters(cell)})  # fmt: skip
    rows.append({"layer": "classifier", **blank, "output (N, C, T, H, W)": tuple(logits.shape),
                 "weights": count_parameters(net.classifier)})  # fmt: skip
    return logits, rows
