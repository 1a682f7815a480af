"""The continuous relaxation: mixed edges and the search cell (Peng Sec. 2.1; PV-NAS Sec. 3.2, Eq. 2).

Taught by notebook 03. A search cell is a DAG with two input states (the previous two cells' outputs, each
preprocessed to C channels: Peng's "feature map adaption layer") and ``n`` intermediate nodes. Node ``i``
sums a mixed edge from every state before it, so the cell has ``M = (n + 1)(n + 2) / 2 - 1`` edges; its
output concatenates the ``n`` nodes (``n C`` channels).

This module is the definition, read straight off the equations. :mod:`videonas_lite.nas.fused` computes the
same function faster (``SearchCell(..., fused=True)``, the default); tests/test_fused.py checks the two equal.
"""

from __future__ import annotations

import torch
from torch import nn

from videonas_lite.nas import fused as fused_path
from videonas_lite.nas import ops


def num_edges(nodes: int) -> int:
    """Peng Sec. 2.1: ``M = (n + 1)(n + 2) / 2 - 1`` edges in a cell of ``n`` intermediate nodes."""
    return (nodes + 1) * (nodes + 2) // 2 - 1


def edge_list(nodes: int) -> list[tuple[int, int]]:
    """Edges ``(source state, target node)`` in DARTS order: node 0's inputs, then node 1's, ...

    States ``0, 1`` are the two cell inputs; state ``2 + i`` is intermediate node ``i``.
    """
    return [(j, i) for i in range(nodes) for j in range(2 + i)]


class MixedOp(nn.Module):
    """``o_bar(x) = sum_o softmax(alpha)_o * o(x)`` over the candidate ops of one edge (PV-NAS Eq. 2).

    As in DARTS, a pool is followed by an affine-free BN in a search network, so that a pool's output
    has the scale of the conv ops' (BN-ended) outputs and the alphas compare like with like.
    """

    def __init__(self, channels: int, stride: int, op_names: tuple[str, ...]):
        super().__init__()
        self.op_names, self.stride = tuple(op_names), stride
        self.ops = nn.ModuleList(ops.make_edge_op(name, channels, stride, affine=False) for name in self.op_names)

    def forward(self, x: torch.Tensor, op_weights: torch.Tensor) -> torch.Tensor:
        """``op_weights``: this edge's ``softmax(alpha)``, one per op. ``Zero`` adds nothing and is skipped."""
        terms = [w * op(x) for w, op in zip(op_weights, self.ops, strict=True) if not isinstance(op, ops.Zero)]
        return sum(terms[1:], terms[0]) if terms else self.ops[0](x)


class SearchCell(nn.Module):
    """A search cell: preprocessing, ``M`` mixed edges over ``n`` nodes, concat of the nodes (Peng Sec. 2.1)."""

    def __init__(
        self,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        op_names: tuple[str, ...],
        nodes: int = 4,
        fused: bool = True,
    ):
        super().__init__()
        self.reduction, self.nodes, self.op_names, self.fused = reduction, nodes, tuple(op_names), fused
        self.preprocess0 = (
            ops.FactorizedReduce(c_prev_prev, channels, affine=False)
            if reduction_prev
            else ops.relu_conv_bn(c_prev_prev, channels, affine=False)
        )
        self.preprocess1 = ops.relu_conv_bn(c_prev, channels, affine=False)
        self.edges = edge_list(nodes)
        self.mixed = nn.ModuleList(
            MixedOp(channels, 2 if reduction and src < 2 else 1, self.op_names) for src, _ in self.edges
        )
        self.out_channels = nodes * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, op_weights: torch.Tensor) -> torch.Tensor:
        """Node ``i = sum_{j < i} o_bar^{(j, i)}(state_j)``; the output concatenates the nodes.

        ``op_weights``: ``softmax(alpha)`` of this cell's kind, ``M x |O|``. With ``fused`` the same
        function is computed by :func:`videonas_lite.nas.fused.cell_forward`.
        """
        if self.fused:
            return fused_path.cell_forward(self, s0, s1, op_weights)
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for i in range(self.nodes):
            incoming = [self.mixed[edge + j](states[j], op_weights[edge + j]) for j in range(2 + i)]
            edge += 2 + i
            states.append(sum(incoming[1:], incoming[0]))
        return torch.cat(states[2:], dim=1)
