"""The tiny float64 search problem on which the bilevel maths is checked, and the error measure it uses.

Taught by notebook 04 (sections 1-3), which works Peng Eq. 5 out term by term on it; tests/test_bilevel.py,
tests/test_finite_difference.py and benchmarks/fd_error.py use the same problem. A search network of 3
classes shrunk to 2 channels and 2 nodes per cell, in float64 so that rounding stays out of the way, with
alphas drawn from ``N(0, 1)`` (far from uniform, so the alphas matter), and batches of 2 clips of 3 x 3 x 9 x 9.
Everything is drawn from torch's global generator, in the order the functions are called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from videonas_lite.nas.bilevel import Batch, VirtualStep
from videonas_lite.nas.networks import SearchNetwork, peng_search_net

CLASSES = 3
"""Classes of the tiny problem (labels of its batches are 0 and 2)."""

STEP = VirtualStep(xi=0.05, momentum=0.9, weight_decay=3e-4)
"""A virtual step with momentum and weight decay, so that every term of Peng Eq. 3 is exercised."""


def tiny_net(
    builder: Callable[..., SearchNetwork] = peng_search_net, seed: int = 0, channels: int = 2, nodes: int = 2, **kwargs
) -> SearchNetwork:
    """``builder(3 classes, channels=2, nodes=2, **kwargs)`` in float64, seeded, its alphas drawn from ``N(0, 1)``."""
    torch.manual_seed(seed)
    net = builder(CLASSES, channels=channels, nodes=nodes, **kwargs).double()
    with torch.no_grad():
        for alpha in net.arch_parameters():
            alpha.normal_()
    return net


def tiny_batch() -> Batch:
    """Two float64 clips of 3 x 3 x 9 x 9 (9 -> 5 -> 3 through two reductions), labels ``[0, 2]``."""
    return torch.randn(2, 3, 3, 9, 9, dtype=torch.double), torch.tensor([0, 2])


def tiny_bilevel_problem(
    builder: Callable[..., SearchNetwork] = peng_search_net, seed: int = 0
) -> tuple[SearchNetwork, Batch, Batch, list[torch.Tensor]]:
    """``(net, train, val, buffers)``: :func:`tiny_net`, a training and a validation batch, and SGD momentum
    buffers (``0.1 N(0, 1)`` per weight) for :data:`STEP` (drawn before the batches)."""
    net = tiny_net(builder, seed)
    buffers = [0.1 * torch.randn_like(w) for w in net.weight_parameters()]
    train, val = tiny_batch(), tiny_batch()
    return net, train, val, buffers


def weight_direction(net: nn.Module) -> list[torch.Tensor]:
    """A random direction ``v`` in weight space, one ``N(0, 1)`` tensor per weight (for a Hessian-vector product)."""
    return [torch.randn_like(w) for w in net.weight_parameters()]


def relative_error(approx: Sequence[torch.Tensor], exact: Sequence[torch.Tensor]) -> float:
    """``||approx - exact|| / ||exact||`` over a list of tensors, computed in float64."""
    num = sum(((a.double() - e.double()) ** 2).sum() for a, e in zip(approx, exact, strict=True))
    den = sum((e.double() ** 2).sum() for e in exact)
    return (torch.sqrt(num) / torch.sqrt(den)).item()
