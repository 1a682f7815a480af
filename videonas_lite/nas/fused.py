"""The search cell of nas/cells.py computed faster: the same function, edges batched by source node.

Taught by notebook 03 (section 5). :meth:`SearchCell.forward <videonas_lite.nas.cells.SearchCell.forward>`
is the definition: for each node, for each incoming edge, for each op, ``softmax(alpha)_o * op(x)``.
:func:`cell_forward` (what a cell built with ``fused=True``, the default, runs) computes each node's
*outgoing* edges together, as soon as the node is known. The ops of one kind on the edges leaving one
node share their input, so their first convs become one conv over the concatenated weights, later convs
one grouped conv (``groups`` = edges), pools, skips, the shared ReLU and its subsample for strided convs
are computed once, each op's ``softmax(alpha)`` weights ride on its last BN, and ``Zero`` is skipped.
The parameters stay in the per-edge :class:`~videonas_lite.nas.cells.MixedOp` modules (weights are
concatenated on the fly, and autograd splits the gradients back), so both forwards share their parameters;
tests/test_fused.py checks outputs and every gradient equal, and benchmarks/search_step.py measures the speed-up.

Batching reads an op's layers, so the fast path knows which layers it can batch: ReLU, bias-free
``Conv3d``, affine-free batch-statistics BN, parameter-free per-channel layers (pools, the identity),
:class:`~videonas_lite.nas.ops.FactorizedReduce` and ``Zero``. Anything else raises
``NotImplementedError`` naming the op, rather than being computed wrongly: a new op needs a rule here,
or a network built with ``fused=False``.

It also keeps ``channels_last_3d`` clips in that layout from node to node (nas/kernels.py: a (2+1)D
conv on another layout falls back to a slow 3D conv).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import kernels, ops

if TYPE_CHECKING:
    from videonas_lite.nas.cells import MixedOp, SearchCell

PER_CHANNEL_LAYERS = (ops.Pool, nn.Identity)
"""Layers the fast path runs once for all edges: parameter-free and channel by channel."""


def is_param_free(module: nn.Module) -> bool:
    """Whether ``module`` has no parameters (so one output serves every edge that holds it)."""
    return not any(True for _ in module.parameters())


def cell_forward(cell: SearchCell, s0: torch.Tensor, s1: torch.Tensor, op_weights: torch.Tensor) -> torch.Tensor:
    """``cell``'s output, the same function as its definition (``cell.forward`` with ``fused=False``)."""
    states = [cell.preprocess0(s0), cell.preprocess1(s1)]
    # a node's state feeds the next ops in the input's layout (a sum whose first term is a strided or Zero
    # output would otherwise drop channels-last, and every (2+1)D conv after it run as a slow 3D conv)
    layout = kernels.CL3D if s1.is_contiguous(memory_format=kernels.CL3D) else torch.contiguous_format
    sums: list[torch.Tensor | None] = [None] * cell.nodes
    for j in range(cell.nodes + 1):
        if j >= 2:
            states.append(sums[j - 2].contiguous(memory_format=layout))
        out_edges = [e for e, (src, _) in enumerate(cell.edges) if src == j]
        mixed = mixed_outgoing([cell.mixed[e] for e in out_edges], states[j], op_weights[out_edges])
        for e, y in zip(out_edges, mixed, strict=True):
            node = cell.edges[e][1]
            sums[node] = y if sums[node] is None else sums[node] + y
    states.append(sums[-1])
    return torch.cat(states[2:], dim=1)


def mixed_outgoing(edges: list[MixedOp], x: torch.Tensor, op_weights: torch.Tensor) -> list[torch.Tensor]:
    """``[o_bar^{e}(x) for e in edges]`` for edges that all leave the same state (``op_weights``: ``k x |O|``).

    Ops with parameters come out stacked (``N, k C, ...``), each already scaled by ``softmax(alpha)_{e, o}``
    over edge ``e``'s C channels (as the weight of its last, affine-free BN: one kernel, forward and backward,
    instead of a multiply whose backward is two more), and are summed; parameter-free ops give one tensor
    shared by all edges and are mixed edge by edge.
    """
    first = edges[0]
    if any(e.op_names != first.op_names or e.stride != first.stride for e in edges):
        raise ValueError("the fused forward batches edges that hold the same ops at the same stride; these differ")
    k, cache = len(edges), {}
    stacked, shared = None, [None] * k
    for o, name in enumerate(first.op_names):
        same_op = [edge.ops[o] for edge in edges]
        if isinstance(same_op[0], ops.Zero):
            continue
        y, is_shared = _stacked(name, same_op, x, cache, op_weights[:, o])
        if is_shared:
            shared = [y * op_weights[e, o] if s is None else s + y * op_weights[e, o] for e, s in enumerate(shared)]
        else:
            stacked = y if stacked is None else stacked + y
    if stacked is None and shared[0] is None:  # every op is Zero
        return [first.ops[0](x)] * k
    parts = [None] * k if stacked is None else stacked.chunk(k, dim=1)
    return [p if s is None else s if p is None else p + s for p, s in zip(parts, shared, strict=True)]


