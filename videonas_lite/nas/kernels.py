"""3D convs and pools whose kernels span only space or only time, computed as 2D ops on views.

Taught by notebook 02 (the ops) and README's "Speed" section; nas/fused.py and nas/ops.py call it.

Every conv of the (2+1)D search spaces has a ``1 x k x k`` (spatial) or a ``k x 1 x 1`` (temporal)
kernel, and every pool is one of those or their composition. On a clip stored ``channels_last_3d``
(memory order N, T, H, W, C) both are 2D ops on a *view* of the same memory, no copy:

* spatial: ``(N, C, T, H, W) -> (N T, C, H, W)``, a channels-last batch of frames;
* temporal: ``(N, C, T, H, W) -> (N, C, T, H W)``, a channels-last ``T x HW`` image, kernel ``k x 1``.

PyTorch's CPU kernels (oneDNN) are much faster for 2D than for 3D convs of these shapes, depthwise
ones most of all (see benchmarks/search_step.py). The maths is unchanged: a test compares every path
with ``F.conv3d`` / ``F.max_pool3d`` / ``F.avg_pool3d``. Other layouts and kernels fall back to 3D ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CL3D = torch.channels_last_3d


def _frames(x: torch.Tensor) -> torch.Tensor:
    n, c, t, h, w = x.shape
    return x.transpose(1, 2).reshape(n * t, c, h, w)


def _unframes(y: torch.Tensor, n: int) -> torch.Tensor:
    return y.unflatten(0, (n, -1)).transpose(1, 2)


def _as_2d(x: torch.Tensor) -> bool:
    return x.dim() == 5 and x.is_contiguous(memory_format=CL3D)


def conv3d(x, weight, stride=(1, 1, 1), padding=(0, 0, 0), dilation=(1, 1, 1), groups: int = 1) -> torch.Tensor:
    """``F.conv3d(x, weight, None, stride, padding, dilation, groups)``, as a 2D conv when it can be."""
    kt, kh, kw = weight.shape[2:]
    unstrided = on_subsample(weight, stride, padding, dilation)
    if unstrided is not None:
        x, (stride, padding, dilation) = subsample(x, stride), unstrided
    spatial = _as_2d(x) and kt == 1 and stride[0] == 1 and padding[0] == 0
    temporal = _as_2d(x) and kh == kw == 1 and stride[1:] == (1, 1) and padding[1:] == (0, 0)
    if spatial:
        y = F.conv2d(_frames(x), weight.squeeze(2), None, stride[1:], padding[1:], dilation[1:], groups)
        return _unframes(y, x.shape[0])
    if temporal:
        h, w = x.shape[3:]
        y = F.conv2d(x.flatten(3), weight.flatten(3), None, (stride[0], 1), (padding[0], 0), (dilation[0], 1), groups)
        return y.unflatten(3, (h, w))
    return F.conv3d(x, weight, None, stride, padding, dilation, groups)


def on_subsample(weight: torch.Tensor, stride, padding, dilation) -> tuple | None:
    """``(stride, padding, dilation)`` of the conv of :func:`subsample` ``(x, stride)`` that equals this conv of ``x``.

    None where there is none. Two strided convs are such convs: a 1x1x1 conv (it reads every ``s``-th pixel) and a
    'same'-padded conv whose dilation equals its stride (:func:`_dilation_equals_stride`).
    """
    if tuple(weight.shape[2:]) == (1, 1, 1) and max(stride) > 1 and max(padding) == 0:
        return (1, 1, 1), (0, 0, 0), tuple(dilation)
    if _dilation_equals_stride(weight, stride, padding, dilation):
        return (1, 1, 1), tuple(k // 2 for k in weight.shape[2:]), (1, 1, 1)
    return None


def subsample(x: torch.Tensor, stride) -> torch.Tensor:
    """``x[:, :, ::st, ::sh, ::sw]``, copied in ``x``'s layout. A strided 1x1x1 conv is a 1x1x1 conv of it.

    The 1x1x1 case is computed that way because oneDNN's strided 1x1 weight-gradient kernel (in the torch that
    pyproject.toml pins, on AVX-512 CPUs) corrupted memory at some shapes (a segfault or "double free" in the
    backward pass; tests/test_kernels.py keeps the shape that crashed); the subsampled copy is a quarter of the
    input.
    """
    layout = CL3D if x.dim() == 5 and x.stride(1) == 1 else torch.contiguous_format  # channels last, maybe a slice
    return x[:, :, :: stride[0], :: stride[1], :: stride[2]].contiguous(memory_format=layout)


def _dilation_equals_stride(weight: torch.Tensor, stride, padding, dilation) -> bool:
    """A 'same'-padded odd kernel with dilation d and stride d reads only every d-th input pixel.

    Output ``i`` of such a conv reads ``x[d i + d (j - (k - 1) / 2)] = x_sub[i + j - (k - 1) / 2]``
    with ``x_sub = x[::d]``: it is the undilated, unstrided conv of the subsampled input, 'same'
    padded, a quarter of the work for DilConv_3 in a reduction cell (and oneDNN's strided dilated
    depthwise kernels are slow).
    """
    axes = zip(weight.shape[2:], stride, padding, dilation, strict=True)
    ok = all(p == 0 if k == 1 else (k % 2 == 1 and s == d and p == d * (k - 1) // 2) for k, s, p, d in axes)
    return ok and max(stride) > 1


def factorized_reduce_weight(even: torch.Tensor, odd: torch.Tensor) -> torch.Tensor:
    """The ``1 x 2 x 2`` kernel that computes a factorized reduce's two 1x1x1 convs (``even``, ``odd``) as one conv.

    Output channels ``[even; odd]``; the even weights sit at the window's top-left tap, the odd ones at its
    bottom-right, zeros elsewhere (nas/ops.py's :class:`~videonas_lite.nas.ops.FactorizedReduce`).
    """
    return torch.cat([F.pad(even, (0, 1, 0, 1)), F.pad(odd, (1, 0, 1, 0))])


def factorized_reduce(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The factorized reduce of ``x`` with a :func:`factorized_reduce_weight` (or several, concatenated).

    A ``1 x 2 x 2`` window of stride ``1 x 2 x 2`` reads pixel ``(2i, 2j)`` at its top-left tap and ``(2i + 1,
    2j + 1)`` at its bottom-right: the even grid and the odd grid, so one conv is both 1x1x1 strided convs and
    the concatenation, with no copies of the two grids (their backward would fill a zero tensor of ``x``'s size
    each). Four times the multiply-adds of the two 1x1x1 convs, three quarters of them by zeros; 2.0-3.2x faster on one
    CPU thread at the search networks' reduction shapes, forward and backward (README, "Speed").
    An odd ``H`` or ``W`` is padded by one zero pixel at the far edge, which is where the odd grid's last sample
    falls.
    """
    h, w = x.shape[3:]
    if h % 2 or w % 2:
        layout = CL3D if _as_2d(x) else torch.contiguous_format
        x = F.pad(x, (0, w % 2, 0, h % 2)).contiguous(memory_format=layout)
    return conv3d(x, weight, (1, 2, 2))


CL_BN_MIN_CHANNELS = 8
"""From this many channels PyTorch's CPU batch norm is faster on a channels-last clip than two copies around it."""


def batch_norm(x: torch.Tensor, eps: float = 1e-5, scale: torch.Tensor | None = None) -> torch.Tensor:
    """BN with batch statistics and no shift (a search network's BN), fastest layout on the CPU.

    ``scale`` (one factor per channel, or None for 1) multiplies the normalised output in the same kernel: the
    fused search cell (nas/fused.py) scales each edge's op output by its ``softmax(alpha)`` weight this way.

    PyTorch's CPU batch norm runs a channels-last clip from 8 channels (``CL_BN_MIN_CHANNELS``) faster, forward
    and backward, than the contiguous kernel with a copy each way; with 4 channels it is slower (batches of
    8-32 clips of 4-8 frames at 8-32 px, the shapes the search networks meet). On one thread it is 1.4-5x per
    shape; on two threads a whole search step at benchmarks/search_step.py's shape ran 1.07-1.09x faster with
    it than with the copies (benchmarks/kernel_choices.py, paired rounds). tests/test_kernels.py checks both
    paths against ``F.batch_norm``.
    """
    if x.is_cuda or not _as_2d(x) or x.is_contiguous() or x.shape[1] >= CL_BN_MIN_CHANNELS:
        return F.batch_norm(x, None, None, scale, training=True, eps=eps)
    return F.batch_norm(x.contiguous(), None, None, scale, training=True, eps=eps).contiguous(memory_format=CL3D)


AVG_CONV_MIN_ELEMENTS = 2**17
"""From this many elements a channels-last stride-1 average pool runs faster as two depthwise convs."""


def pool3d(x: torch.Tensor, kind: str, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """Max or average (padding excluded) pooling with 'same' padding, separated into space then time.

    Both pools separate exactly: the max over a box is the max over its rows of the max over each
    row, and with the padding excluded the count of a box is the product of the counts of its parts.
    Always computed as 2D pools (on views for channels-last clips, on copies otherwise), which also
    accept clips smaller than the kernel, as ``F.avg_pool3d`` does not (a 2 x 2 map after two
    reductions of an 8 x 8 clip). A large channels-last average pool is :func:`avg_pool_as_convs`.
    """
    kt, kh, kw = kernel
    pad = (kt // 2, kh // 2, kw // 2)
    if stride[0] != 1:
        raise ValueError(f"pool3d strides space only, got stride {tuple(stride)}")
    if (kh, kw) == (1, 1) and tuple(stride[1:]) != (1, 1):
        raise ValueError(f"pool3d: a {tuple(kernel)} kernel does not span space, so cannot stride it {tuple(stride)}")
    if kind == "avg" and pool3d_runs_as_convs(x, kernel, stride):
        return avg_pool_as_convs(x, kernel)
    pool2d = F.max_pool2d if kind == "max" else _avg_pool2d
    if (kh, kw) != (1, 1):
        x = _unframes(pool2d(_frames(x), (kh, kw), stride[1:], pad[1:]), x.shape[0])
    if kt != 1:
        h, w = x.shape[3:]
        x = pool2d(x.flatten(3), (kt, 1), 1, (pad[0], 0)).unflatten(3, (h, w))
    return x


def pool3d_runs_as_convs(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> bool:
    """Whether :func:`pool3d` computes this average pool by :func:`avg_pool_as_convs`: stride 1, odd kernels, a
    channels-last clip of at least ``AVG_CONV_MIN_ELEMENTS`` elements."""
    big = x.numel() >= AVG_CONV_MIN_ELEMENTS and tuple(stride) == (1, 1, 1)
    return big and _as_2d(x) and all(k % 2 == 1 for k in kernel)


def avg_pool_as_convs(x: torch.Tensor, kernel: tuple[int, int, int], stride: int = 1) -> torch.Tensor:
    """The 'same'-padded average pool that excludes padding, of spatial ``stride``: box sums by two depthwise convs
    of ones (space, then time), divided by each box's count of real pixels, the product of its per-axis counts.

    PyTorch's channels-last CPU average pool (forward and backward) is slow with few channels; oneDNN's depthwise
    convs are not, but cost a fixed ~0.7 ms a pass. Forward and backward at 8 x 4 x 8 x 32 x 32 (Peng's first
    normal cell at benchmarks/search_step.py's shape) they ran 2.0x faster on two threads and 3.0x on one, at
    8 x 8 x 8 x 16 x 16 1.3x and 1.7x, and from 64k elements down 0.3-1.0x; at stride 2, whose output is a quarter
    the size, they won at that first shape only (1.5-1.8x) and lost at the rest (0.2-0.8x), so :func:`pool3d`
    uses them at stride 1 (benchmarks/kernel_choices.py ``--pools``).
    """
    c, (t, h, w), (kt, kh, kw) = x.shape[1], x.shape[2:], kernel
    y = x
    if (kh, kw) != (1, 1):
        y = conv3d(y, x.new_ones(c, 1, 1, kh, kw), (1, stride, stride), (0, kh // 2, kw // 2), groups=c)
    if kt != 1:
        y = conv3d(y, x.new_ones(c, 1, kt, 1, 1), (1, 1, 1), (kt // 2, 0, 0), groups=c)
    counts = [_window_counts(n, k, s, x.device) for n, k, s in ((t, kt, 1), (h, kh, stride), (w, kw, stride))]
    return y * (counts[0][:, None, None] * counts[1][:, None] * counts[2]).reciprocal().to(x.dtype)


def _window_counts(n: int, k: int, stride: int, device: torch.device) -> torch.Tensor:
    """How many of an axis of ``n`` pixels each 'same'-padded window of odd size ``k`` covers, at ``stride``."""
    i, r = torch.arange(0, n, stride, device=device), k // 2
    return ((i + r).clamp(max=n - 1) - (i - r).clamp(min=0) + 1).double()


def _avg_pool2d(x, kernel, stride, padding):
    return F.avg_pool2d(x, kernel, stride, padding, count_include_pad=False)
