"""nas/finite_difference.py against mathematics: the textbook error orders on a smooth net, kinks on a ReLU net."""

from __future__ import annotations

import copy
from itertools import pairwise

import pytest
import torch
from torch import nn

from videonas_lite.nas import bilevel, finite_difference
from videonas_lite.nas.tiny_problem import tiny_batch, tiny_net, weight_direction

pytestmark = pytest.mark.usefixtures("one_thread")


def _setup(net):
    """The tiny problem's float64 net (alphas ~ N(0, 1)), a batch of 2 clips of 3x3x9x9 and a direction ``v``."""
    return net, tiny_batch(), weight_direction(net)


def _smooth():
    return _setup(tiny_net(finite_difference.smooth_search_net, layers=2))


def _relu():
    return _setup(tiny_net())


def test_the_smooth_network_has_no_kinks_left():
    net = finite_difference.smooth_search_net(3, channels=2, nodes=2)
    assert not any(isinstance(m, nn.ReLU) for m in net.modules())
    assert sum(isinstance(m, nn.Softplus) for m in net.modules()) > 0
    assert not net.fused and "MPool_3" not in net.op_names["normal"]
    with pytest.raises(ValueError, match="MPool_3"):
        finite_difference.smooth_search_net(3, op_names=("Conv_1", "MaxPool_3"))


def test_swap_activations_counts_and_replaces():
    seq = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    assert finite_difference.swap_activations(seq, nn.GELU) == 2
    assert [type(m) for m in seq.modules() if not isinstance(m, nn.Sequential | nn.Linear)] == [nn.GELU, nn.GELU]


def test_exact_hvp_is_a_mixed_second_derivative_either_way_round():
    """u . (d_alpha (grad_w L . v)) == v . (d_w (grad_alpha L . u)): the two orders of Peng Eq. 5's mixed partial."""
    net, batch, v = _relu()
    weights, alphas = bilevel.split_parameters(net)
    u = [torch.randn_like(a) for a in alphas]
    hvp = finite_difference.exact_hvp(net, batch, v)
    grads = torch.autograd.grad(bilevel.cross_entropy(net, batch), alphas, create_graph=True)
    other = torch.autograd.grad(sum((g * ui).sum() for g, ui in zip(grads, u, strict=True)), weights)
    lhs = sum((h * ui).sum() for h, ui in zip(hvp, u, strict=True))
    rhs = sum((o * vi).sum() for o, vi in zip(other, v, strict=True))
    assert abs(lhs - rhs) <= 1e-10 * abs(rhs)


def test_smooth_network_truncation_orders_central_r2_forward_r():
    """10x smaller r: central error ~100x smaller, forward ~10x, while truncation dominates (float64)."""
    net, batch, v = _smooth()
    radii = [1e-2, 1e-3, 1e-4]
    central = finite_difference.fd_errors(net, batch, v, radii, "central")
    forward = finite_difference.fd_errors(net, batch, v, radii, "forward")
    for a, b in pairwise(central):
        assert 60 < a / b < 160
    for a, b in pairwise(forward):
        assert 7 < a / b < 14
    assert finite_difference.loglog_slope(radii, central) == pytest.approx(2, abs=0.1)
    assert finite_difference.loglog_slope(radii, forward) == pytest.approx(1, abs=0.1)
    assert central[-1] < 1e-6, "exact and central difference agree at a good r"


def test_float32_round_off_grows_as_r_shrinks():
    """Against the float64 exact product: truncation is dtype-blind, round-off ~ u / r is not."""
    net, batch, v = _smooth()
    exact = finite_difference.exact_hvp(net, batch, v)
    net32, batch32 = copy.deepcopy(net).float(), (batch[0].float(), batch[1])
    e64 = finite_difference.fd_errors(net, batch, v, [1e-1, 1e-6], exact=exact)
    e32 = finite_difference.fd_errors(net32, batch32, v, [1e-1, 1e-6], exact=exact)
    assert e32[0] == pytest.approx(e64[0], rel=0.05)
    assert e32[1] > 1e3 * e64[1]


def test_relu_kinks_ruin_the_difference_until_r_clears_them():
    net, batch, v = _relu()
    before = [t.clone() for t in net.state_dict().values()]
    big, tiny = (finite_difference.kinks_crossed(net, batch, v, r) for r in (1e-2, 1e-8))
    assert big["ReLU"] > 0 and big["max pool"] > 0
    assert tiny == {"ReLU": 0, "max pool": 0} == finite_difference.kinks_crossed(net, batch, v, 1e-8, "forward")
    assert net.fused, "the flag is restored"
    assert all(torch.equal(x, y) for x, y in zip(before, net.state_dict().values(), strict=True))
    err_big, err_tiny = finite_difference.fd_errors(net, batch, v, [1e-2, 1e-8])
    assert err_big > 1e-2 and err_tiny < 1e-6


def test_loglog_slope_of_a_power_law():
    radii = [1e-1, 1e-3, 1e-5]
    assert finite_difference.loglog_slope(radii, [3 * r**2 for r in radii]) == pytest.approx(2)
    assert finite_difference.loglog_slope(radii, [5e-9 / r for r in radii]) == pytest.approx(-1)


def test_the_smooth_network_has_no_kink_to_cross():
    net, batch, v = _smooth()
    with torch.no_grad():  # a large stencil on the smooth net: nothing to count
        assert finite_difference.kinks_crossed(net, batch, v, 1.0) == {"ReLU": 0, "max pool": 0}


def test_kinks_crossed_refuses_an_unknown_difference():
    net, batch, v = _relu()
    with pytest.raises(ValueError, match="difference"):
        finite_difference.kinks_crossed(net, batch, v, 1e-2, "backward")
