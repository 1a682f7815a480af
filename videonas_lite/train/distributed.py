"""Several processes, one run: torchrun's environment, the process group, and what the loops average.

Used by the search (train/search.py, notebook 05) and the retraining (train/retrain.py, notebook 07) when the
command runs under ``torchrun --nproc_per_node N -m videonas_lite.cli search|retrain ...``; README, "Several
GPUs or nodes: torchrun". Without torchrun (``WORLD_SIZE`` unset or 1) every function here is a no-op, so a
single process computes bit for bit what it computed before.

What stays exact. The replicas start from the same seeded weights and every optimiser step uses the gradient
averaged over the ranks, ``g = (1/N) sum_r grad L_r`` with ``L_r`` the mean loss of rank ``r``'s ``b / N``
clips (data/epochs.py: ``b`` is the global batch): the gradient of the mean of the ranks' losses, so the
replicas stay identical. BatchNorm normalises with each rank's own batch statistics (PV-NAS: BN statistics
"individually in each GPU"; no SyncBatchNorm); the running averages, which only evaluation reads, are
averaged over the ranks once per epoch (:func:`average_buffers`): the running mean is a linear recursion of
the batch means, so this equals averaging them after every step.

No state lives here: the rank and world size are torch.distributed's (:func:`current`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Ranks", "agree", "all_gather", "average_buffers", "average_gradients", "average_on_step", "current",
           "from_env", "init", "mean", "shutdown"]  # fmt: skip


@dataclass(frozen=True)
class Ranks:
    """This process's place in the run: ``rank`` of ``world_size``, ``local_rank`` on its node (its GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0: the one process that prints progress and writes records.json and checkpoint.pt."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if not value.strip().isdigit():
        raise ValueError(f"environment variable {name}={value!r}: expected a non-negative integer (set by torchrun)")
    return int(value)


def from_env() -> Ranks:
    """``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` as torchrun sets them (unset: one process, rank 0)."""
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    if world < 1 or rank >= world:
        raise ValueError(f"torchrun environment: RANK={rank} must be below WORLD_SIZE={world} (and WORLD_SIZE >= 1)")
    return Ranks(rank, world, local)


def current() -> Ranks:
    """The process group's ranks when one is initialised, else one process."""
    if dist.is_available() and dist.is_initialized():
        return Ranks(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0))
    return Ranks()


def init(device: torch.device) -> Ranks:
    """Join torchrun's process group (nccl for CUDA, gloo for the CPU) when ``WORLD_SIZE > 1``; the ranks.

    On CUDA each process takes GPU ``LOCAL_RANK`` (so ``"cuda"`` means that GPU for this process).
    """
    ranks = from_env()
    if not ranks.distributed or dist.is_initialized():
        return current() if ranks.distributed else ranks
    if device.type == "cuda":
        if ranks.local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={ranks.local_rank}, but this node has {torch.cuda.device_count()} GPU(s); "
                             "start at most that many processes per node (--nproc_per_node)")  # fmt: skip
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current()


def shutdown() -> None:
    """Leave the process group (at the end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _on() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _comm_device(like: torch.device | None = None) -> torch.device:
    """Where a collective's tensor must live: the current GPU under nccl, else ``like`` or the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return like or torch.device("cpu")


def _average(tensors: Sequence[torch.Tensor]) -> None:
    """Replace each tensor by its mean over the ranks, in place (one all-reduce of their concatenation)."""
    if not tensors:
        return
    flat = torch.cat([t.detach().reshape(-1).to(_comm_device(t.device), torch.float32) for t in tensors])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    start = 0
    with torch.no_grad():
        for t in tensors:
            t.copy_(flat[start : start + t.numel()].view_as(t))
            start += t.numel()


def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """``p.grad = (1/N) sum_r p.grad_r`` for every parameter with a gradient (module docstring)."""
    if _on():
        _average([p.grad for p in parameters if p.grad is not None])


def average_on_step(optimizer: torch.optim.Optimizer):
    """Average the gradients of ``optimizer``'s parameters over the ranks just before each of its steps.

    The search step (nas/bilevel.py) sets the gradients of the alphas and of the weights and steps each
    optimiser; this hook makes every step use the ranks' mean gradient without changing that code.
    Returns the hook's handle (``.remove()``); nothing is registered for one process.
    """
    if not _on():
        return None

    def hook(opt, args, kwargs) -> None:
        average_gradients(p for group in opt.param_groups for p in group["params"])

    return optimizer.register_step_pre_hook(hook)


def average_buffers(model: torch.nn.Module) -> None:
    """Floating-point buffers (BN running mean and variance) averaged over the ranks, in place."""
    if _on():
        _average([b for b in model.buffers() if b.is_floating_point()])


def mean(values: Sequence[float]) -> list[float]:
    """Each value's mean over the ranks (float64); the values unchanged for one process."""
    if not _on():
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(t)
    return (t / dist.get_world_size()).tolist()


def all_gather(value) -> list:
    """Every rank's ``value`` (any picklable object), in rank order; ``[value]`` for one process."""
    if not _on():
        return [value]
    out: list = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def agree(flag: bool, what: str) -> bool:
    """``flag`` when every rank has the same; a ``ValueError`` naming ``what`` when they differ."""
    flags = all_gather(bool(flag))
    if len(set(flags)) > 1:
        raise ValueError(f"the ranks disagree on {what} (per rank: {flags}); the run folder must be on a "
                         "filesystem every node sees")  # fmt: skip
    return flag
