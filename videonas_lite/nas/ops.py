"""Candidate operators of both papers, as (2+1)D modules on ``(N, C, T, H, W)`` clips. Taught by notebook 02.

Two registries map each paper's own op names to constructors ``make(C, stride, affine)``:

* :data:`PENG_OPS`: the eight candidates of Peng et al. Table 1 (``Conv_1`` ... ``Zero``). The paper's
  Table 1 spells the separable conv ``SpeConv_3``; that is the key here, with ``SepConv_3`` accepted as an
  alias (and ``MaxPool_3`` / ``AvgPool_3`` for ``MPool_3`` / ``APool_3``) by :func:`canonical`.
* :data:`PVNAS_SPATIAL_OPS` (PV-NAS Sec. 3.1.2, O_s) and :data:`PVNAS_TEMPORAL_OPS` (Sec. 3.1.3,
  O_t = O_s plus the two temporal convs of Fig. 3), keyed by the paper's words (``1x3x3 ave pooling``).

Choices where the papers are silent, made once and used by every op:

* **Factorisation.** A k x k x k conv becomes a spatial 1 x k x k conv followed by a temporal k x 1 x 1
  conv with no nonlinearity or BN between them: ReLU-Conv2D-Conv1D-BN, exactly the pattern PV-NAS
  Fig. 3 draws for its temporal convs, so Peng's ``Conv_3`` and PV-NAS's ``3+3x3 temporal conv`` are the
  same module. The middle width equals the output width C (R(2+1)D widens it to match the 3D conv's
  parameter count; a cell's ops all keep C, and 12 C^2 instead of 27 C^2 weights is the point).
* **Strides.** A reduction op halves H and W (stride 1 x 2 x 2, output ``ceil(H / 2)`` for odd and
  even sizes alike); time is never strided, so every cell sees all T frames.
* **BN.** One BN at the end of every conv op; ``affine=False`` in search networks (as DARTS: the alphas,
  not a BN scale, should decide an op's weight) and ``affine=True`` in derived networks. Search BNs
  use batch statistics in both modes (``track_running_stats=False``): a supernet's op mixture changes
  every step, so running averages of it would be stale.
* **Peng's pools** pool over 3 x 3 x 3 (the paper decouples *every* operator into space and time;
  pooling is exactly separable, so one 3D pool equals the 1x3x3 pool followed by the 3x1x1 pool).
  PV-NAS's pools are 1 x 3 x 3, as the paper writes. Average pools exclude the padding.
* **Peng's SpeConv_3** is "three 1D filters": depthwise 1x3x1, 1x1x3 and 3x1x1 convs, then a pointwise
  conv to mix channels (depthwise-separable, as DARTS's ``sep_conv``). **DilConv_3** is a depthwise
  1x3x3 conv with dilation 2 (a 5 x 5 spatial field, as the paper says), a depthwise 3x1x1 conv and
  the pointwise conv. PV-NAS's separable conv is DARTS's (the depthwise-pointwise block twice), its
  dilated one DARTS's ``dil_conv``, both 1 x 3 x 3.
* **Skip** with stride 2 is a factorized reduce (two 1x1x1 convs on the even and the odd pixel grid).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import kernels

OpFactory = Callable[[int, int, bool], nn.Module]


class BatchNorm3d(nn.BatchNorm3d):
    """``nn.BatchNorm3d``; without affine and running statistics, :func:`~videonas_lite.nas.kernels.batch_norm`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.affine or self.track_running_stats:
            return super().forward(x)
        return kernels.batch_norm(x, self.eps)


def bn(channels: int, affine: bool) -> BatchNorm3d:
    """The BN every op ends with: affine in derived networks; affine-free batch statistics in search."""
    return BatchNorm3d(channels, affine=affine, track_running_stats=affine)


