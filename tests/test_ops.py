"""The candidate operators of both papers (nas/ops.py) and what they cost (nas/cost.py).

Peng et al. Table 1 / Sec. 2.1 (eight (2+1)D ops), PV-NAS Sec. 3.1.2-3.1.3 and Fig. 3 (O_s, O_t). Every
expected parameter count below is a closed form read off the op's definition in ops.py, not a number.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.cost import count_flops, count_parameters, impulse_footprint, op_table

ALL_OPS = [(set_name, op) for set_name, op_set in ops.OP_SETS.items() for op in op_set]
UNIQUE_OPS = sorted({op for _, op in ALL_OPS})
CL3D = torch.channels_last_3d


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)


def clip(c: int = 4, t: int = 3, h: int = 7, w: int = 8, n: int = 2) -> torch.Tensor:
    return torch.randn(n, c, t, h, w)


# -- shapes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("op_set", "name"), ALL_OPS, ids=[f"{s}:{n}" for s, n in ALL_OPS])
def test_output_shape_keeps_time_and_strides_space_to_the_ceiling(op_set, name):
    """Reductions halve H and W to ``ceil(H / 2)`` for odd and even sizes; T is never strided (ops.py)."""
    for stride in (1, 2):
        for h, w in [(7, 8), (8, 7), (5, 10)]:
            for affine in (False, True):
                x = clip(c=6, t=3, h=h, w=w)
                y = ops.OP_SETS[op_set][name](6, stride, affine)(x)
                assert y.shape == (2, 6, 3, math.ceil(h / stride), math.ceil(w / stride)), (stride, h, w, affine)
                assert y.dtype == x.dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("name", UNIQUE_OPS)
def test_channels_last_clips_give_the_same_output(name):
    """Search networks store clips channels_last_3d, where kernels.py runs the ops as 2D ops on views."""
    for stride in (1, 2):
        op = ops.make_op(name, 5, stride, affine=True).eval()
        x = clip(c=5, t=4, h=7, w=6)
        expected = op(x)
        got = op(x.contiguous(memory_format=CL3D))
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=lambda m, s=stride: f"stride {s}: {m}")


def test_a_stride_other_than_1_or_2_is_refused():
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        ops.make_op("Conv_3", 4, stride=3)


def test_zero_returns_strided_zeros_and_has_nothing_to_learn():
    x = clip(h=7, w=8)
    for stride in (1, 2):
        op = ops.make_op("Zero", 4, stride)
        y = op(x)
        assert y.shape == (2, 4, 3, math.ceil(7 / stride), math.ceil(8 / stride))
        assert not y.any()
        assert count_parameters(op) == 0 and count_flops(op, x) == 0


def test_search_ops_normalise_with_batch_statistics_even_in_eval_mode():
    """ops.bn: affine-free BN without running stats in search (affine=False); affine with running stats derived."""
    search, derived = ops.make_op("Conv_3", 4, affine=False).eval(), ops.make_op("Conv_3", 4, affine=True)
    assert count_parameters(search) == count_parameters(derived) - 2 * 4
    y = search(clip(t=4) * 3 + 1)
    torch.testing.assert_close(y.mean(dim=(0, 2, 3, 4)), torch.zeros(4), atol=1e-5, rtol=0)
    assert derived[-1].track_running_stats and not search[-1].track_running_stats


# -- parameter counts: closed forms from the ops' definitions ----------------------------------

# name -> (weights of the convs as a function of C, number of BNs); an affine BN adds 2C parameters
WEIGHTS = {
    "Conv_1": (lambda c: c * c, 1),  # one 1x1x1 conv
    "Conv_3": (lambda c: 9 * c * c + 3 * c * c, 1),  # 1x3x3 conv C->C, then 3x1x1 conv C->C
    "SpeConv_3": (lambda c: 3 * c + 3 * c + 3 * c + c * c, 1),  # depthwise 1x3x1, 1x1x3, 3x1x1; pointwise
    "DilConv_3": (lambda c: 9 * c + 3 * c + c * c, 1),  # depthwise dilated 1x3x3, depthwise 3x1x1; pointwise
    "MPool_3": (lambda c: 0, 0),
    "APool_3": (lambda c: 0, 0),
    "Zero": (lambda c: 0, 0),
    "1x3x3 ave pooling": (lambda c: 0, 0),
    "1x3x3 max pooling": (lambda c: 0, 0),
    "1x3x3 separable conv": (lambda c: 2 * (9 * c + c * c), 2),  # DARTS sep_conv: (dw 1x3x3, pw, BN) twice
    "1x3x3 dilated separable conv": (lambda c: 9 * c + c * c, 1),  # DARTS dil_conv: dw dilated 1x3x3, pw
    "3+3x3 temporal conv": (lambda c: 9 * c * c + 3 * c * c, 1),  # PV-NAS Fig. 3(a)
    "3+1x1 temporal conv": (lambda c: c * c + 3 * c * c, 1),  # PV-NAS Fig. 3(b)
}
SKIPS = ("Skip_Con", "Identity")
# the strided skip (FactorizedReduce): 1x1x1 convs C -> floor(C/2) and C -> ceil(C/2), one BN
STRIDED_SKIP = (lambda c: c * (c // 2) + c * (c - c // 2), 1)


def test_every_op_has_a_parameter_formula():
    assert set(WEIGHTS) | set(SKIPS) == set(UNIQUE_OPS)


@pytest.mark.parametrize("name", UNIQUE_OPS)
def test_parameter_count_matches_the_closed_form(name):
    for c, stride, affine in itertools.product([2, 5, 8, 16], [1, 2], [False, True]):
        if name in SKIPS:
            weights, bns = STRIDED_SKIP if stride == 2 else (lambda c: 0, 0)
        else:
            weights, bns = WEIGHTS[name]
        expected = weights(c) + (2 * c * bns if affine else 0)
        assert count_parameters(ops.make_op(name, c, stride, affine)) == expected, (c, stride, affine)


def test_the_strided_skip_has_c_squared_weights_for_odd_c_too():
    for c in (3, 5, 7):
        assert count_parameters(ops.make_op("Skip_Con", c, 2, affine=False)) == c * c


def test_peng_conv_3_and_pvnas_3_plus_3x3_are_the_same_module():
    """ops.py: ReLU-Conv2D-Conv1D-BN is both Peng's Conv_3 and PV-NAS's 3+3x3 temporal conv."""
    a, b = ops.make_op("Conv_3", 6), ops.make_op("3+3x3 temporal conv", 6)
    assert type(a) is type(b)
    assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]


# -- FLOPs ------------------------------------------------------------------------------------


def conv_flops(k_volume: int, c_in_per_group: int, c_out: int, outputs: int) -> int:
    """FlopCounterMode's convention: 2 FLOPs per multiply-add, one per kernel tap, input channel, output."""
    return 2 * k_volume * c_in_per_group * c_out * outputs


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize(("c", "t", "h", "w"), [(4, 8, 14, 14), (6, 4, 7, 9)])
def test_flops_of_2plus1d_versus_3d_conv(c, t, h, w, stride):
    """A 3x3x3 conv costs 27 C^2 per output; its (2+1)D factorisation (M = C) 9 C^2 + 3 C^2 (Peng Sec. 2.1)."""
    x = torch.randn(1, c, t, h, w)
    ho, wo = math.ceil(h / stride), math.ceil(w / stride)
    full = nn.Conv3d(c, c, 3, stride=(1, stride, stride), padding=1, bias=False)
    factorised = ops.Conv2Plus1D(c, c, k=3, t=3, stride=stride)
    assert count_flops(full, x) == conv_flops(27, c, c, t * ho * wo)
    assert count_flops(factorised, x) == conv_flops(9, c, c, t * ho * wo) + conv_flops(3, c, c, t * ho * wo)
    assert count_flops(factorised, x) * 27 == count_flops(full, x) * 12


