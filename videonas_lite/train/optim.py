"""The two optimisers of a search and their learning-rate schedules, as each paper sets them. Notebooks 04-05.

* Peng (following DARTS): weights SGD, lr 0.025, momentum 0.9, weight decay 3e-4, cosine annealing to
  1e-3; alphas Adam, lr 3e-4, betas (0.5, 0.999), weight decay 1e-3. Peng states none of these numbers (Sec. 3:
  "a relative big learning rate", decreased "at each iteration"); they are DARTS's, which Peng follows.
* PV-NAS (Sec. 4.2.1, Alg. 1): weights SGD, lr 0.1, momentum 0.9, weight decay 1e-4, step decay (x 0.1
  every ``step_epochs``; the paper: every 20 of 80 epochs); alphas Adam, lr 1e-3, betas (0.0, 0.999), no
  weight decay (the paper states none). README, "The papers' own settings", maps every number to its sentence.
  Sec. 3.3 explains the step schedule: under cosine annealing the alphas converge while the weights are
  still poor, and the search collapses onto parameter-free ops.
"""

from __future__ import annotations

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


PAPERS: dict[str, OptimConfig] = {
    "peng": OptimConfig(0.025, 0.9, 3e-4, 3e-4, (0.5, 0.999), 1e-3, "cosine"),
    "pvnas": OptimConfig(0.1, 0.9, 1e-4, 1e-3, (0.0, 0.999), 0.0, "step"),
}
SCHEDULES = ("cosine", "step")
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
