"""The continuous relaxation: mixed edges and the search cell (Peng Sec. 2.1; PV-NAS Sec. 3.1.1, Eq. 2).

A search cell is a DAG with two input nodes (the previous two cells' outputs, each preprocessed to C
channels: Peng's "feature map adaption layer") and ``n`` intermediate nodes. Node ``i`` sums a mixed
edge from every node before it, so the cell has ``M = (n + 1)(n + 2) / 2 - 1`` edges (Peng Sec. 2.1);
its output concatenates the ``n`` intermediate nodes (``n C`` channels).

Two forward passes compute the same function:

* :meth:`SearchCell.forward_reference` is the definition, read straight off the equations: for each
  node, for each incoming edge, for each op, ``softmax(alpha)_o * op(x)``.
* :meth:`SearchCell.forward` computes each node's outgoing edges together, as soon as the node is
  known. The ops of one kind on the edges leaving one node share their input, so their first convs
  become one conv over the concatenated weights, later convs one grouped conv (``groups`` = edges),
  pools, skips and the shared ReLU are computed once, and Zero is skipped. The parameters stay in
  the per-edge :class:`MixedOp` modules (weights are concatenated on the fly, which autograd splits
  back), so both passes share parameters and a test checks them equal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import kernels
from videonas_lite.nas import ops as O


def num_edges(nodes: int) -> int:
    """Peng Sec. 2.1: ``M = (n + 1)(n + 2) / 2 - 1`` edges in a cell of ``n`` intermediate nodes."""
    return (nodes + 1) * (nodes + 2) // 2 - 1


def edge_list(nodes: int) -> list[tuple[int, int]]:
    """Edges ``(source state, target node)`` in DARTS order: node 0's inputs, then node 1's, ...

    States ``0, 1`` are the two cell inputs; state ``2 + i`` is intermediate node ``i``.
    """
    return [(j, i) for i in range(nodes) for j in range(2 + i)]


def is_param_free(module: nn.Module) -> bool:
    return not any(True for _ in module.parameters())


class MixedOp(nn.Module):
    """``o_bar(x) = sum_o softmax(alpha)_o * o(x)`` over the candidate ops of one edge (PV-NAS Eq. 2).

    As in DARTS, a pool is followed by an affine-free BN in a search network, so that a pool's output
    has the scale of the conv ops' (BN-ended) outputs and the alphas compare like with like.
    """

    def __init__(self, channels: int, stride: int, op_names: tuple[str, ...]):
        super().__init__()
        self.op_names = tuple(op_names)
        self.ops = nn.ModuleList()
        for name in self.op_names:
            op = O.make_op(name, channels, stride, affine=False)
            if isinstance(op, O.Pool):
                op = nn.Sequential(op, O.bn(channels, affine=False))
            self.ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """``weights``: the softmax of this edge's alphas, one per op."""
        terms = [w * op(x) for w, op in zip(weights, self.ops, strict=True) if not isinstance(op, O.Zero)]
        return sum(terms[1:], terms[0]) if terms else self.ops[0](x)