@pytest.mark.parametrize("stride", [1, 2])
def test_flops_of_the_separable_convs_put_the_stride_on_the_first_spatial_kernel(stride):
    c, t, h, w = 4, 4, 9, 8
    x = torch.randn(1, c, t, h, w)
    ho, wo = math.ceil(h / stride), math.ceil(w / stride)
    out = t * ho * wo
    # SpeConv_3: 1x3x1 (strides H) -> T x Ho x W; 1x1x3 (strides W); 3x1x1; pointwise; depthwise: 1 input each
    spe = (
        conv_flops(3, 1, c, t * ho * w) + conv_flops(3, 1, c, out) + conv_flops(3, 1, c, out) + conv_flops(1, c, c, out)
    )
    assert count_flops(ops.make_op("SpeConv_3", c, stride), x) == spe
    dil = conv_flops(9, 1, c, out) + conv_flops(3, 1, c, out) + conv_flops(1, c, c, out)
    assert count_flops(ops.make_op("DilConv_3", c, stride), x) == dil
    # DARTS sep_conv: the strided block, then a stride-1 block on the reduced map
    sep = 2 * (conv_flops(9, 1, c, out) + conv_flops(1, c, c, out))
    assert count_flops(ops.make_op("1x3x3 separable conv", c, stride), x) == sep


