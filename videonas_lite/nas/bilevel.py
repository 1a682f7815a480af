"""The architecture gradient of the bilevel problem (Peng Eqs. 1-5; DARTS Sec. 2.3). Taught by notebook 04.

Peng Eq. 1: ``min_alpha L_val(w*(alpha), alpha)`` subject to ``w*(alpha) = argmin_w L_train(w, alpha)``,
approximated with one virtual step of the weights (Eq. 3, ``epsilon`` there is ``xi`` here, as in
DARTS): ``w' = w - xi * grad_w L_train(w, alpha)``. The architecture gradient (Eq. 5) is

    grad_alpha L_val(w', alpha) - xi * grad^2_{alpha, w} L_train(w, alpha) . grad_{w'} L_val(w', alpha).

* :func:`first_order` drops the second term and takes ``w' = w`` (``xi -> 0``, Peng's special case).
* :func:`second_order` computes the Hessian-vector product by a central finite difference,
  ``(grad_alpha L_train(w + eps v) - grad_alpha L_train(w - eps v)) / (2 eps)`` with
  ``v = grad_{w'} L_val(w', alpha)`` and ``eps = r / ||v||`` (:func:`stencil_eps`; DARTS: ``r = 0.01``).
  ``difference="forward"`` instead takes ``(grad_alpha L_train(w + eps v) - grad_alpha L_train(w)) / eps``, whose
  second term comes free with the virtual step's backward pass: one pass fewer, truncation error O(eps) not
  O(eps^2).
* :func:`exact_second_order` differentiates ``L_val(w'(alpha), alpha)`` through the virtual step by
  double backward (``torch.func.functional_call``): the same quantity without truncation error, for
  teaching and for the tests.

The virtual step is the weight optimiser's own step, as DARTS does it: ``w' = w - xi * (m * buf + g +
lambda * w)`` with the SGD momentum buffer ``buf`` (scaled by the momentum ``m``) and weight decay
``lambda`` (:class:`VirtualStep`). Every function leaves the model exactly as it found it: the weights
are copied back bit for bit after the virtual and the perturbed passes, and so are the buffers. The
search networks' op BNs keep no running statistics (nas/ops.py); the stem's BN does, and its running
averages are restored too, so only the real training passes update them.

Cost: every pass that needs only ``grad_alpha`` asks autograd for the alphas alone, so it skips the
convolutions' weight gradients; benchmarks/bilevel.py times both kinds of pass and each mode's step
(train/stepcost.py counts the passes of each mode).

Mixed precision: under ``torch.autocast`` (bf16 on CUDA in train/search.py) the finite-difference passes
run in float32, autocast switched off: their two gradients differ by about ``r`` times the curvature,
below bf16's 3 significant digits, so in bf16 the difference would be rounding noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

Batch = tuple[torch.Tensor, torch.Tensor]
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


def cross_entropy(model: nn.Module, batch: Batch) -> torch.Tensor:
    """The loss of both levels (Peng: cross-entropy on UCF101)."""
    clips, labels = batch
    return F.cross_entropy(model(clips), labels)


@dataclass(frozen=True)
class VirtualStep:
    """``w' = w - xi * (momentum * buf + grad + weight_decay * w)``: one step of the weights' SGD (Peng Eq. 3)."""

    xi: float
    momentum: float = 0.0
    weight_decay: float = 0.0

    @classmethod
    def from_optimizer(cls, optimizer: torch.optim.SGD, weights: Sequence[torch.Tensor]) -> tuple[VirtualStep, list]:
        """The step the optimiser would take (its current lr, momentum, weight decay) and its momentum buffers."""
        group = optimizer.param_groups[0]
        buffers = [optimizer.state.get(w, {}).get("momentum_buffer") for w in weights]
        return cls(group["lr"], group.get("momentum", 0.0), group.get("weight_decay", 0.0)), buffers

    def direction(self, w: torch.Tensor, grad: torch.Tensor, buf: torch.Tensor | None) -> torch.Tensor:
        d = grad + self.weight_decay * w
        return d if buf is None else d + self.momentum * buf


def split_parameters(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """``(weights, alphas)`` of a search network (its ``weight_parameters`` and ``arch_parameters``)."""
    return list(model.weight_parameters()), list(model.arch_parameters())


@contextmanager
def restored(model: nn.Module):
    """Copy every parameter and buffer back, bit for bit, when the block ends."""
    saved = [t.detach().clone() for t in (*model.parameters(), *model.buffers())]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, s in zip((*model.parameters(), *model.buffers()), saved, strict=True):
                t.copy_(s)


def first_order(model: nn.Module, val: Batch, loss_fn: LossFn = cross_entropy) -> list[torch.Tensor]:
    """``grad_alpha L_val(w, alpha)``: Eq. 5 with ``xi = 0``."""
    _, alphas = split_parameters(model)
    return list(torch.autograd.grad(loss_fn(model, val), alphas))


def virtual_step(
    model: nn.Module,
    train: Batch,
    step: VirtualStep,
    buffers: Sequence[torch.Tensor | None] | None,
    loss_fn: LossFn = cross_entropy,
    with_alpha: bool = False,
) -> list[torch.Tensor]:
    """Move the weights to ``w'`` in place (Peng Eq. 3).

    Returns ``grad_alpha L_train(w)`` from the same backward pass when ``with_alpha`` (else ``[]``).
    """
    weights, alphas = split_parameters(model)
    wrt = [*weights, *alphas] if with_alpha else weights
    grads = torch.autograd.grad(loss_fn(model, train), wrt)
    with torch.no_grad():
        for w, g, buf in zip(weights, grads, buffers or [None] * len(weights), strict=False):
            w.sub_(step.xi * step.direction(w, g, buf))
    return list(grads[len(weights) :])


def stencil_eps(v: Sequence[torch.Tensor], r: float) -> float:
    """``eps = r / ||v||``: the finite difference's step along ``v``, so its points lie ``r`` from ``w`` (DARTS)."""
    return r / torch.sqrt(sum((t.double() ** 2).sum() for t in v)).item()