class Conv3d(nn.Conv3d):
    """``nn.Conv3d`` computed by :func:`~videonas_lite.nas.kernels.conv3d` (a 2D conv on a view when it can)."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        y = kernels.conv3d(x, weight, self.stride, self.padding, self.dilation, self.groups)
        return y if bias is None else y + bias.view(1, -1, 1, 1, 1)


def conv(c_in: int, c_out: int, kernel, stride=1, dilation=1, groups: int = 1) -> Conv3d:
    """A bias-free 3D conv with 'same' padding (per axis, ``dilation * (k - 1) / 2``)."""
    kernel, dilation = _triple(kernel), _triple(dilation)
    padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    return Conv3d(c_in, c_out, kernel, _triple(stride), padding, dilation, groups, bias=False)


def _triple(v) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, tuple | list) else (v, v, v)


def spatial_stride(stride: int) -> tuple[int, int, int]:
    """Reductions stride space only: ``(1, s, s)``."""
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride}")
    return (1, stride, stride)


class Conv2Plus1D(nn.Sequential):
    """ReLU - Conv(1 x k x k, stride 1 x s x s) - Conv(t x 1 x 1) - BN (PV-NAS Fig. 3; Peng Sec. 2.1).

    ``k=3, t=3`` is Peng's ``Conv_3`` and PV-NAS's ``3+3x3 temporal conv``; ``k=1, t=3`` is ``3+1x1``;
    ``k=1, t=1`` is Peng's ``Conv_1`` (one 1x1x1 conv: two stacked linear maps are one). Weights:
    ``k^2 C_in C + t C C_out`` (``t = 1`` adds no second conv).
    """

    def __init__(self, c_in: int, c_out: int, k: int, t: int, stride: int = 1, affine: bool = True):
        layers: list[nn.Module] = [nn.ReLU(), conv(c_in, c_out, (1, k, k), spatial_stride(stride))]
        if t > 1:
            layers.append(conv(c_out, c_out, (t, 1, 1)))
        super().__init__(*layers, bn(c_out, affine))


class SeparableConv(nn.Sequential):
    """ReLU - depthwise convs (one per kernel size in ``kernel_sizes``) - pointwise conv - BN.

    The first depthwise conv carries the spatial stride. Peng's ``SpeConv_3`` uses the three 1D
    kernels ``1x3x1, 1x1x3, 3x1x1``; ``DilConv_3`` uses ``1x3x3`` with dilation ``1x2x2`` then
    ``3x1x1``; PV-NAS's ops use a single ``1x3x3``. Weights: ``C * sum(prod(k)) + C C_out``.
    """

    def __init__(
        self,
        c: int,
        c_out: int,
        kernel_sizes: list[tuple[int, int, int]],
        stride: int = 1,
        dilation=1,
        affine: bool = True,
    ):
        strides = _axis_strides(kernel_sizes, stride)
        layers: list[nn.Module] = [nn.ReLU()]
        for i, (kernel, s) in enumerate(zip(kernel_sizes, strides, strict=True)):
            layers.append(conv(c, c, kernel, s, dilation if i == 0 else 1, groups=c))
        super().__init__(*layers, conv(c, c_out, 1), bn(c_out, affine))


def _axis_strides(kernel_sizes: list[tuple[int, int, int]], stride: int) -> list[tuple[int, int, int]]:
    """Give the spatial stride to the first kernel that spans each spatial axis (H, then W)."""
    out, left = [], {1: stride, 2: stride}
    for kernel in kernel_sizes:
        s = [1, 1, 1]
        for axis in (1, 2):
            if kernel[axis] > 1 and left[axis] > 1:
                s[axis], left[axis] = left[axis], 1
        out.append(tuple(s))
    if any(v > 1 for v in left.values()):  # no kernel spans that axis: stride the first one anyway
        out[0] = tuple(max(a, b) for a, b in zip(out[0], spatial_stride(stride), strict=True))
    return out


class DartsSepConv(nn.Sequential):
    """DARTS's ``sep_conv_3x3`` in (2+1)D form: the 1x3x3 depthwise-pointwise block twice (PV-NAS O_s)."""

    def __init__(self, c: int, c_out: int, stride: int = 1, affine: bool = True):
        super().__init__(
            SeparableConv(c, c, [(1, 3, 3)], stride, affine=affine),
            SeparableConv(c, c_out, [(1, 3, 3)], 1, affine=affine),
        )


