"""nas/kernels.py: the 2D-on-a-view paths compute exactly what the 3D ops compute, values and gradients."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from videonas_lite.nas import kernels

CL = torch.channels_last_3d

CONVS = [  # (weight shape given C, stride, padding, dilation, groups given C)
    (lambda c: (2 * c, c, 1, 3, 3), (1, 1, 1), (0, 1, 1), (1, 1, 1), lambda c: 1),
    (lambda c: (2 * c, c, 1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 1, 1), lambda c: 1),
    (lambda c: (c, 1, 1, 3, 3), (1, 2, 2), (0, 2, 2), (1, 2, 2), lambda c: c),  # strided dilated depthwise
    (lambda c: (c, 1, 1, 3, 3), (1, 1, 1), (0, 2, 2), (1, 2, 2), lambda c: c),
    (lambda c: (2 * c, c, 1, 3, 3), (1, 2, 2), (0, 2, 2), (1, 2, 2), lambda c: 1),  # dense, dilation == stride
    (lambda c: (c, 1, 1, 3, 3), (1, 2, 2), (0, 1, 1), (1, 2, 2), lambda c: c),  # not 'same' padded: plain path
    (lambda c: (c, 1, 3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), lambda c: c),  # temporal depthwise
    (lambda c: (2 * c, c // 2, 3, 1, 1), (1, 1, 1), (1, 0, 0), (1, 1, 1), lambda c: 2),  # grouped temporal
    (lambda c: (c, 1, 1, 3, 1), (1, 2, 1), (0, 1, 0), (1, 1, 1), lambda c: c),
    (lambda c: (c, c, 1, 1, 1), (1, 2, 2), (0, 0, 0), (1, 1, 1), lambda c: 1),
    (lambda c: (c, c, 3, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), lambda c: 1),  # a true 3D kernel: fallback
    (lambda c: (c, c, 1, 3, 3), (1, 1, 1), (1, 1, 1), (1, 1, 1), lambda c: 1),  # padding along T: fallback
    (lambda c: (c, c, 3, 1, 1), (1, 1, 1), (1, 1, 0), (1, 1, 1), lambda c: 1),  # padding along H: fallback
]


def _clip(shape, layout, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64).contiguous(memory_format=layout).requires_grad_()


@pytest.mark.parametrize(
    ("case", "layout", "size"),
    list(itertools.product(range(len(CONVS)), [CL, torch.contiguous_format], [(7, 8), (8, 5)])),
)
def test_conv3d_equals_F_conv3d(case, layout, size):
    shape, stride, padding, dilation, groups = CONVS[case]
    c = 4
    x = _clip((2, c, 5, *size), layout)
    w = torch.randn(shape(c), dtype=torch.float64, requires_grad=True)
    ours = kernels.conv3d(x, w, stride, padding, dilation, groups(c))
    ref = F.conv3d(x, w, None, stride, padding, dilation, groups(c))
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(ours, (x, w), g), torch.autograd.grad(ref, (x, w), g))


@pytest.mark.parametrize(
    ("kind", "kernel", "stride", "layout"),
    list(
        itertools.product(["max", "avg"], [(3, 3, 3), (1, 3, 3)], [(1, 1, 1), (1, 2, 2)], [CL, torch.contiguous_format])
    ),
)
def test_pool3d_separates_exactly(kind, kernel, stride, layout):
    x = _clip((2, 3, 5, 7, 8), layout, seed=1)
    pad = tuple(k // 2 for k in kernel)
    ref = (
        F.max_pool3d(x, kernel, stride, pad)
        if kind == "max"
        else F.avg_pool3d(x, kernel, stride, pad, count_include_pad=False)
    )
    ours = kernels.pool3d(x, kind, kernel, stride)
    torch.testing.assert_close(ours, ref)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g), torch.autograd.grad(ref, x, g))


@pytest.mark.parametrize("kernel", [(3, 3, 3), (1, 3, 3), (3, 1, 1)])
@pytest.mark.parametrize("stride", [(1, 1, 1), (1, 2, 2)])
def test_a_large_average_pool_matches_by_convs_or_pools(kernel, stride):
    if kernel[1:] == (1, 1) and stride != (1, 1, 1):
        with pytest.raises(ValueError, match="does not span space"):
            kernels.pool3d(_clip((1, 1, 3, 4, 4), CL, seed=4), "avg", kernel, stride)
        return
    shape = (2, 4, 8, 64, 64 + 1)  # above AVG_CONV_MIN_ELEMENTS; an odd width
    x = _clip(shape, CL, seed=4)
    assert kernels.pool3d_runs_as_convs(x, kernel, stride) == (stride == (1, 1, 1))  # stride 2: PyTorch's pools
    pad = tuple(k // 2 for k in kernel)
    ref = F.avg_pool3d(x, kernel, stride, pad, count_include_pad=False)
    g = torch.randn_like(ref)
    for ours in (kernels.pool3d(x, "avg", kernel, stride), kernels.avg_pool_as_convs(x, kernel, stride[1])):
        torch.testing.assert_close(ours, ref)
        assert ours.is_contiguous(memory_format=CL)
        torch.testing.assert_close(torch.autograd.grad(ours, x, g), torch.autograd.grad(ref, x, g, retain_graph=True))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("channels", [4, kernels.CL_BN_MIN_CHANNELS])  # copied around, or channels-last as is
@pytest.mark.parametrize("layout", [CL, torch.contiguous_format])
def test_batch_norm_matches_and_keeps_the_layout(layout, channels, threads):
    x = _clip((3, channels, 2, 5, 6), layout, seed=2)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours = kernels.batch_norm(x)
    finally:
        torch.set_num_threads(before)
    ref = F.batch_norm(x, None, None, training=True)
    torch.testing.assert_close(ours, ref)
    assert ours.is_contiguous(memory_format=layout)
    g = torch.randn_like(ref)
    torch.testing.assert_close(torch.autograd.grad(ours, x, g), torch.autograd.grad(ref, x, g))


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pools_accept_clips_smaller_than_the_kernel(kind):
    x = _clip((2, 3, 2, 2, 1), CL, seed=3)
    y = kernels.pool3d(x, kind, (3, 3, 3), (1, 1, 1))
    assert y.shape == x.shape
    if kind == "max":
        torch.testing.assert_close(y, x.amax(dim=(2, 3, 4), keepdim=True).expand_as(x))
    else:
        torch.testing.assert_close(y, x.mean(dim=(2, 3, 4), keepdim=True).expand_as(x))


def test_strided_pointwise_conv_backward_does_not_crash():
    """oneDNN's strided 1x1 weight gradient corrupted memory at this shape (torch 2.14.1); run apart."""
    code = (
        "import torch; from videonas_lite.nas import kernels\n"
        "x = torch.randn(2, 8, 8, 56, 56).contiguous(memory_format=torch.channels_last_3d).requires_grad_()\n"
        "w = torch.randn(16, 8, 1, 1, 1, requires_grad=True)\n"
        "for _ in range(3): kernels.conv3d(x, w, (1, 2, 2)).sum().backward()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
