"""What a module costs: parameters and FLOPs (counted by ``torch.utils.flop_counter``). Taught by notebook 02.

:func:`op_table` lists both papers' candidate ops with their costs (notebook 02's table);
:func:`impulse_footprint` shows which positions an op's output draws on (its receptive field).

FLOPs follow ``FlopCounterMode``'s convention: a multiply-add counts 2, and only matmuls and
convolutions are counted (pools, BN and ReLU are memory-bound and add nothing here).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from videonas_lite.nas import ops


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _conv_backward_flop(
    grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, _output_padding, _groups,
    output_mask, out_shape, **kwargs,
) -> int:  # fmt: skip
    """``aten.convolution_backward`` FLOPs with ``groups`` honoured.

    torch's own formula (in the version pyproject.toml pins) ignores ``groups`` for the weight gradient, so each
    depthwise conv's weight gradient would count ``groups`` times over (PV-NAS at paper size: 6402 instead of
    1697 GFLOPs).
    """
    flops = 0
    if output_mask[0]:  # grad_input: a transposed conv of grad_out with the weight
        flops += conv_flop_count(grad_out_shape, w_shape, out_shape[0], not transposed)
    if output_mask[1]:  # grad_weight: the same multiply-adds as the forward conv
        flops += conv_flop_count(x_shape, w_shape, grad_out_shape, transposed)
    return flops


def count_flops(module: nn.Module, *inputs: torch.Tensor, backward: bool = False) -> int:
    """FLOPs of one forward pass of ``module(*inputs)`` (plus its backward when ``backward``)."""
    with FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten.convolution_backward: _conv_backward_flop}
    ) as counter:
        out = module(*inputs)
        if backward:
            out.float().sum().backward()
    return counter.get_total_flops()


@dataclass(frozen=True)
class OpCost:
    """One row of :func:`op_table`: an operator of one paper and what it costs on one clip."""

    paper: str  # "Peng 2019" or "PV-NAS 2020"
    op_set: str  # where the paper lists it: "Table 1", "O_s, O_t" or "O_t"
    op: str  # the registry key (the paper's spelling)
    params: int
    flops: int


def op_table(channels: int, clip_shape: tuple[int, int, int], stride: int = 1, affine: bool = True) -> list[OpCost]:
    """Parameters and forward FLOPs of every candidate op of both papers on one ``(1, C, T, H, W)`` clip.

    Rows follow the papers' lists: Peng Table 1 (eight ops), then PV-NAS's spatial set O_s (Sec. 3.1.2,
    shared by O_t) and the two temporal convs that only O_t has (Sec. 3.1.3, Fig. 3). ``clip_shape`` is
    ``(T, H, W)``; ``stride=2`` costs the reduction-cell version of each op.
    """
    spatial = set(ops.PVNAS_SPATIAL_OPS)
    listing = [("Peng 2019", "Table 1", name) for name in ops.PENG_OPS]
    listing += [("PV-NAS 2020", "O_s, O_t", name) for name in ops.PVNAS_SPATIAL_OPS]
    listing += [("PV-NAS 2020", "O_t", name) for name in ops.PVNAS_TEMPORAL_OPS if name not in spatial]
    clip = torch.zeros(1, channels, *clip_shape)  # FLOPs depend on shapes only
    rows = []
    for paper, op_set, name in listing:
        op = ops.make_op(name, channels, stride, affine).eval()
        with torch.no_grad():
            flops = count_flops(op, clip)
        rows.append(OpCost(paper, op_set, name, count_parameters(op), flops))
    return rows


def impulse_footprint(module: nn.Module, channels: int, clip_shape: tuple[int, int, int]) -> torch.Tensor:
    """Where a unit impulse at the centre of a ``(1, C, T, H, W)`` clip reaches in ``module``'s output.

    The boolean ``(T', H', W')`` map of output positions that depend on the input's centre: the op's
    receptive field, mirrored (for the symmetric kernels of both papers, the receptive field itself).
    Peng Sec. 2.1: "'DilConv_3' has a spatial perspective field of 5 x 5". Computed on a copy whose
    weights are made non-negative (no cancellation, no ReLU cut-off) and whose BNs are removed (a
    per-channel affine map in eval mode; with batch statistics every output would see every input).
    """
    probe = copy.deepcopy(module).eval()
    if isinstance(probe, nn.modules.batchnorm._BatchNorm):
        probe = nn.Identity()
    for name, child in list(probe.named_modules()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            probe.set_submodule(name, nn.Identity())
    with torch.no_grad():
        for p in probe.parameters():
            p.abs_()
        t, h, w = clip_shape
        zeros = torch.zeros(1, channels, t, h, w)
        impulse = zeros.clone()
        impulse[:, :, t // 2, h // 2, w // 2] = 1.0
        response = probe(impulse) - probe(zeros)
    return response.abs().amax(dim=(0, 1)) > 0


@functools.cache
def temporal_extent(op_name: str) -> int:
    """How many frames one output position of the op ``op_name`` draws on (its temporal receptive field).

    1 for ops that cannot see the arrow of time (1x1x1 and 1xkxk convs, 1x3x3 pools, skips, Zero);
    3 for the (2+1)D convs and Peng's 3x3x3 pools (notebook 02). Read off :func:`impulse_footprint`.
    """
    footprint = impulse_footprint(ops.make_op(op_name, 4, affine=False), 4, (7, 7, 7))
    frames = footprint.any(dim=(1, 2))
    return int(frames.sum())