class SearchCell(nn.Module):
    """A search cell: preprocessing, ``M`` mixed edges over ``n`` nodes, concat of the nodes."""

    def __init__(
        self,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        op_names: tuple[str, ...],
        nodes: int = 4,
    ):
        super().__init__()
        self.reduction, self.nodes, self.op_names = reduction, nodes, tuple(op_names)
        self.preprocess0 = (
            O.FactorizedReduce(c_prev_prev, channels, affine=False)
            if reduction_prev
            else O.relu_conv_bn(c_prev_prev, channels, affine=False)
        )
        self.preprocess1 = O.relu_conv_bn(c_prev, channels, affine=False)
        self.edges = edge_list(nodes)
        self.mixed = nn.ModuleList(
            MixedOp(channels, 2 if reduction and j < 2 else 1, self.op_names) for j, _ in self.edges
        )
        self.out_channels = nodes * channels

    def _inputs(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.preprocess0(s0), self.preprocess1(s1)]

    def forward_reference(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The definition: node ``i = sum_{j < i} o_bar^{(j, i)}(state_j)``; output = concat of nodes."""
        states = self._inputs(s0, s1)
        edge = 0
        for i in range(self.nodes):
            incoming = [self.mixed[edge + j](states[j], weights[edge + j]) for j in range(2 + i)]
            edge += 2 + i
            states.append(sum(incoming[1:], incoming[0]))
        return torch.cat(states[2:], dim=1)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """Same function as :meth:`forward_reference`, edges batched by source node (module docstring)."""
        states = self._inputs(s0, s1)
        # a node's state feeds the next ops in the input's layout (a sum whose first term is a strided or Zero
        # output would otherwise drop channels-last, and every (2+1)D conv after it run as a slow 3D conv)
        layout = kernels.CL3D if s1.is_contiguous(memory_format=kernels.CL3D) else torch.contiguous_format
        sums: list[torch.Tensor | None] = [None] * self.nodes
        for j in range(self.nodes + 1):
            if j >= 2:
                states.append(sums[j - 2].contiguous(memory_format=layout))
            out_edges = [e for e, (src, _) in enumerate(self.edges) if src == j]
            mixed = _mixed_outgoing([self.mixed[e] for e in out_edges], states[j], weights[out_edges])
            for e, y in zip(out_edges, mixed, strict=True):
                node = self.edges[e][1]
                sums[node] = y if sums[node] is None else sums[node] + y
        states.append(sums[-1])
        return torch.cat(states[2:], dim=1)


def _mixed_outgoing(edges: list[MixedOp], x: torch.Tensor, weights: torch.Tensor) -> list[torch.Tensor]:
    """``[o_bar^{e}(x) for e in edges]`` for edges that all leave the same node (``weights``: ``k x |O|``).

    Ops with parameters come out stacked (``N, k C, ...``) and are mixed with one per-channel scale each
    (``softmax(alpha)_{e, o}`` repeated over edge ``e``'s C channels); parameter-free ops give one
    tensor shared by all edges and are mixed edge by edge.
    """
    k, relu_cache = len(edges), {}
    stacked, shared = None, [None] * k
    for o in range(len(edges[0].ops)):
        same_op = [edge.ops[o] for edge in edges]
        if isinstance(same_op[0], O.Zero):
            continue
        y, is_shared = _stacked(same_op, x, relu_cache)
        if is_shared:
            shared = [y * weights[e, o] if s is None else s + y * weights[e, o] for e, s in enumerate(shared)]
        else:
            scale = weights[:, o].repeat_interleave(y.shape[1] // k).view(1, -1, *([1] * (y.dim() - 2)))
            stacked = y * scale if stacked is None else torch.addcmul(stacked, y, scale)
    if stacked is None and shared[0] is None:  # every op is Zero
        return [edges[0].ops[0](x)] * k
    parts = [None] * k if stacked is None else stacked.chunk(k, dim=1)
    return [p if s is None else s if p is None else p + s for p, s in zip(parts, shared, strict=True)]


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _stacked(same_op: list[nn.Module], x: torch.Tensor, relu_cache: dict) -> tuple[torch.Tensor, bool]:
    """Run ``k`` structurally identical ops on the shared input ``x`` at once.

    Returns ``(y, shared)``: ``shared`` means the op has no parameters, so ``y`` (``N, C, ...``) is every
    edge's output; otherwise ``y`` is ``(N, k C, ...)``, edge ``e`` in channels ``[e C, (e + 1) C)``.
    """
    if isinstance(same_op[0], O.FactorizedReduce):
        return _stacked_factorized_reduce(same_op, _shared_relu(x, relu_cache)), False
    layers = [_leaves(op) for op in same_op]
    shared = True
    for depth, layer in enumerate(layers[0]):
        if isinstance(layer, nn.ReLU):
            x = _shared_relu(x, relu_cache) if shared else F.relu(x)
        elif isinstance(layer, nn.Conv3d):
            x, shared = _stacked_conv([ls[depth] for ls in layers], x, shared), False
        elif isinstance(layer, nn.BatchNorm3d):
            x = kernels.batch_norm(x, layer.eps)
        else:  # parameter-free and channel by channel (a pool, the identity): stacking is harmless
            x = layer(x)
    return x, shared


def _shared_relu(x: torch.Tensor, cache: dict) -> torch.Tensor:
    """ReLU of a node's state, computed once for all the ops on all the edges that leave it."""
    if "relu" not in cache:
        cache["relu"] = F.relu(x)
    return cache["relu"]


def _stacked_conv(convs: list[nn.Conv3d], x: torch.Tensor, shared: bool) -> torch.Tensor:
    """One conv for ``k`` edges: weights concatenated along the output channels, ``groups`` scaled by ``k``."""
    c, k = convs[0], len(convs)
    if shared and c.groups > 1:  # a depthwise conv needs each edge's own copy of the input
        layout = kernels.CL3D if x.is_contiguous(memory_format=kernels.CL3D) else torch.contiguous_format
        x = torch.cat([x] * k, dim=1).contiguous(memory_format=layout)  # cat may drop channels-last
        shared = False
    weight = torch.cat([m.weight for m in convs]) if k > 1 else c.weight
    groups = c.groups if shared else c.groups * k
    return kernels.conv3d(x, weight, c.stride, c.padding, c.dilation, groups)


def _stacked_factorized_reduce(same_op: list[O.FactorizedReduce], x: torch.Tensor) -> torch.Tensor:
    """:class:`~videonas_lite.nas.ops.FactorizedReduce` for ``k`` edges; ``x`` is already ReLU'd."""
    k = len(same_op)
    odd = F.pad(x, (0, 1, 0, 1))[:, :, :, 1:, 1:]
    even_w = torch.cat([m.conv_even.weight for m in same_op])
    odd_w = torch.cat([m.conv_odd.weight for m in same_op])
    even = kernels.conv3d(x, even_w, (1, 2, 2)).unflatten(1, (k, -1))
    odd = kernels.conv3d(odd, odd_w, (1, 2, 2)).unflatten(1, (k, -1))
    y = torch.cat([even, odd], dim=2).flatten(1, 2)
    return kernels.batch_norm(y, same_op[0].bn.eps)