def test_op_table_lists_every_op_of_both_papers_once_with_its_costs():
    c, shape = 4, (4, 10, 10)
    rows = op_table(c, shape)
    assert [r.op for r in rows if r.paper == "Peng 2019"] == list(ops.PENG_OPS)
    pvnas = [r.op for r in rows if r.paper == "PV-NAS 2020"]
    assert sorted(pvnas) == sorted(ops.PVNAS_TEMPORAL_OPS) and len(pvnas) == len(set(pvnas))
    assert {r.op for r in rows if r.op_set == "O_t"} == set(ops.PVNAS_TEMPORAL_OPS) - set(ops.PVNAS_SPATIAL_OPS)
    by_op = {(r.paper, r.op): r for r in rows}
    assert by_op["Peng 2019", "Conv_3"].flops == conv_flops(12, c, c, math.prod(shape))
    assert by_op["Peng 2019", "Conv_3"].params == 12 * c * c + 2 * c
    assert by_op["Peng 2019", "Zero"].flops == by_op["Peng 2019", "MPool_3"].flops == 0
    strided = {(r.paper, r.op): r for r in op_table(c, shape, stride=2)}
    assert strided["Peng 2019", "Skip_Con"].params == c * c + 2 * c
    assert strided["Peng 2019", "Conv_3"].flops == conv_flops(12, c, c, 4 * 5 * 5)


# -- receptive fields ---------------------------------------------------------------------------

# stride-1 footprint of an impulse: (extent T, H, W), number of positions reached
FOOTPRINTS = {
    "Conv_1": ((1, 1, 1), 1),
    "Conv_3": ((3, 3, 3), 27),
    "SpeConv_3": ((3, 3, 3), 27),  # 1x3x1 * 1x1x3 * 3x1x1: the full box
    "DilConv_3": ((3, 5, 5), 27),  # 3 frames x 9 taps spread over 5 x 5 (dilation 2)
    "MPool_3": ((3, 3, 3), 27),
    "APool_3": ((3, 3, 3), 27),
    "Skip_Con": ((1, 1, 1), 1),
    "Identity": ((1, 1, 1), 1),
    "1x3x3 ave pooling": ((1, 3, 3), 9),
    "1x3x3 max pooling": ((1, 3, 3), 9),
    "1x3x3 separable conv": ((1, 5, 5), 25),  # two stacked 3x3 convs
    "1x3x3 dilated separable conv": ((1, 5, 5), 9),
    "3+3x3 temporal conv": ((3, 3, 3), 27),
    "3+1x1 temporal conv": ((3, 1, 1), 3),
}


@pytest.mark.parametrize("name", UNIQUE_OPS)
def test_impulse_footprint_of_every_op(name):
    for affine in (False, True):
        reached = impulse_footprint(ops.make_op(name, 3, 1, affine), 3, (5, 9, 9))
        if name == "Zero":
            assert not reached.any()
            continue
        extent, count = FOOTPRINTS[name]
        where = reached.nonzero()
        span = (where.amax(0) - where.amin(0) + 1).tolist()
        assert tuple(span) == extent and int(reached.sum()) == count
        centre = torch.tensor([2, 4, 4])
        assert ((where.amax(0) + where.amin(0)) == 2 * centre).all(), "footprints are centred"


