"""nas/reference.py, the plain port of Peng's search network, computes what the package computes.

The port shares no code with the package, so this is also an independent check of the package's maths:
same parameter count, and in float64 the same logits and the same gradients of alphas and weights, for
both package forwards (the cells' definition, ``fused=False``, and the default fused one). No timings here.
"""

from __future__ import annotations

import pytest
import torch

from videonas_lite.nas import reference
from videonas_lite.nas.bilevel import search_step
from videonas_lite.nas.cost import count_parameters
from videonas_lite.nas.networks import peng_search_net
from videonas_lite.train.optim import PAPERS, make_optimizers

pytestmark = pytest.mark.usefixtures("one_thread")


_run = reference.logits_and_grads


@pytest.mark.parametrize("channels", [2, 4])
def test_parameter_count_matches(channels):
    net = peng_search_net(5, channels=channels)
    plain = reference.PlainSearchNet(5, channels=channels)
    assert count_parameters(plain) == count_parameters(net)
    assert sum(p.numel() for p in plain.arch_parameters()) == sum(p.numel() for p in net.arch_parameters())


@pytest.mark.parametrize(("channels", "shape"), [(2, (2, 3, 4, 9, 9)), (4, (2, 3, 4, 10, 9))])
@pytest.mark.parametrize("fused", [False, True])
def test_plain_port_equals_package(channels, shape, fused):
    torch.manual_seed(0)
    net = peng_search_net(5, channels=channels, fused=fused).double()
    with torch.no_grad():
        for alpha in net.alphas.values():
            alpha.normal_()  # far from uniform: a mis-weighted op would show
    plain = reference.PlainSearchNet(5, channels=channels).double().load_from(net)
    x = torch.randn(*shape, dtype=torch.float64)
    y = torch.tensor([1, 3])
    got, expected = _run(net, x, y), _run(plain, x, y)
    for what, a, b in zip(("logits", "alpha grads", "weight grads"), got, expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11, msg=lambda m, w=what: f"{w}: {m}")
    assert expected[1].abs().max() > 1e-6  # the alphas do get a gradient


@pytest.mark.parametrize("fused", [False, True])
def test_plain_port_equals_package_in_float32(fused):
    """float32 runs the package's real kernels and layouts (float64 convs bypass oneDNN)."""
    torch.manual_seed(1)
    net = peng_search_net(5, channels=4, fused=fused)
    plain = reference.PlainSearchNet(5, channels=4).load_from(net)
    x, y = torch.randn(4, 3, 4, 12, 12), torch.tensor([0, 1, 2, 3])
    got, expected = _run(net, x, y), _run(plain, x, y)
    for what, a, b in zip(("logits", "alpha grads", "weight grads"), got, expected, strict=True):
        assert (a - b).abs().max() <= 1e-4 * b.abs().max(), what


def test_load_from_rejects_a_different_size():
    with pytest.raises(ValueError, match="shapes differ"):
        reference.PlainSearchNet(5, channels=4).load_from(peng_search_net(5, channels=2))


def test_one_search_step_moves_the_port_and_the_package_alike():
    """benchmarks/search_step.py times the package's search_step on both: it must do the same to both."""
    torch.manual_seed(2)
    net = peng_search_net(5, channels=2).double()
    plain = reference.PlainSearchNet(5, channels=2).double().load_from(net)
    val, train = [(torch.randn(2, 3, 3, 9, 9, dtype=torch.float64), torch.tensor([1, 3])) for _ in range(2)]
    for model in (net, plain):
        search_step(model, "first", train, val, *make_optimizers(model, PAPERS["peng"]))
    x = torch.randn(2, 3, 3, 9, 9, dtype=torch.float64)
    torch.testing.assert_close(net(x), plain(x), rtol=1e-9, atol=1e-11)
