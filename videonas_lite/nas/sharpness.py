"""The curvature of the validation loss in the alphas: its Hessian, the dominant eigenvalue, early stopping.

Zela et al., "Understanding and Robustifying Differentiable Architecture Search" (ICLR 2020), Sec. 4: the
dominant eigenvalue of ``H = grad^2_alpha L_val(w, alpha)`` rises before a DARTS search collapses onto
parameter-free ops; their DARTS-ES stops the search when it has risen by a set factor. PV-NAS Sec. 3.3 blames
the collapse on cosine decay instead (the alphas settle while the weights are still poor). Notebook 08
measures both on one search.

* :func:`hessian_vector_product`: ``H v`` by double backward (exact: the gradient's own graph, differentiated).
* :func:`alpha_hessian`: the whole ``P x P`` matrix, one backward per row of the gradient; affordable because
  the alphas are few (``M |O|`` per cell kind: 4 x 14 x 8 for PV-NAS) and kept for the small nets of the tests
  and the notebook, where it checks :func:`dominant_eigenvalue`.
* :func:`dominant_eigenvalue`: power iteration on ``v -> H v``. It converges to the eigenvalue of largest
  magnitude (Zela's "dominant"); the value returned is the Rayleigh quotient ``v . H v`` at the last ``v``,
  so its sign is kept.
* :func:`early_stop_epoch`: DARTS-ES (Zela Sec. 4.2): with ``lam_bar_i`` the mean of the eigenvalues over the
  ``window`` epochs ending at ``i``, stop at the first epoch ``i`` where ``lam_bar_{i-k} / lam_bar_i < ratio``
  and return the architecture of epoch ``i - k``. Zela: ``window = k = 5`` of 50 epochs, ``ratio = 0.75``.

The loss is evaluated with the model in eval mode (the stem's BN on its running averages; the cells' BNs
keep none and use the batch's statistics, nas/ops.py), so measuring changes nothing in the model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import nn

from videonas_lite.nas.bilevel import Batch, LossFn, cross_entropy

__all__ = ["alpha_hessian", "dominant_eigenvalue", "early_stop_epoch", "hessian_vector_product", "smoothed"]


def _alphas(model: nn.Module) -> list[nn.Parameter]:
    return list(model.arch_parameters())


def _mean_loss(model: nn.Module, batches: Sequence[Batch], loss_fn: LossFn) -> torch.Tensor:
    return sum(loss_fn(model, batch) for batch in batches) / len(batches)


class _EvalMode:
    """The model in eval mode inside the block, its own mode restored after it."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc):
        self.model.train(self.was_training)


def _flat(tensors: Iterable[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def hessian_vector_product(
    model: nn.Module, batches: Sequence[Batch], v: torch.Tensor, loss_fn: LossFn = cross_entropy
) -> torch.Tensor:
    """``H v`` for the flat vector ``v`` over all alphas (the order of ``model.arch_parameters()``), exactly.

    ``L`` is the mean of ``loss_fn`` over ``batches``; ``H v = grad_alpha (grad_alpha L . v)``.
    """
    alphas = _alphas(model)
    with _EvalMode(model):
        grads = torch.autograd.grad(_mean_loss(model, batches, loss_fn), alphas, create_graph=True)
        g = _flat(grads)
        if v.shape != g.shape:
            raise ValueError(f"v has shape {tuple(v.shape)}; the alphas have {g.numel()} entries")
        return _flat(torch.autograd.grad(g @ v.to(g), alphas)).detach()


def alpha_hessian(model: nn.Module, batches: Sequence[Batch], loss_fn: LossFn = cross_entropy) -> torch.Tensor:
    """The ``P x P`` Hessian of the mean loss in all alphas: one backward of each gradient entry (small nets)."""
    alphas = _alphas(model)
    with _EvalMode(model):
        g = _flat(torch.autograd.grad(_mean_loss(model, batches, loss_fn), alphas, create_graph=True))
        rows = [_flat(torch.autograd.grad(g[i], alphas, retain_graph=True)) for i in range(g.numel())]
    return torch.stack(rows).detach()


def dominant_eigenvalue(
    model: nn.Module,
    batches: Sequence[Batch],
    iters: int = 20,
    tol: float = 1e-3,
    v0: torch.Tensor | None = None,
    seed: int = 0,
    loss_fn: LossFn = cross_entropy,
) -> tuple[float, torch.Tensor, int]:
    """``(lambda, v, iterations)``: power iteration on ``H`` (Zela Sec. 4.1), started at ``v0`` or a seeded draw.

    Stops after ``iters`` products or when the Rayleigh quotient changes by less than ``tol`` relative to
    itself. Pass the previous epoch's ``v`` as ``v0``: the direction moves little between epochs, so a
    warm start needs fewer products.
    """
    if iters < 1:
        raise ValueError(f"iters must be >= 1, got {iters}")
    size = sum(a.numel() for a in _alphas(model))
    if v0 is None:
        v0 = torch.randn(size, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    v = v0.double() / v0.double().norm()
    lam = None
    for i in range(1, iters + 1):
        hv = hessian_vector_product(model, batches, v, loss_fn).double()
        new = float(v @ hv)
        norm = hv.norm()
        if norm == 0:
            return 0.0, v, i
        v = hv / norm
        if lam is not None and abs(new - lam) <= tol * abs(new):
            return new, v, i
        lam = new
    return lam, v, iters


def smoothed(values: Sequence[float], window: int) -> list[float]:
    """``values[i]`` replaced by the mean of the (up to) ``window`` values ending at ``i``."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return [sum(values[max(0, i - window + 1) : i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def early_stop_epoch(
    eigenvalues: Sequence[float], k: int = 5, window: int | None = None, ratio: float = 0.75, first: int = 0
) -> tuple[int, int] | None:
    """DARTS-ES: ``(stop epoch i, chosen epoch i - k)`` at the first ``i`` with ``lam_bar[i-k] / lam_bar[i] < ratio``.

    ``eigenvalues[i]`` is epoch ``i``'s dominant eigenvalue (positive: the loss curves upwards along ``v``);
    ``lam_bar`` averages over ``window`` epochs (default ``k``). Epochs before ``first`` (a warm-up with the
    alphas frozen) are left out: ``lam_bar`` starts there. ``None`` when the rule never fires.
    """
    if k < 1 or not 0 < ratio < 1 or first < 0:
        raise ValueError(f"expected k >= 1, 0 < ratio < 1 and first >= 0, got k={k}, ratio={ratio}, first={first}")
    bar = [None] * first + smoothed(list(eigenvalues)[first:], window or k)
    for i in range(first + k, len(bar)):
        if bar[i] > 0 and bar[i - k] / bar[i] < ratio:
            return i, i - k
    return None