def test_dilconv_3_sees_a_5x5_spatial_field_by_gradient_support():
    """Peng Sec. 2.1: "'DilConv_3' has a spatial perspective filed of 5 x 5". Independent of impulse_footprint."""
    op = ops.make_op("DilConv_3", 3, 1, affine=True).eval()
    x = (torch.rand(1, 3, 5, 9, 9) + 0.1).requires_grad_()  # positive: the leading ReLU passes everything
    op(x)[0, 0, 2, 4, 4].backward()
    support = x.grad.abs().amax(dim=(0, 1)) > 0
    expected = torch.zeros(5, 9, 9, dtype=torch.bool)
    expected[1:4, 2:7:2, 2:7:2] = True  # frames t-1..t+1, rows and columns 4 +- {0, 2}
    assert torch.equal(support, expected)


def test_speconv_3_support_is_3x3_in_space_and_3_in_time_by_gradient_support():
    op = ops.make_op("SpeConv_3", 3, 1, affine=True).eval()
    x = (torch.rand(1, 3, 5, 9, 9) + 0.1).requires_grad_()
    op(x)[0, 1, 2, 4, 4].backward()
    support = x.grad.abs().amax(dim=(0, 1)) > 0
    expected = torch.zeros(5, 9, 9, dtype=torch.bool)
    expected[1:4, 3:6, 3:6] = True
    assert torch.equal(support, expected)


