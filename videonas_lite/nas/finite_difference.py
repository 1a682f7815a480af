"""How good the finite-difference Hessian-vector product of Peng Eq. 5 is: error against ``r``, and why.

Taught by notebook 04 (section 3).

Peng Eq. 5's second term needs ``grad^2_{alpha, w} L_train(w, alpha) . v`` with ``v = grad_{w'} L_val(w', alpha)``.
DARTS (and :func:`~videonas_lite.nas.bilevel.hessian_vector_fd`) replaces it by a finite difference of
``g(w) = grad_alpha L_train(w, alpha)`` along ``v`` with ``eps = r / ||v||``
(:func:`~videonas_lite.nas.bilevel.stencil_eps`):

* central, ``(g(w + eps v) - g(w - eps v)) / (2 eps)``: truncation error ``O(r^2)``;
* forward, ``(g(w + eps v) - g(w)) / eps``: truncation error ``O(r)``;

and both carry a round-off error ``O(u / r)`` (``u``: the unit round-off of the dtype). That is the textbook
V on a log-log plot, but only for a function with a smooth gradient. A ReLU network's ``g`` jumps wherever
a pre-activation changes sign, so a stencil that straddles such a kink errs by about ``jump / (2 eps)``,
however small the truncation term would be; so does a max pool where its maximum moves to another input
(:func:`kinks_crossed` counts both).

This module holds what notebook 04 needs to show both: :func:`smooth_search_net` (Peng's search network
with every kink removed), :func:`exact_hvp` (double backward), :func:`fd_errors` (the sweep over ``r``),
:func:`kinks_crossed` and :func:`loglog_slope`; the error measure is
:func:`~videonas_lite.nas.tiny_problem.relative_error`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.bilevel import (
    Batch,
    LossFn,
    cross_entropy,
    hessian_vector_fd,
    restored,
    split_parameters,
    stencil_eps,
)
from videonas_lite.nas.networks import CellSpec, SearchNetwork
from videonas_lite.nas.tiny_problem import relative_error

KINKED_OPS = frozenset({"MPool_3", "1x3x3 max pooling"})
"""Ops whose output is not differentiable everywhere even without a ReLU (the max switches)."""

SMOOTH_PENG_OPS: tuple[str, ...] = tuple(n for n in ops.op_names("peng") if n not in KINKED_OPS)
"""Peng's Table 1 without the max pool: seven ops, all smooth once their ReLU is swapped out."""


def swap_activations(module: nn.Module, activation: Callable[[], nn.Module] = nn.Softplus) -> int:
    """Replace every ``nn.ReLU`` inside ``module`` by ``activation()``, in place; return how many were replaced."""
    count = 0
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, activation())
            count += 1
        else:
            count += swap_activations(child, activation)
    return count


def smooth_search_net(
    num_classes: int,
    channels: int = 2,
    nodes: int = 2,
    layers: int = 3,
    activation: Callable[[], nn.Module] = nn.Softplus,
    op_names: Sequence[str] = SMOOTH_PENG_OPS,
) -> SearchNetwork:
    """Peng's search network with an infinitely differentiable loss, for the textbook error of Peng Eq. 5's FD.

    The same stem, cells, mixed edges and classifier as :func:`~videonas_lite.nas.networks.peng_search_net`,
    but every ``nn.ReLU`` replaced by ``activation()`` (Softplus: a smooth ReLU), no max pool (``op_names``)
    and no reduction cell (a reduction's strided skip, the factorized reduce, calls ``F.relu`` itself). The
    network runs its cells' definition (``fused=False``): the fused forward of nas/fused.py applies the ReLU
    of a shared input itself, as a function, not through the swapped module.
    """
    kinked = sorted(KINKED_OPS & {ops.canonical(n) for n in op_names})
    if kinked:
        raise ValueError(f"op_names must not contain ops with kinks {kinked}: the network would not be smooth")
    plan = [CellSpec("normal", tuple(op_names), False) for _ in range(layers)]
    net = SearchNetwork(plan, num_classes, channels, nodes, fused=False)
    swap_activations(net, activation)
    bad = [n for n, m in net.named_modules() if isinstance(m, nn.ReLU | ops.FactorizedReduce)]
    bad += [n for n, m in net.named_modules() if isinstance(m, ops.Pool) and m.kind == "max"]
    if bad:  # guards the claim of smoothness against future changes of ops.py / cells.py
        raise RuntimeError(f"modules with kinks left in the smooth network: {bad}")
    return net


def exact_hvp(
    model: nn.Module, batch: Batch, v: Sequence[torch.Tensor], loss_fn: LossFn = cross_entropy
) -> list[torch.Tensor]:
    """``grad^2_{alpha, w} L(w, alpha) . v`` by double backward: the second term of Peng Eq. 5 without ``xi``.

    ``grad_alpha (grad_w L(w, alpha) . v)`` with ``v`` held constant, at the model's current weights; the
    model (the stem BN's running statistics included) is left as it was.
    """
    weights, alphas = split_parameters(model)
    with restored(model):
        grads = torch.autograd.grad(loss_fn(model, batch), weights, create_graph=True)
        dot = sum((g * vi.detach()).sum() for g, vi in zip(grads, v, strict=True))
        return list(torch.autograd.grad(dot, alphas))