class Pool(nn.Module):
    """Max or average pooling with 'same' padding and stride ``1 x s x s`` (average excludes padding)."""

    def __init__(self, kind: str, kernel: tuple[int, int, int], stride: int = 1):
        super().__init__()
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind, self.kernel, self.stride = kind, kernel, spatial_stride(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return kernels.pool3d(x, self.kind, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"{self.kind}, kernel={self.kernel}, stride={self.stride}"


class Identity(nn.Identity):
    """Skip connection at stride 1."""


class Zero(nn.Module):
    """No connection: zeros of the (strided) output shape; contributes nothing, costs nothing."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = spatial_stride(stride)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return x.new_zeros(x[:, :, :, ::s, ::s].shape)


class FactorizedReduce(nn.Module):
    """ReLU, then two 1x1x1 convs of stride 1x2x2 on the even and on the odd pixel grid, concatenated, BN.

    DARTS's strided skip, made correct for odd sizes: the odd grid is padded by one pixel at the far
    edge so both halves have ``ceil(H / 2)`` rows (DARTS's ``x[:, :, 1:, 1:]`` gives one row fewer).
    As in DARTS, only the (even, even) and (odd, odd) pixels are read: half the input never reaches
    the output, and on odd sizes the last odd-grid sample is the zero padding. Computed as one ``1 x 2 x 2``
    conv of stride ``1 x 2 x 2`` that holds both convs' weights (:func:`~videonas_lite.nas.kernels.factorized_reduce`;
    tests/test_ops.py checks it against the two grids).
    """

    def __init__(self, c_in: int, c_out: int, affine: bool = True):
        super().__init__()
        self.conv_even = conv(c_in, c_out // 2, 1, (1, 2, 2))
        self.conv_odd = conv(c_in, c_out - c_out // 2, 1, (1, 2, 2))
        self.bn = bn(c_out, affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = kernels.factorized_reduce_weight(self.conv_even.weight, self.conv_odd.weight)
        return self.bn(kernels.factorized_reduce(F.relu(x), weight))


def skip(c: int, stride: int, affine: bool) -> nn.Module:
    return Identity() if spatial_stride(stride)[1] == 1 else FactorizedReduce(c, c, affine)


def relu_conv_bn(c_in: int, c_out: int, affine: bool = True) -> Conv2Plus1D:
    """1x1x1 ReLU-Conv-BN, the preprocessing of a cell's inputs (Peng's 'feature map adaption layer')."""
    return Conv2Plus1D(c_in, c_out, k=1, t=1, affine=affine)


PENG_OPS: dict[str, OpFactory] = {
    "Conv_1": lambda c, s, a: Conv2Plus1D(c, c, k=1, t=1, stride=s, affine=a),
    "Conv_3": lambda c, s, a: Conv2Plus1D(c, c, k=3, t=3, stride=s, affine=a),
    "SpeConv_3": lambda c, s, a: SeparableConv(c, c, [(1, 3, 1), (1, 1, 3), (3, 1, 1)], s, affine=a),
    "DilConv_3": lambda c, s, a: SeparableConv(c, c, [(1, 3, 3), (3, 1, 1)], s, dilation=(1, 2, 2), affine=a),
    "MPool_3": lambda c, s, a: Pool("max", (3, 3, 3), s),
    "APool_3": lambda c, s, a: Pool("avg", (3, 3, 3), s),
    "Skip_Con": skip,
    "Zero": lambda c, s, a: Zero(s),
}
"""Peng et al. Table 1, in the table's order."""

PVNAS_SPATIAL_OPS: dict[str, OpFactory] = {
    "Identity": skip,
    "Zero": lambda c, s, a: Zero(s),
    "1x3x3 ave pooling": lambda c, s, a: Pool("avg", (1, 3, 3), s),
    "1x3x3 max pooling": lambda c, s, a: Pool("max", (1, 3, 3), s),
    "1x3x3 separable conv": lambda c, s, a: DartsSepConv(c, c, s, affine=a),
    "1x3x3 dilated separable conv": lambda c, s, a: SeparableConv(c, c, [(1, 3, 3)], s, (1, 2, 2), affine=a),
}
"""PV-NAS Sec. 3.1.2, O_s."""

PVNAS_TEMPORAL_OPS: dict[str, OpFactory] = {
    **PVNAS_SPATIAL_OPS,
    "3+3x3 temporal conv": lambda c, s, a: Conv2Plus1D(c, c, k=3, t=3, stride=s, affine=a),
    "3+1x1 temporal conv": lambda c, s, a: Conv2Plus1D(c, c, k=1, t=3, stride=s, affine=a),
}
"""PV-NAS Sec. 3.1.3, O_t = O_s plus the two temporal convs of Fig. 3."""

OP_SETS: dict[str, dict[str, OpFactory]] = {
    "peng": PENG_OPS,
    "pvnas_spatial": PVNAS_SPATIAL_OPS,
    "pvnas_temporal": PVNAS_TEMPORAL_OPS,
}

ALIASES = {"SepConv_3": "SpeConv_3", "MaxPool_3": "MPool_3", "AvgPool_3": "APool_3", "none": "Zero"}
ZERO_NAMES = frozenset({"Zero"})


def canonical(name: str) -> str:
    """The registry key for ``name`` (the paper's spelling; a few common aliases accepted)."""
    return ALIASES.get(name, name)


def make_op(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """Build the op called ``name`` (a key of any registry, or an alias) for ``channels`` at ``stride``."""
    key = canonical(name)
    for ops in OP_SETS.values():
        if key in ops:
            return ops[key](channels, stride, affine)
    known = sorted({k for ops in OP_SETS.values() for k in ops} | set(ALIASES))
    raise KeyError(f"unknown op {name!r}; known ops: {known}")


def make_edge_op(name: str, channels: int, stride: int = 1, affine: bool = True) -> nn.Module:
    """The op as an edge of a cell holds it: :func:`make_op`, and after a pool a BN (DARTS's search cell).

    A pool passes its input's scale on, while every conv op ends in a BN; the BN gives a pool's output the
    same scale. The search cells (``affine=False``) and the derived cells (``affine=True``) both use it.
    """
    op = make_op(name, channels, stride, affine)
    return nn.Sequential(op, bn(channels, affine=affine)) if isinstance(op, Pool) else op


def op_names(op_set: str | tuple[str, ...]) -> tuple[str, ...]:
    """The names of an op set given by registry name (``'peng'``, ...) or as a tuple of op names."""
    if isinstance(op_set, str):
        if op_set not in OP_SETS:
            raise KeyError(f"unknown op set {op_set!r}; expected one of {sorted(OP_SETS)}")
        return tuple(OP_SETS[op_set])
    return tuple(canonical(n) for n in op_set)
