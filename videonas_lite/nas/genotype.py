"""Deriving a discrete cell from the alphas (Peng Fig. 2; PV-NAS Sec. 3.2.1; DARTS Sec. 2.4).

For each edge keep its strongest op other than Zero (score: ``softmax(alpha)``); for each node keep the
two incoming edges with the highest such scores. A cell is a list of ``(op, source state, target node)``
in the edge order of :func:`~videonas_lite.nas.cells.edge_list` (states 0, 1 are the inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from videonas_lite.nas.cells import edge_list
from videonas_lite.nas.ops import ZERO_NAMES

Cell = list[tuple[str, int, int]]


def derive_cell(weights: torch.Tensor, op_names: Sequence[str], nodes: int, keep: int = 2) -> Cell:
    """The discrete cell of one alpha softmax ``weights`` (``M x |O|``)."""
    nonzero = [k for k, name in enumerate(op_names) if name not in ZERO_NAMES]
    best: dict[int, list[tuple[float, str, int]]] = {i: [] for i in range(nodes)}
    for row, (src, node) in zip(weights.detach().cpu(), edge_list(nodes), strict=True):
        k = max(nonzero, key=lambda j: row[j].item())
        best[node].append((row[k].item(), op_names[k], src))
    cell = []
    for node in range(nodes):
        for _, op, src in sorted(best[node], key=lambda t: -t[0])[:keep]:
            cell.append((op, src, node))
    return sorted(cell, key=lambda e: (e[2], e[1]))


def derive(model) -> dict[str, Cell]:
    """One discrete cell per cell kind of a search network."""
    return {kind: derive_cell(w, model.op_names[kind], model.nodes) for kind, w in model.op_weights().items()}


PARAMETER_FREE = frozenset({"MPool_3", "APool_3", "Skip_Con", "Identity", "1x3x3 ave pooling", "1x3x3 max pooling"})


def kept_op_weights(
    weights: dict[str, Sequence[Sequence[float]]], genotype: dict[str, Cell], op_names: dict[str, Sequence[str]]
) -> dict[str, list[float]]:
    """Per cell kind: the softmax weight of the chosen op on every edge the derived cell keeps.

    A search that learned (README) has each of them at least ``2 / |O|``, twice the uniform weight.
    """
    out = {}
    for kind, cell in genotype.items():
        edges = edge_list(max(node for _, _, node in cell) + 1)
        names = list(op_names[kind])
        out[kind] = [float(weights[kind][edges.index((src, node))][names.index(op)]) for op, src, node in cell]
    return out


def parameter_free_share(genotype: dict[str, Cell]) -> float:
    """The share of parameter-free ops in a genotype (PV-NAS Sec. 3.3: a collapsed search picks mostly these)."""
    ops = [op for cell in genotype.values() for op, _, _ in cell]
    return sum(op in PARAMETER_FREE for op in ops) / len(ops)