DIFFERENCES = ("central", "forward", "exact")
"""How :func:`second_order` gets the Hessian-vector product: two finite-difference passes, one, or double backward."""


def hessian_vector_fd(
    model: nn.Module,
    train: Batch,
    v: Sequence[torch.Tensor],
    r: float = 0.01,
    loss_fn: LossFn = cross_entropy,
    difference: str = "central",
    at_w: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """``grad^2_{alpha, w} L_train(w, alpha) . v`` by a finite difference along ``v``, ``eps = r / ||v||`` (Peng Eq. 5).

    Central, ``(g(w + eps v) - g(w - eps v)) / (2 eps)`` with ``g = grad_alpha L_train``; or forward,
    ``(g(w + eps v) - g(w)) / eps``, where a caller that already holds ``g(w)`` (in float32) passes it as
    ``at_w``. Evaluated at the model's current weights, which are restored exactly afterwards; the passes
    run in float32 even under autocast.
    """
    if difference not in ("central", "forward"):
        raise ValueError(f"difference must be 'central' or 'forward', got {difference!r}")
    weights, alphas = split_parameters(model)
    eps = stencil_eps(v, r)
    signs = (1.0, -1.0) if difference == "central" else (1.0,) if at_w is not None else (1.0, 0.0)
    w0, sides = _snapshot(weights), []
    with restored(model), _float32(train[0]):
        for sign in signs:
            with torch.no_grad():
                for w, start, vi in zip(weights, w0, v, strict=True):
                    torch.add(start, vi, alpha=sign * eps, out=w)
            sides.append(torch.autograd.grad(loss_fn(model, train), alphas))
    if difference == "forward":
        return [(p - g) / eps for p, g in zip(sides[0], at_w or sides[1], strict=True)]
    return [(p - m) / (2 * eps) for p, m in zip(*sides, strict=True)]


def _float32(like: torch.Tensor):
    """Autocast switched off for ``like``'s device (a no-op outside autocast)."""
    return torch.autocast(like.device.type, enabled=False)


def _snapshot(tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    return [t.detach().clone() for t in tensors]


def second_order(
    model: nn.Module,
    train: Batch,
    val: Batch,
    step: VirtualStep,
    buffers: Sequence[torch.Tensor | None] | None = None,
    r: float = 0.01,
    loss_fn: LossFn = cross_entropy,
    difference: str = "central",
) -> list[torch.Tensor]:
    """Peng Eq. 5 with the finite-difference Hessian-vector product (DARTS's second-order approximation).

    Passes (forward + backward each): the virtual step, the validation gradient at ``w'``, then two
    alpha-only passes for the central difference or one for the forward difference.
    ``difference="exact"`` hands over to :func:`exact_second_order` (double backward, no ``r``).
    """
    if difference not in DIFFERENCES:
        raise ValueError(f"difference must be one of {DIFFERENCES}, got {difference!r}")
    if difference == "exact":
        return exact_second_order(model, train, val, step, buffers, loss_fn)
    weights, alphas = split_parameters(model)
    # g(w) from the virtual step's pass, unless autocast computed it in bf16 (then a float32 pass)
    reuse = difference == "forward" and not torch.is_autocast_enabled(train[0].device.type)
    with restored(model):
        at_w = virtual_step(model, train, step, buffers, loss_fn, with_alpha=reuse)
        grads = torch.autograd.grad(loss_fn(model, val), [*alphas, *weights])
    d_alpha, v = grads[: len(alphas)], grads[len(alphas) :]
    hvp = hessian_vector_fd(model, train, v, r, loss_fn, difference, at_w=at_w or None)
    return [d - step.xi * h for d, h in zip(d_alpha, hvp, strict=True)]


def exact_second_order(
    model: nn.Module,
    train: Batch,
    val: Batch,
    step: VirtualStep,
    buffers: Sequence[torch.Tensor | None] | None = None,
    loss_fn: LossFn = cross_entropy,
) -> list[torch.Tensor]:
    """``d/d alpha L_val(w'(alpha), alpha)`` by double backward: Eq. 5 exactly, no finite difference."""
    names = {id(p): n for n, p in model.named_parameters()}
    weights, alphas = split_parameters(model)
    w = {names[id(p)]: p.detach().clone().requires_grad_() for p in weights}
    a = {names[id(p)]: p.detach().clone().requires_grad_() for p in alphas}

    def loss_at(params: dict, batch: Batch) -> torch.Tensor:
        return loss_fn(_Bound(model, params), batch)

    with restored(model):
        grads = torch.autograd.grad(loss_at({**w, **a}, train), list(w.values()), create_graph=True)
        bufs = buffers or [None] * len(weights)
        w_prime = {
            n: wn - step.xi * step.direction(wn, g, b) for (n, wn), g, b in zip(w.items(), grads, bufs, strict=True)
        }
        return list(torch.autograd.grad(loss_at({**w_prime, **a}, val), list(a.values())))


class _Bound(nn.Module):
    """``model`` called with ``params`` in place of its parameters (for a loss function that calls the model)."""

    def __init__(self, model: nn.Module, params: dict):
        super().__init__()
        self.model, self.params = model, params

    def forward(self, *args):
        return functional_call(self.model, self.params, args)


ORDERS = ("first", "second", "one-level")
"""The architecture steps of :func:`search_step` (``second`` takes a ``difference`` from :data:`DIFFERENCES`)."""


def _set_grads(params: Sequence[torch.Tensor], grads: Sequence[torch.Tensor]) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g.detach()


def search_step(
    model: nn.Module,
    order: str,
    train: Batch,
    val: Batch | None,
    weight_optimizer: torch.optim.SGD,
    arch_optimizer: torch.optim.Optimizer,
    r: float = 0.01,
    loss_fn: LossFn = cross_entropy,
    difference: str = "central",
    arch_step: bool = True,
) -> dict[str, float]:
    """One search iteration: an architecture step, then a weight step on the training batch.

    * ``first`` / ``second``: alphas descend ``grad_alpha L_val`` of Peng Eq. 5 at ``xi = 0`` / at ``xi`` =
      the weight optimiser's current learning rate (DARTS's choice), then the weights descend
      ``grad_w L_train(w, alpha_t)``.
    * ``one-level`` (PV-NAS Eqs. 8-9, Alg. 1): alphas descend ``grad_alpha L_train(w_{t-1}, alpha_{t-1})``,
      then the weights ``grad_w L_train(w_{t-1}, alpha_t)``, both on the training batch (``val`` unused).

    ``arch_step=False`` skips the architecture step (a warm-up of the weights, alphas frozen).
    Returns the losses it computed (``train``; ``val`` for first order, ``train_before`` for one level).
    """
    weights, alphas = split_parameters(model)
    out: dict[str, float] = {}
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    if arch_step:
        if order == "first":
            arch_grads, out["val"] = loss_gradient(model, val, alphas, loss_fn)
        elif order == "second":
            step, buffers = VirtualStep.from_optimizer(weight_optimizer, weights)
            arch_grads = second_order(model, train, val, step, buffers, r, loss_fn, difference)
        else:  # one-level
            arch_grads, out["train_before"] = loss_gradient(model, train, alphas, loss_fn)
        _set_grads(alphas, arch_grads)
        arch_optimizer.step()
        arch_optimizer.zero_grad(set_to_none=True)
    weight_grads, out["train"] = loss_gradient(model, train, weights, loss_fn)
    _set_grads(weights, weight_grads)
    weight_optimizer.step()
    weight_optimizer.zero_grad(set_to_none=True)
    return out


def loss_gradient(
    model: nn.Module, batch: Batch, wrt: Sequence[torch.Tensor], loss_fn: LossFn = cross_entropy
) -> tuple[tuple, float]:
    """``(grad of the loss w.r.t. wrt, the loss)``; the graph is gone on return.

    A backward pass to the alphas alone never reaches the stem, so the stem's saved activations live as
    long as the loss tensor does: held across the next pass they would raise a step's peak memory
    (benchmarks/bilevel.py measures each mode's peak; tests/test_bilevel.py checks nothing outlives the pass).
    """
    loss = loss_fn(model, batch)
    return torch.autograd.grad(loss, wrt), loss.item()
