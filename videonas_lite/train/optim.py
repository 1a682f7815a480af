"""The two optimisers of a search and their learning-rate schedules, as each paper sets them. Notebooks 04-05.

* Peng (following DARTS): weights SGD, lr 0.025, momentum 0.9, weight decay 3e-4, cosine annealing to
  1e-3; alphas Adam, lr 3e-4, betas (0.5, 0.999), weight decay 1e-3. Peng states none of these numbers (Sec. 3:
  "a relative big learning rate", decreased "at each iteration"); they are DARTS's, which Peng follows.
* PV-NAS (Sec. 4.2.1, Alg. 1): weights SGD, lr 0.1, momentum 0.9, weight decay 1e-4, step decay (x 0.1
  every ``step_epochs``; the paper: every 20 of 80 epochs); alphas Adam, lr 1e-3, betas (0.0, 0.999), no
  weight decay (the paper states none). README, "The papers' own settings", maps every number to its sentence.
  Sec. 3.3 explains the step schedule: under cosine annealing the alphas converge while the weights are
  still poor, and the search collapses onto parameter-free ops.

Both papers hold the alphas' learning rate constant (``arch_schedule="constant"``). The ``default`` profile's
PV-NAS search anneals it (``"cosine"``, :func:`arch_lr_at`): at its Adam lr of 1e-1 and about 30 steps an epoch
the alphas swing by whole logits from one epoch to the next, and the derived cell changed in every epoch to the
last; a step size that falls to zero lets them settle (README, "A search that learns in class time").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class OptimConfig:
    """Hyper-parameters of both optimisers and the schedule of the weights' learning rate."""

    weight_lr: float
    weight_momentum: float
    weight_decay: float
    arch_lr: float
    arch_betas: tuple[float, float]
    arch_weight_decay: float
    schedule: str  # "cosine" or "step"
    lr_min: float = 1e-3  # cosine's floor
    step_epochs: int = 20  # step decay's period (a search scales it: train/search.py, quarter_step_epochs)
    step_factor: float = 0.1
    arch_schedule: str = "constant"  # the alphas' lr: "constant" (both papers) or "cosine" (arch_lr_at)


PAPERS: dict[str, OptimConfig] = {
    "peng": OptimConfig(0.025, 0.9, 3e-4, 3e-4, (0.5, 0.999), 1e-3, "cosine"),
    "pvnas": OptimConfig(0.1, 0.9, 1e-4, 1e-3, (0.0, 0.999), 0.0, "step"),
}
SCHEDULES = ("cosine", "step")
ARCH_SCHEDULES = ("constant", "cosine")
PAPER_STEPS = 4  # PV-NAS decays x0.1 every 20 of its 80 search epochs (its search hyper-parameters; Table 3 text)


def quarter_step_epochs(epochs: int) -> int:
    """PV-NAS's step period scaled to a search of ``epochs`` (the paper: 20 of 80): ``ceil(epochs / 4)``."""
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    return -(-epochs // PAPER_STEPS)


def make_optimizers(model: nn.Module, config: OptimConfig) -> tuple[torch.optim.SGD, torch.optim.Adam]:
    """``(weights' SGD, alphas' Adam)`` over a search network's two parameter sets."""
    sgd = torch.optim.SGD(
        model.weight_parameters(), config.weight_lr, momentum=config.weight_momentum, weight_decay=config.weight_decay
    )
    adam = torch.optim.Adam(
        model.arch_parameters(), config.arch_lr, betas=config.arch_betas, weight_decay=config.arch_weight_decay
    )
    return sgd, adam


def make_schedule(optimizer: torch.optim.Optimizer, config: OptimConfig, epochs: int):
    """The weights' per-epoch schedule: cosine to ``lr_min`` in ``epochs``, or x ``step_factor`` per ``step_epochs``."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=config.lr_min)
    if config.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_epochs, gamma=config.step_factor)
    raise ValueError(f"schedule must be one of {SCHEDULES}, got {config.schedule!r}")


def arch_lr_at(config: OptimConfig, epoch: int, warmup_epochs: int, epochs: int) -> float:
    """The alphas' Adam learning rate in ``epoch`` (0-based) of a search whose alphas move from ``warmup_epochs`` on.

    ``"constant"``: ``arch_lr`` throughout (both papers). ``"cosine"``: over the ``n = epochs - warmup_epochs``
    epochs in which the alphas move, ``arch_lr * (1 + cos(pi * k / n)) / 2`` in the ``k``-th of them, so the first
    takes ``arch_lr`` and the last a small step, ``arch_lr * (1 - cos(pi / n)) / 2``; ``arch_lr`` during the
    warm-up, when the alphas do not move. That is torch's ``CosineAnnealingLR`` (``T_max = n``, ``eta_min = 0``)
    started at the warm-up's end, written as a function of the epoch instead of a scheduler object so that a
    resumed search needs no saved schedule state (tests/test_search_optim.py checks it against torch's).
    """
    if config.arch_schedule == "constant":
        return config.arch_lr
    if config.arch_schedule == "cosine":
        k, n = max(0, epoch - warmup_epochs), epochs - warmup_epochs
        return config.arch_lr * 0.5 * (1 + math.cos(math.pi * k / n))
    raise ValueError(f"arch_schedule must be one of {ARCH_SCHEDULES}, got {config.arch_schedule!r}")