def fd_errors(
    model: nn.Module,
    batch: Batch,
    v: Sequence[torch.Tensor],
    radii: Sequence[float],
    difference: str = "central",
    exact: Sequence[torch.Tensor] | None = None,
    loss_fn: LossFn = cross_entropy,
) -> list[float]:
    """Relative error of :func:`~videonas_lite.nas.bilevel.hessian_vector_fd` (Peng Eq. 5's FD) for each ``r``.

    ``exact`` is the true product (default: :func:`exact_hvp` on ``model`` itself); pass one computed in
    float64 to measure a float32 model's error against the mathematics rather than against its own
    rounding. ``v`` is cast to the model's dtype. The forward difference computes ``g(w)`` once and reuses
    it for every ``r``, as :func:`~videonas_lite.nas.bilevel.second_order` reuses the virtual step's.
    """
    weights, alphas = split_parameters(model)
    v = [vi.detach().to(w.dtype) for vi, w in zip(v, weights, strict=True)]
    exact = exact_hvp(model, batch, v, loss_fn) if exact is None else exact
    at_w = None
    if difference == "forward":
        with restored(model):
            at_w = list(torch.autograd.grad(loss_fn(model, batch), alphas))
    return [relative_error(hessian_vector_fd(model, batch, v, r, loss_fn, difference, at_w=at_w), exact) for r in radii]


def kinks_crossed(
    model: SearchNetwork, batch: Batch, v: Sequence[torch.Tensor], r: float, difference: str = "central"
) -> dict[str, int]:
    """How many kinks of ``g = grad_alpha L`` lie inside the FD stencil of Peng Eq. 5 (``eps = r / ||v||``).

    Counts, between the stencil's two points (central: ``w - eps v`` and ``w + eps v``; forward: ``w`` and
    ``w + eps v``), the ReLU inputs that change sign (``"ReLU"``) and the max-pool windows whose maximum moves
    to another input (``"max pool"``). Read in the cells' definition (``fused=False`` for the count) at
    every ``nn.ReLU`` module, every factorized reduce (its ReLU is a function call) and every max pool; a
    tensor that several ops read (a node's state feeds every op of every edge leaving it) counts once.
    """
    if difference not in ("central", "forward"):
        raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
    weights, _ = split_parameters(model)
    eps = stencil_eps(v, r)
    signs = (-1.0, 1.0) if difference == "central" else (0.0, 1.0)
    watched = [m for m in model.modules() if isinstance(m, nn.ReLU | ops.FactorizedReduce | ops.Pool)]
    watched = [m for m in watched if not isinstance(m, ops.Pool) or m.kind == "max"]
    fused, model.fused = model.fused, False
    seen: list[list[tuple[str, torch.Tensor]]] = []
    try:
        with restored(model), torch.no_grad():
            start = [w.detach().clone() for w in weights]
            for sign in signs:
                states: list[tuple[str, torch.Tensor]] = []
                record = _recorder(states)
                hooks = [m.register_forward_pre_hook(record) for m in watched]
                for w, w0, vi in zip(weights, start, v, strict=True):
                    torch.add(w0, vi.to(w.dtype), alpha=sign * eps, out=w)
                model(batch[0])  # the loss adds no kink after the logits
                for h in hooks:
                    h.remove()
                seen.append(states)
    finally:
        model.fused = fused
    counts = {"ReLU": 0, "max pool": 0}
    for (kind, a), (_, b) in zip(*seen, strict=True):
        counts[kind] += int((a != b).sum())
    return counts


def _recorder(states: list[tuple[str, torch.Tensor]]) -> Callable[[nn.Module, tuple], None]:
    """A forward pre-hook appending :func:`_branch` of each module's input to ``states``, each input once."""
    inputs: dict[tuple, torch.Tensor] = {}  # kept alive, so that no two inputs share an id

    def record(module: nn.Module, args: tuple) -> None:
        x = args[0]
        key = (id(x), *((module.kernel, module.stride) if isinstance(module, ops.Pool) else ()))
        if key not in inputs:  # the same input read by several ops counts once
            inputs[key] = x
            states.append(_branch(module, x))

    return record


def _branch(module: nn.Module, x: torch.Tensor) -> tuple[str, torch.Tensor]:
    """Which piece of a piecewise-smooth module ``x`` falls on: the sign of a ReLU input, a max pool's argmax."""
    if isinstance(module, ops.Pool):  # the same windows as kernels.pool3d: 'same' padding, stride 1 x s x s
        padding = tuple(k // 2 for k in module.kernel)
        return "max pool", F.max_pool3d(x.contiguous(), module.kernel, module.stride, padding, return_indices=True)[1]
    return "ReLU", x > 0


def loglog_slope(radii: Sequence[float], errors: Sequence[float]) -> float:
    """Least-squares slope of ``log10(error)`` against ``log10(r)``: 2 for a central difference's truncation
    error, 1 for a forward difference's, -1 for round-off."""
    x = torch.log10(torch.tensor(radii, dtype=torch.float64))
    y = torch.log10(torch.tensor(errors, dtype=torch.float64))
    x, y = x - x.mean(), y - y.mean()
    return ((x * y).sum() / (x * x).sum()).item()