# -- pools: Peng's 3D pools are exactly separable ---------------------------------------------


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, CL3D], ids=["contiguous", "channels_last_3d"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_peng_3d_pools_equal_a_spatial_then_a_temporal_pool(kind, stride, memory_format):
    """ops.py: one 3x3x3 pool == the 1x3x3 pool then the 3x1x1 pool (the average excludes the padding)."""
    x = clip(c=3, t=5, h=7, w=8).contiguous(memory_format=memory_format)
    name = "MPool_3" if kind == "max" else "APool_3"
    y = ops.make_op(name, 3, stride)(x)
    composed = ops.Pool(kind, (3, 1, 1), 1)(ops.Pool(kind, (1, 3, 3), stride)(x))
    pad, s = (1, 1, 1), (1, stride, stride)
    if kind == "max":
        reference = F.max_pool3d(x, 3, s, pad)
    else:
        reference = F.avg_pool3d(x, 3, s, pad, count_include_pad=False)
    torch.testing.assert_close(y, composed, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(y, reference, rtol=1e-6, atol=1e-6)


def test_average_pool_excludes_the_padding():
    y = ops.make_op("APool_3", 1)(torch.ones(1, 1, 3, 4, 5))
    torch.testing.assert_close(y, torch.ones_like(y))


# -- the strided skip (FactorizedReduce) --------------------------------------------------------


@pytest.mark.parametrize("hw", [(7, 9), (8, 8), (7, 8)])
def test_strided_skip_is_two_1x1_convs_on_the_even_and_odd_grids(hw):
    """DARTS's factorized reduce, with the odd grid zero-padded at the far edge so both halves have ceil(H/2)."""
    h, w = hw
    c = 5
    op = ops.make_op("Skip_Con", c, 2, affine=True).eval()
    x = clip(c=c, t=2, h=h, w=w)
    r = F.relu(x)
    even = F.conv3d(r[..., ::2, ::2], op.conv_even.weight)
    odd_grid = r[..., 1::2, 1::2]
    odd_grid = F.pad(odd_grid, (0, math.ceil(w / 2) - odd_grid.shape[-1], 0, math.ceil(h / 2) - odd_grid.shape[-2]))
    odd = F.conv3d(odd_grid, op.conv_odd.weight)
    expected = op.bn(torch.cat([even, odd], dim=1))
    assert op.conv_even.out_channels == c // 2 and op.conv_odd.out_channels == c - c // 2
    torch.testing.assert_close(op(x), expected, rtol=1e-5, atol=1e-5)


def test_strided_skip_halves_see_disjoint_pixel_grids():
    op = ops.make_op("Skip_Con", 4, 2, affine=True).eval()
    x = clip(c=4, t=2, h=7, w=7)
    moved = x.clone()
    moved[..., 1::2, 1::2] += 5.0  # change only the odd grid
    y, y_moved = op(x), op(moved)
    torch.testing.assert_close(y_moved[:, :2], y[:, :2])  # the even half did not see it
    assert not torch.allclose(y_moved[:, 2:], y[:, 2:])


# -- time: which ops mix frames, which see the arrow of time -------------------------------------

SPATIAL_ONLY = ("Conv_1", "Skip_Con", "Identity", "1x3x3 ave pooling", "1x3x3 max pooling",
                "1x3x3 separable conv", "1x3x3 dilated separable conv")  # fmt: skip
TIME_SYMMETRIC = ("MPool_3", "APool_3")
TEMPORAL_CONVS = ("Conv_3", "SpeConv_3", "DilConv_3", "3+3x3 temporal conv", "3+1x1 temporal conv")


def test_time_classes_cover_every_op():
    assert set(SPATIAL_ONLY) | set(TIME_SYMMETRIC) | set(TEMPORAL_CONVS) | {"Zero"} == set(UNIQUE_OPS)


@pytest.mark.parametrize("name", UNIQUE_OPS)
def test_which_ops_commute_with_time_reversal(name):
    """Spatial ops and Peng's (symmetric) pools commute with reversing time; learnt temporal convs do not."""
    op = ops.make_op(name, 4, 1, affine=True).eval()
    x = clip(c=4, t=6, h=6, w=6)
    commutes = torch.allclose(op(x.flip(2)), op(x).flip(2), atol=1e-5)
    assert commutes == (name not in TEMPORAL_CONVS)


@pytest.mark.parametrize("name", UNIQUE_OPS)
def test_which_output_frames_a_changed_input_frame_reaches(name):
    op = ops.make_op(name, 4, 1, affine=True).eval()
    x = clip(c=4, t=7, h=6, w=6)
    moved = x.clone()
    moved[:, :, 3] += torch.rand_like(moved[:, :, 3]) + 0.5
    changed = ((op(moved) - op(x)).abs().amax(dim=(0, 1, 3, 4)) > 1e-6).nonzero().flatten().tolist()
    expected = [] if name == "Zero" else [3] if name in SPATIAL_ONLY else [2, 3, 4]
    assert changed == expected


# -- names ---------------------------------------------------------------------------------------


def test_unknown_op_names_raise_a_key_error_naming_the_known_ops():
    with pytest.raises(KeyError, match=r"unknown op 'Conv_5'; known ops: .*'Conv_3'.*'SpeConv_3'"):
        ops.make_op("Conv_5", 4)
    with pytest.raises(KeyError, match="unknown op set"):
        ops.op_names("darts")


@pytest.mark.parametrize(
    ("alias", "key"), [("SepConv_3", "SpeConv_3"), ("MaxPool_3", "MPool_3"), ("AvgPool_3", "APool_3"), ("none", "Zero")]
)
def test_aliases_resolve_to_the_papers_spelling(alias, key):
    assert ops.canonical(alias) == key
    a, b = ops.make_op(alias, 4), ops.make_op(key, 4)
    assert type(a) is type(b) and count_parameters(a) == count_parameters(b)
    assert repr(a) == repr(b)


def test_registries_list_the_papers_ops_in_order():
    assert ops.op_names("peng") == (
        "Conv_1", "Conv_3", "SpeConv_3", "DilConv_3", "MPool_3", "APool_3", "Skip_Con", "Zero",
    )  # fmt: skip
    assert len(ops.PVNAS_SPATIAL_OPS) == 6 and len(ops.PVNAS_TEMPORAL_OPS) == 8
    assert set(ops.PVNAS_SPATIAL_OPS) < set(ops.PVNAS_TEMPORAL_OPS)
    assert ops.op_names(("SepConv_3", "Zero")) == ("SpeConv_3", "Zero")


@pytest.mark.parametrize("groups", [1, 4])
def test_backward_flops_are_twice_the_forward_for_any_grouping(groups):
    """grad_input and grad_weight each repeat the forward's multiply-adds (torch's own count ignores groups)."""
    conv = torch.nn.Conv3d(4, 4, (1, 3, 3), padding=(0, 1, 1), groups=groups, bias=False)
    x = torch.randn(1, 4, 2, 6, 6, requires_grad=True)
    forward = count_flops(conv, x)
    assert forward == 2 * (9 * 4 // groups) * 4 * 2 * 6 * 6
    assert count_flops(conv, x, backward=True) == 3 * forward