def _leaves(module: nn.Module) -> list[nn.Module]:
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _leaves(child)]
    return [module]


def _stacked(
    name: str, same_op: list[nn.Module], x: torch.Tensor, cache: dict, edge_weights: torch.Tensor
) -> tuple[torch.Tensor, bool]:
    """Run ``k`` structurally identical ops (the op ``name`` of ``k`` edges) on the shared input ``x`` at once.

    Returns ``(y, shared)``: ``shared`` means no layer had parameters, so ``y`` (``N, C, ...``) is every edge's
    output, unscaled; otherwise ``y`` is ``(N, k C, ...)``, edge ``e``'s output times ``edge_weights[e]`` in
    channels ``[e C, (e + 1) C)``.
    """
    if isinstance(same_op[0], ops.FactorizedReduce):
        _check_batch_statistics(name, same_op[0].bn)
        weight = torch.cat([kernels.factorized_reduce_weight(m.conv_even.weight, m.conv_odd.weight) for m in same_op])
        y = kernels.factorized_reduce(_shared_relu(x, cache), weight)
        return kernels.batch_norm(y, same_op[0].bn.eps, _channel_scale(edge_weights, y)), False
    layers = [_leaves(op) for op in same_op]
    shared, scaled = True, False
    for depth, layer in enumerate(layers[0]):
        if isinstance(layer, nn.ReLU):
            x = _shared_relu(x, cache) if shared else F.relu(x)
        elif isinstance(layer, nn.Conv3d):
            if layer.bias is not None or layer.padding_mode != "zeros":
                raise NotImplementedError(f"op {name!r}: the fused forward batches bias-free, zero-padded convs only")
            x, shared = _stacked_conv([ls[depth] for ls in layers], x, shared, cache), False
        elif isinstance(layer, nn.BatchNorm3d):
            _check_batch_statistics(name, layer)
            last = not shared and depth == len(layers[0]) - 1
            x, scaled = kernels.batch_norm(x, layer.eps, _channel_scale(edge_weights, x) if last else None), last
        elif isinstance(layer, PER_CHANNEL_LAYERS) and is_param_free(layer):
            x = layer(x)  # stacked or shared, a per-channel layer without parameters computes the same
        else:
            raise NotImplementedError(
                f"op {name!r}: the fused forward cannot batch a {type(layer).__name__} layer (it batches ReLU, "
                "Conv3d, affine-free BN, parameter-free pools and identities); add a rule to nas/fused.py or "
                "build the network with fused=False"
            )
    if not shared and not scaled:
        x = x * _channel_scale(edge_weights, x).view(1, -1, *([1] * (x.dim() - 2)))
    return x, shared


def _channel_scale(edge_weights: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``edge_weights[e]`` repeated over edge ``e``'s channels of the stacked ``y`` (``N, k C, ...``)."""
    return edge_weights.repeat_interleave(y.shape[1] // len(edge_weights))


def _check_batch_statistics(name: str, bn: nn.BatchNorm3d) -> None:
    """The fast path normalises with :func:`~videonas_lite.nas.kernels.batch_norm`: no affine, no running stats."""
    if bn.affine or bn.track_running_stats:
        raise NotImplementedError(f"op {name!r}: the fused forward needs affine-free batch-statistics BN (search BN)")


def _shared_relu(x: torch.Tensor, cache: dict) -> torch.Tensor:
    """ReLU of a node's state, computed once for all the ops on all the edges that leave it."""
    if "relu" not in cache:
        cache["relu"] = F.relu(x)
    return cache["relu"]


def _stacked_conv(convs: list[nn.Conv3d], x: torch.Tensor, shared: bool, cache: dict) -> torch.Tensor:
    """One conv for ``k`` edges: weights concatenated along the output channels, ``groups`` scaled by ``k``.

    A strided conv that reads only every ``s``-th pixel (:func:`~videonas_lite.nas.kernels.on_subsample`) of the
    shared input runs on the input's subsample, made once per stride for all the ops that leave the node, and
    before a depthwise conv copies the input for each edge.
    """
    c, k = convs[0], len(convs)
    stride, padding, dilation = c.stride, c.padding, c.dilation
    if shared and (unstrided := kernels.on_subsample(c.weight, stride, padding, dilation)) is not None:
        key = ("subsample", stride)
        if key not in cache or cache[key][0] is not x:
            cache[key] = (x, kernels.subsample(x, stride))
        x, (stride, padding, dilation) = cache[key][1], unstrided
    if shared and c.groups > 1:  # a depthwise conv needs each edge's own copy of the input
        layout = kernels.CL3D if x.is_contiguous(memory_format=kernels.CL3D) else torch.contiguous_format
        x = torch.cat([x] * k, dim=1).contiguous(memory_format=layout)  # cat may drop channels-last
        shared = False
    weight = torch.cat([m.weight for m in convs]) if k > 1 else c.weight
    groups = c.groups if shared else c.groups * k
    return kernels.conv3d(x, weight, stride, padding, dilation, groups)
