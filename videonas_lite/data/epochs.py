"""Which items a process reads, batch by batch: the epoch, the order and the rank travel with the keys.

Used by the search (train/search.py, notebook 05) and the retraining (train/retrain.py, notebook 07); README,
"Several GPUs or nodes: torchrun".

:class:`EpochBatches` (training) yields, for the epoch set by :meth:`EpochBatches.set_epoch`, batches of
``(epoch, index)`` keys. :class:`~videonas_lite.data.datasets.VideoClipDataset` draws item ``(epoch, index)``
from ``(seed, epoch, index)``, exactly as ``set_epoch(epoch)`` followed by item ``index`` does, so the epoch
reaches DataLoader workers inside every key: ``persistent_workers=True`` keeps its workers across epochs and
still draws each epoch's clips (the sampler itself runs in the main process).

The order is the rule the loaders used before this module, kept so that earlier runs keep their numbers: a
``torch.Generator`` seeded with ``seed * 1_000_003 + 2 * epoch + stream`` (``stream``: 0 for the weight half,
1 for the alpha half), one int64 drawn from it (what ``DataLoader`` drew for its workers' base seed), then
``torch.randperm`` of the positions; consecutive runs of ``batch_size`` positions are the batches, the last
incomplete one dropped.

Ranks (torchrun, train/distributed.py). ``batch_size`` is the *global* batch: every rank computes the same
permutation and takes its slice of each global batch, positions ``[r * b / N, (r + 1) * b / N)`` for rank
``r`` of ``N`` with ``b / N`` clips each; ``b`` must be a multiple of ``N``. The global batches, and the
number of steps of an epoch, are the same for any number of processes.

:class:`ShardedBatches` (evaluation) deals a fixed sequence of batches round robin: rank ``r`` reads batches
``r, r + N, r + 2N, ...``, each exactly the batch one process would read, so a view's batch statistics
(the search cells' BNs normalise with them) and hence the scores are those of one process.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

__all__ = ["EpochBatches", "ShardedBatches", "epoch_order"]

Key = tuple[int, int]


def _check_rank(rank: int, world_size: int) -> None:
    if not (isinstance(world_size, int) and world_size >= 1 and isinstance(rank, int) and 0 <= rank < world_size):
        raise ValueError(f"rank must be in [0, world_size) with world_size >= 1, got rank={rank!r}, "
                         f"world_size={world_size!r}")  # fmt: skip


def epoch_order(n: int, seed: int, epoch: int, stream: int = 0) -> list[int]:
    """The shuffled positions ``0..n-1`` of ``epoch`` (module docstring: the loaders' earlier rule, kept)."""
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + 2 * epoch + stream)
    torch.empty((), dtype=torch.int64).random_(generator=generator)  # the draw DataLoader took for its workers
    return torch.randperm(n, generator=generator).tolist()


class EpochBatches(Sampler[list[Key]]):
    """Batches of ``(epoch, indices[p])`` keys: the epoch's shuffled global batches, this rank's slice of each.

    ``batch_size`` is the global batch (module docstring); ``len()`` is the number of steps of an epoch.
    """

    def __init__(self, indices: Sequence[int], batch_size: int, seed: int, stream: int = 0, rank: int = 0,
                 world_size: int = 1):  # fmt: skip
        _check_rank(rank, world_size)
        if not isinstance(batch_size, int) or batch_size < 1 or batch_size % world_size:
            raise ValueError(f"batch_size must be a positive multiple of the {world_size} process(es) (each takes "
                             f"batch_size / {world_size} clips of every batch), got {batch_size!r}")  # fmt: skip
        self.indices = [int(i) for i in indices]
        self.batch_size, self.seed, self.stream = batch_size, seed, stream
        self.rank, self.world_size = rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order and draws the next iteration yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.indices) // self.batch_size

    def __iter__(self) -> Iterator[list[Key]]:
        order = epoch_order(len(self.indices), self.seed, self.epoch, self.stream)
        share = self.batch_size // self.world_size
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            mine = order[start + self.rank * share : start + (self.rank + 1) * share]
            yield [(self.epoch, self.indices[p]) for p in mine]


class ShardedBatches(Sampler[list[int]]):
    """The batches of ``indices`` in their order (``batch_size`` each, the last one shorter), dealt to ranks
    round robin: rank ``r`` of ``N`` reads batches ``r, r + N, ...`` (module docstring)."""

    def __init__(self, indices: Sequence[int], batch_size: int, rank: int = 0, world_size: int = 1):
        _check_rank(rank, world_size)
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.indices, self.batch_size = [int(i) for i in indices], batch_size
        self.rank, self.world_size = rank, world_size

    def batches(self) -> list[list[int]]:
        """Every batch, in order, whichever rank reads it."""
        return [self.indices[s : s + self.batch_size] for s in range(0, len(self.indices), self.batch_size)]

    def numbers(self) -> range:
        """The positions in :meth:`batches` of the batches this rank reads."""
        return range(self.rank, len(self.batches()), self.world_size)

    def __len__(self) -> int:
        return len(self.numbers())

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.batches()
        return iter([batches[k] for k in self.numbers()])
