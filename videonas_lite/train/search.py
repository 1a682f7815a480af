"""The search loop: epochs of :func:`~videonas_lite.nas.bilevel.search_step`, a record and a checkpoint per epoch.

Notebook 05 teaches it (and writes its first epoch by hand). The papers' settings are the defaults of
:class:`SearchConfig`; the teaching recipe of the ``ci`` and ``default`` profiles changes only knobs
(``plan``, ``weight_lr``, ``arch_lr``, ``arch_weight_decay``, ``arch_schedule``, ``warmup_epochs``, ``draws``,
``cache``, ``short_side``), chosen by
the experiments of ``benchmarks/recipe.py`` (README, "A search that learns in class time").

Measuring. After every epoch both halves are scored on a *deterministic view*: every video once, TSN's
test sampling (segment centres) and a centre crop, in a fixed order (:func:`evaluate`). The network is
put in eval mode for it: the stem's BN uses its running averages; the search cells' BNs keep no running
statistics (nas/ops.py, as DARTS) and normalise with the statistics of the evaluation batch, so the
videos are visited in a fixed shuffled order (a batch of one class would lose its class signal to them), in
batches of ``EVAL_BATCH`` clips.

A run folder holds ``records.json`` (one entry per finished epoch: losses, accuracies, the alpha softmax
of every cell kind, the derived genotype and its share of parameter-free ops, so a notebook can replay
the search without running it) and ``checkpoint.pt`` (model, both optimisers, the schedule, the records),
both written atomically after each epoch. Every random draw of an epoch comes from ``(seed, epoch)``
(data order, clip sampling, augmentation), so a run resumed from its last checkpoint ends with the
same alphas and weights as an uninterrupted one. The epoch travels with the loaders' keys (data/epochs.py), so
DataLoader workers persist across epochs. A NaN or inf in a loss or an alpha stops the run with
:class:`SearchDiverged`; the checkpoint of the last good epoch stays.

Several processes (torchrun; train/distributed.py, README "Several GPUs or nodes: torchrun"): ``batch_size`` is
the global batch, each rank steps on its slice with the ranks' mean gradient (first order and one level; second
order is refused), the deterministic view is scored batch by batch across the ranks (the same batches, so the
same scores as one process), and rank 0 alone prints progress and writes the run folder.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from videonas_lite.data.datasets import VideoClipDataset, collate_clips
from videonas_lite.data.epochs import EpochBatches, ShardedBatches
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.splits import balanced_halves
from videonas_lite.data.transforms import eval_transform, train_transform
from videonas_lite.nas.bilevel import DIFFERENCES, ORDERS, search_step
from videonas_lite.nas.genotype import derive, parameter_free_share
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.nas.sharpness import dominant_eigenvalue, early_stop_epoch
from videonas_lite.profiles import Profile
from videonas_lite.train import distributed, runtime
from videonas_lite.train.optim import (
    ARCH_SCHEDULES,
    PAPERS,
    OptimConfig,
    arch_lr_at,
    make_optimizers,
    make_schedule,
    quarter_step_epochs,
)
from videonas_lite.train.runtime import atomic_write, load_checkpoint

EVAL_BATCH = 64  # clips per batch of the deterministic view (at least the training batch): no gradients kept,
# so larger batches cost less per clip, and the cells' batch-statistics BNs see more clips


class SearchDiverged(RuntimeError):
    """A loss or an alpha became NaN or inf."""


@dataclass(frozen=True)
class SearchConfig(runtime.OnDevice):
    """What a search run needs besides its data: the space, the update order, the budget."""

    space: str = "peng"  # "peng" or "pvnas"
    order: str = "first"  # "first", "second" or "one-level"
    schedule: str | None = None  # None: the paper's ("peng": cosine, "pvnas": step)
    epochs: int = 10
    batch_size: int = 8  # clips per step, all processes together (torchrun: batch_size / N each)
    channels: int = 4
    num_segments: int = 4
    frames_per_segment: int = 2
    crop_size: int = 56
    seed: int = 0
    r: float = 0.01
    difference: str = "central"  # the second order's finite difference: "central" (DARTS) or "forward"
    step_epochs: int | None = None  # step schedule's period (None: a quarter of the epochs, the paper's 20 of 80)
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    bf16: bool | None = None  # bf16 autocast (None: on CUDA only); the finite differences stay float32
    # the teaching recipe's knobs; these defaults are the papers' settings
    plan: str | None = None  # Peng's network, a letter per cell: "n" normal, "r" reduction (None: "nrr")
    weight_lr: float | None = None  # the weights' SGD learning rate (None: the paper's, train/optim.py)
    arch_lr: float | None = None  # the alphas' Adam learning rate (None: the paper's)
    arch_weight_decay: float | None = None  # the alphas' Adam L2 weight decay (None: the paper's)
    arch_schedule: str | None = None  # the alphas' lr: "constant" (None: both papers) or "cosine" (train/optim.py)
    warmup_epochs: int = 0  # epochs of weight steps only, the alphas frozen (PC-DARTS, P-DARTS practice)
    zero_op: bool = True  # False: Zero weighs 0 in every mixed edge (an experiment; both papers search with Zero)
    zero_into_node0: bool = True  # False: Zero weighs 0 on node 0's two edges, which are always kept (nas/networks.py)
    fix_edges_at: int | None = None  # from this epoch the cell's edges derived the epoch before are fixed (None: never)
    draws: int = 1  # TSN draws of every video per epoch
    steps_per_epoch: int | None = None  # at most this many steps an epoch (None: every batch of the halves)
    cache: bool = False  # decode every video once and keep its frames in memory
    short_side: int | None = None  # decode size (None: native)
    scale_jitter: tuple[int, int] | None = None  # PV-NAS's training-time short-side range
    split: int = 1  # which train list (UCF101 split 1-3)
    num_workers: int = 0  # DataLoader worker processes
    # the curvature of the alpha half's loss in the alphas (nas/sharpness.py; Zela et al. 2020)
    sharpness_clips: int = 0  # 0: off; N: the dominant Hessian eigenvalue on the view's first N clips, every epoch
    sharpness_iters: int = 10  # power iterations per epoch (warm-started from the last epoch's vector)
    early_stop: int | None = None  # DARTS-ES's k: stop when the eigenvalue rose by 1/0.75 within k epochs
    exclude_videos: tuple[str, ...] = ()  # videos the up-front check found bad, left out (data/check.py)

    def __post_init__(self):
        if self.space not in ("peng", "pvnas"):
            raise ValueError(f"space must be 'peng' or 'pvnas', got {self.space!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.arch_schedule not in (None, *ARCH_SCHEDULES):
            raise ValueError(f"arch_schedule must be None or one of {ARCH_SCHEDULES}, got {self.arch_schedule!r}")
        if self.difference not in DIFFERENCES:
            raise ValueError(f"difference must be one of {DIFFERENCES}, got {self.difference!r}")
        runtime.check_device(self.device)
        if self.plan is not None and (self.space != "peng" or not self.plan or set(self.plan) - {"n", "r"}):
            raise ValueError(f"plan is a string of 'n' and 'r' for the peng space, got {self.plan!r} ({self.space})")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        if not 0 <= self.warmup_epochs < self.epochs:
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs}")
        if self.fix_edges_at is not None and not self.warmup_epochs < self.fix_edges_at < self.epochs:
            raise ValueError(f"fix_edges_at must be None or in ({self.warmup_epochs}, {self.epochs}): after an epoch "
                             f"with the alphas moving and before the last, got {self.fix_edges_at!r}")  # fmt: skip
        if self.sharpness_clips < 0 or self.sharpness_iters < 1:
            raise ValueError(f"sharpness_clips must be >= 0 and sharpness_iters >= 1, got {self.sharpness_clips} "
                             f"and {self.sharpness_iters}")  # fmt: skip
        if self.early_stop is not None and (self.early_stop < 1 or not self.sharpness_clips):
            raise ValueError(f"early_stop (k epochs) must be >= 1 and needs sharpness_clips > 0, got "
                             f"early_stop={self.early_stop}, sharpness_clips={self.sharpness_clips}")  # fmt: skip
        if self.steps_per_epoch is not None and (not isinstance(self.steps_per_epoch, int) or self.steps_per_epoch < 1):
            raise ValueError(f"steps_per_epoch must be None or a positive integer, got {self.steps_per_epoch!r}")
        if self.draws < 1 or self.num_workers < 0:
            raise ValueError(f"draws must be >= 1 and num_workers >= 0, got {self.draws} and {self.num_workers}")
        object.__setattr__(self, "exclude_videos", runtime.video_list(self.exclude_videos))

    @classmethod
    def from_profile(cls, profile: Profile, space: str = "peng", order: str = "first", **overrides) -> SearchConfig:
        """The search a :class:`~videonas_lite.profiles.Profile` asks for (its epochs, batch, clip, recipe).

        The warm-up, and the step period where set, are shares of the profile's ``search_epochs``: a search of
        another length (an ``epochs`` override, or ``pvnas_search_epochs``) keeps them (rounded). A pvnas search
        takes the profile's ``pvnas_*`` fields where set (the ``paper`` profile: PV-NAS's 80 epochs, 32 clips;
        ``default``: 16 epochs); otherwise the batch is ``search_batch_size`` where set (``ci``: 32), else
        ``batch_size``. ``peng_zero_op`` reaches the peng space only (PV-NAS searches keep ``Zero``), and
        ``pvnas_zero_into_node0`` the pvnas space only.
        """
        pvnas = space == "pvnas"
        epochs = profile.pvnas_search_epochs if pvnas and profile.pvnas_search_epochs else profile.search_epochs
        # the warm-up and the step period are shares of the profile's search_epochs, kept for any other length
        share = epochs / profile.search_epochs
        warmup = min(round(profile.search_warmup_epochs * share), epochs - 1)
        step = profile.search_step_epochs and max(1, round(profile.search_step_epochs * share))
        settings = dict(
            space=space, order=order, epochs=epochs,
            batch_size=(profile.pvnas_batch_size if pvnas and profile.pvnas_batch_size
                        else profile.search_batch_size or profile.batch_size),
            channels=profile.peng_channels if space == "peng" else profile.pvnas_channels,
            num_segments=profile.num_segments, frames_per_segment=profile.frames_per_segment,
            crop_size=profile.crop_size, seed=profile.seed, device=profile.device,
            plan=profile.peng_plan if space == "peng" else None, weight_lr=profile.search_weight_lr,
            arch_lr=profile.pvnas_arch_lr if pvnas and profile.pvnas_arch_lr else profile.search_arch_lr,
            arch_weight_decay=profile.search_arch_weight_decay,
            arch_schedule=profile.pvnas_arch_schedule if pvnas else None,
            warmup_epochs=warmup, step_epochs=step, zero_op=profile.peng_zero_op if space == "peng" else True,
            zero_into_node0=profile.pvnas_zero_into_node0 if pvnas else True,
            draws=profile.search_draws, cache=profile.cache_clips, short_side=profile.decode_short_side,
            scale_jitter=profile.pvnas_scale_jitter if pvnas and profile.pvnas_scale_jitter else profile.scale_jitter,
            split=profile.split, num_workers=profile.num_workers,
        )  # fmt: skip
        if order == "one-level":  # both steps read the whole split, twice a half: as many steps with half the draws
            settings["draws"] = max(1, profile.search_draws // 2)
        settings.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("epochs") is not None and "warmup_epochs" not in overrides:
            share = profile.search_warmup_epochs / profile.search_epochs
            settings["warmup_epochs"] = min(round(share * settings["epochs"]), settings["epochs"] - 1)
        if overrides.get("epochs") is not None and overrides.get("step_epochs") is None and settings["step_epochs"]:
            period = profile.search_step_epochs / profile.search_epochs
            settings["step_epochs"] = max(1, round(period * settings["epochs"]))
        return cls(**settings)


@dataclass
class SearchData:
    """The search's loaders: one per half for the steps, one per half for the deterministic view (this rank's
    batches of it); ``alpha_view`` is the alpha half's whole view, for the curvature's first clips."""

    weight: DataLoader  # the weight half (the alphas' half too for one-level)
    alpha: DataLoader
    weight_eval: DataLoader
    alpha_eval: DataLoader
    dataset: VideoClipDataset
    halves: tuple[list[int], list[int]]
    num_classes: int
    alpha_view: DataLoader | None = None

    def start_epoch(self, epoch: int, seed: int | None = None) -> None:
        """Select ``epoch``'s draws: clip sampling and augmentation, and the order of both halves (from the
        configuration's seed; ``seed`` is accepted for earlier callers and must be that one)."""
        self.dataset.set_epoch(epoch)  # for a reader of the dataset outside the loaders
        for loader in (self.weight, self.alpha):
            if seed is not None and seed != loader.batch_sampler.seed:
                raise ValueError(f"start_epoch: seed {seed} differs from the loaders' {loader.batch_sampler.seed}")
            loader.batch_sampler.set_epoch(epoch)


def loader_options(num_workers: int, pin_memory: bool) -> dict:
    """The DataLoader settings both loops share: workers that persist across epochs (the epoch travels in
    the keys, data/epochs.py) with torch's default prefetch of 2 batches each, pinned memory for CUDA."""
    workers = dict(persistent_workers=True, prefetch_factor=2) if num_workers else {}
    return dict(collate_fn=collate_clips, num_workers=num_workers, pin_memory=pin_memory, **workers)


def search_data(config: SearchConfig, data_dir: str | os.PathLike,
                ranks: distributed.Ranks | None = None) -> SearchData:  # fmt: skip
    """The two halves of the training split (:func:`~videonas_lite.data.splits.balanced_halves`) as loaders.

    ``ranks`` (default: the process group's): each rank's slice of every global batch, and its share of the
    view's batches (data/epochs.py).
    """
    ranks = ranks or distributed.current()
    data_dir = Path(data_dir)
    common = dict(split=config.split, short_side=config.short_side, cache=config.cache,
                  exclude=runtime.excluded(config.exclude_videos))  # fmt: skip
    sampler = TSNSampler(config.num_segments, config.frames_per_segment)
    probe = VideoClipDataset.ucf101(data_dir, subset="train", split=config.split, exclude=common["exclude"])
    crop, jitter = config.crop_size, config.scale_jitter
    dataset = VideoClipDataset.ucf101(
        data_dir, subset="train", sampler=sampler, seed=config.seed, draws=config.draws,
        transform=train_transform(crop, jitter, hflip=probe.hflip_preserves_label), **common,
    )  # fmt: skip
    view = VideoClipDataset.ucf101(
        data_dir, subset="train", train=False, sampler=sampler,
        transform=eval_transform(crop, resize_short=None if jitter is None else jitter[0]), **common,
    )  # fmt: skip
    weight_half, alpha_half = (h.tolist() for h in balanced_halves(probe.labels(), [r.path for r in probe.records],
                                                                       config.seed))  # fmt: skip
    step_halves = (weight_half, alpha_half)
    if config.order == "one-level":  # PV-NAS trains both on the whole training set
        step_halves = (list(range(len(probe))), list(range(len(probe))))
    n = len(probe)

    options = loader_options(config.num_workers, config.torch_device().type == "cuda")
    # the DataLoader's own generator seeds only its workers' base seed (every draw is the keys'), kept off
    # the global torch generator
    steps = [
        DataLoader(dataset, batch_sampler=EpochBatches([i + d * n for d in range(config.draws) for i in h],
                                                       config.batch_size, config.seed, k, ranks.rank,
                                                       ranks.world_size),
                   generator=torch.Generator(), **options)
        for k, h in enumerate(step_halves)
    ]  # fmt: skip
    if min(map(len, steps)) == 0:
        raise ValueError(
            f"{data_dir}: batch size {config.batch_size} exceeds a half of the training set "
            f"({min(map(len, step_halves))} videos x {config.draws} draws); lower the batch size"
        )
    # a fixed shuffled order: the cells' BNs normalise with batch statistics, and a batch of one class (the
    # split lists are sorted by class) would have its class signal normalised away
    order = np.random.default_rng(config.seed)
    views = [order.permutation(h).tolist() for h in (weight_half, alpha_half)]
    eval_batch = max(config.batch_size, EVAL_BATCH)
    options.update(persistent_workers=False)  # read once an epoch; persistent, they would only hold memory

    def view_loader(indices: list[int], rank: int, world_size: int) -> DataLoader:
        return DataLoader(view, batch_sampler=ShardedBatches(indices, eval_batch, rank, world_size), **options)

    evals = [view_loader(v, ranks.rank, ranks.world_size) for v in views]
    whole = evals[1] if not ranks.distributed else view_loader(views[1], 0, 1)
    return SearchData(*steps, *evals, dataset, (weight_half, alpha_half), len(probe.classes), whole)


def build_search(config: SearchConfig, num_classes: int, device: torch.device):
    """``(search network, weights' SGD, alphas' Adam, the SGD's schedule)`` of a configuration, seeded."""
    torch.manual_seed(config.seed)
    if config.space == "peng":
        model = peng_search_net(num_classes, channels=config.channels, plan=config.plan or "nrr",
                                zero_op=config.zero_op, zero_into_node0=config.zero_into_node0)  # fmt: skip
    else:
        model = pvnas_search_net(num_classes, channels=config.channels, zero_op=config.zero_op,
                                 zero_into_node0=config.zero_into_node0)  # fmt: skip
    model = model.to(device)
    optim = search_optim(config)
    sgd, adam = make_optimizers(model, optim)
    return model, sgd, adam, make_schedule(sgd, optim, config.epochs)


def search_optim(config: SearchConfig) -> OptimConfig:
    """The optimisers' settings a search actually uses: the paper's (``train/optim.PAPERS``), every knob the
    configuration sets (not None) in their place, and the step schedule's period scaled to the epochs.
    Notebook 05 tabulates it against the paper's."""
    paper = PAPERS[config.space]
    step_epochs = config.step_epochs or quarter_step_epochs(config.epochs)
    knobs = (("schedule", config.schedule), ("step_epochs", step_epochs),
             ("weight_lr", config.weight_lr), ("arch_lr", config.arch_lr),
             ("arch_weight_decay", config.arch_weight_decay), ("arch_schedule", config.arch_schedule))  # fmt: skip
    overrides = {k: v for k, v in knobs if v is not None}
    return type(paper)(**{**asdict(paper), **overrides})


def describe_schedule(optim: OptimConfig, epochs: int) -> str:
    """The weights' learning-rate schedule in words, e.g. "cosine, 0.05 to 0.001 over 7 epochs" (notebook 05)."""
    if optim.schedule == "cosine":
        return f"cosine, {optim.weight_lr:g} to {optim.lr_min:g} over {epochs} epochs"
    if optim.schedule == "step":
        return f"step, {optim.weight_lr:g} x{optim.step_factor:g} every {optim.step_epochs} epochs"
    raise ValueError(f"schedule must be 'cosine' or 'step', got {optim.schedule!r}")


def _check_finite(losses: dict[str, float], model, epoch: int, step: int) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad or not all(torch.isfinite(a).all() for a in model.arch_parameters()):
        what = f"loss {bad}" if bad else "alphas"
        raise SearchDiverged(f"epoch {epoch}, step {step}: {what} not finite; the last good checkpoint is kept")


@torch.no_grad()
def evaluate(model: torch.nn.Module, loader: DataLoader) -> tuple[float, float]:
    """``(top-1 accuracy, mean cross-entropy)`` of the supernet over ``loader``, in eval mode.

    Eval mode: the stem's BN uses its running averages; the search cells' BNs have none and use the
    evaluation batch's statistics (module docstring). The mode the model was in is restored.
    Under torchrun with a :class:`~videonas_lite.data.epochs.ShardedBatches` loader every rank scores its
    batches and the per-batch sums are added in batch order on every rank: the numbers one process gets.
    """
    was_training = model.training
    model.eval()
    sums = []  # per batch: (correct, summed loss, clips)
    device = next(model.parameters()).device
    for clips, labels, *_ in loader:
        logits = model(clips.to(device)).float().cpu()
        loss = torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
        sums.append(((logits.argmax(dim=1) == labels).sum().item(), loss, len(labels)))
    model.train(was_training)
    sampler = loader.batch_sampler
    if isinstance(sampler, ShardedBatches) and sampler.world_size > 1:
        numbered = [kv for rank in distributed.all_gather(list(zip(sampler.numbers(), sums, strict=True)))
                    for kv in rank]  # fmt: skip
        sums = [s for _, s in sorted(numbered)]
    correct = total = 0
    loss = 0.0
    for hits, batch_loss, clips in sums:
        correct, loss, total = correct + hits, loss + batch_loss, total + clips
    return correct / total, loss / total


def sharpness_batches(loader: DataLoader, clips: int, device: torch.device) -> list[tuple]:
    """The first ``clips`` clips of a deterministic view, in batches as the view gives them (the last one cut)."""
    batches, taken = [], 0
    for x, y, *_ in loader:
        x, y = x[: clips - taken], y[: clips - taken]
        batches.append((x.to(device), y.to(device)))
        taken += len(y)
        if taken >= clips:
            break
    return batches


def _jsonable(record: dict) -> dict:
    """The record as it reads back from records.json (tuples become lists)."""
    return json.loads(json.dumps(record))


def run_search(
    config: SearchConfig,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Search for ``config.epochs`` epochs (or continue a run in ``out_dir`` when ``resume``); returns the records.

    ``on_step(epoch, step)`` is called after every step, ``on_epoch(record)`` after every epoch's checkpoint.
    With ``config.sharpness_clips`` each record has ``sharpness`` (the dominant eigenvalue of the Hessian of the
    loss on the alpha half's first clips in the alphas; for one level that half is training data too); with
    ``config.early_stop`` the run ends at the epoch where DARTS-ES fires, whose record gets ``early_stop``:
    ``{"epoch": i, "chosen_epoch": i - k}`` (:func:`~videonas_lite.nas.genotype.from_run` then derives that one).

    Under torchrun (train/distributed.py) every rank runs this with the same arguments: the step losses are
    the ranks' mean, rank 0 alone shows progress and writes the run folder, every rank resumes from it.
    """
    ranks = distributed.current()
    if ranks.distributed and config.order == "second":
        raise ValueError(f"order 'second' under torchrun ({ranks.world_size} processes) is not supported: its "
                         "virtual step and finite differences would each need the ranks' mean gradient; use "
                         "--order first or one-level, or one process")  # fmt: skip
    progress = progress and ranks.main
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = search_data(config, data_dir, ranks)
    train_loader, val_loader = data.weight, data.alpha
    device = config.torch_device()
    runtime.prepare(device)
    model, sgd, adam, schedule = build_search(config, data.num_classes, device)
    optim = search_optim(config)
    for optimizer in (sgd, adam):  # every step takes the ranks' mean gradient (nothing for one process)
        distributed.average_on_step(optimizer)
    records, start, direction = [], 0, None
    ckpt = out / "checkpoint.pt"
    if resume and distributed.agree(ckpt.is_file(), f"whether {ckpt} exists"):
        state = load_checkpoint(ckpt, "search", ("config", "model", "sgd", "adam", "schedule", "records", "epoch"),
                                device)  # fmt: skip
        if runtime.saved_config(state["config"], config) != asdict(config):
            raise ValueError(f"{ckpt}: saved with a different configuration {state['config']}")
        for obj, key in ((model, "model"), (sgd, "sgd"), (adam, "adam"), (schedule, "schedule")):
            obj.load_state_dict(state[key])
        records, start = json.loads(state["records"]), state["epoch"] + 1
        direction = state.get("direction")  # the power iteration's last vector: a resumed run measures the same
        if records and "early_stop" in records[-1]:
            return records
    curvature = sharpness_batches(data.alpha_view, config.sharpness_clips, device) if config.sharpness_clips else []
    for epoch in range(start, config.epochs):
        data.start_epoch(epoch)
        warm = epoch < config.warmup_epochs  # weights only: the alphas wait for trained weights
        arch_lr = arch_lr_at(optim, epoch, config.warmup_epochs, config.epochs)  # a function of the epoch: resumable
        if config.fix_edges_at is not None and epoch >= config.fix_edges_at:  # from the records: resumable too
            model.fix_edges(records[config.fix_edges_at - 1]["genotype"])
        for group in adam.param_groups:
            group["lr"] = arch_lr
        sums: dict[str, float] = {}
        n = min(len(train_loader), len(val_loader), config.steps_per_epoch or len(train_loader))
        batches = itertools.islice(zip(train_loader, val_loader, strict=False), n)
        for step, (train, val) in enumerate(tqdm(batches, total=n, desc=f"epoch {epoch}", disable=not progress)):
            train, val = (tuple(t.to(device, non_blocking=True) for t in b[:2]) for b in (train, val))
            with config.autocast(device):
                losses = search_step(model, config.order, train, val, sgd, adam, config.r,
                                     difference=config.difference, arch_step=not warm)  # fmt: skip
            losses = dict(zip(losses, distributed.mean(list(losses.values())), strict=True))  # every rank's mean
            _check_finite(losses, model, epoch, step)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value / n
            if on_step is not None:
                on_step(epoch, step)
        lr = sgd.param_groups[0]["lr"]
        schedule.step()
        distributed.average_buffers(model)  # the stem BN's running averages, kept per rank during the epoch
        metrics = {}
        for name, loader in (("train", data.weight_eval), ("val", data.alpha_eval)):
            metrics[f"{name}_acc"], metrics[f"{name}_eval_loss"] = evaluate(model, loader)
        if curvature:
            lam, direction, iters = dominant_eigenvalue(model, curvature, config.sharpness_iters, v0=direction,
                                                        seed=config.seed)  # fmt: skip
            metrics["sharpness"] = {"eigenvalue": lam, "iterations": iters, "clips": config.sharpness_clips}
        genotype = derive(model)
        records.append(_jsonable({
            "epoch": epoch, **{f"{k}_loss": v for k, v in sums.items()}, **metrics,
            "classes": data.num_classes, "lr": lr, "arch_lr": arch_lr, "alphas_frozen": warm,
            "alpha_softmax": {k: w.tolist() for k, w in model.op_weights().items()},
            "genotype": genotype.to_record(), "parameter_free_share": parameter_free_share(genotype),
            **({"edges_fixed": model.kept_edges is not None} if config.fix_edges_at is not None else {}),
        }))  # fmt: skip
        stop = None
        if config.early_stop is not None:
            stop = early_stop_epoch([r["sharpness"]["eigenvalue"] for r in records], config.early_stop,
                                    first=config.warmup_epochs)  # fmt: skip
            if stop is not None:
                records[-1]["early_stop"] = {"epoch": stop[0], "chosen_epoch": stop[1], "k": config.early_stop}
        state = {
            "config": asdict(config), "epoch": epoch, "records": json.dumps(records),
            "model": model.state_dict(), "sgd": sgd.state_dict(), "adam": adam.state_dict(),
            "schedule": schedule.state_dict(), "direction": direction,
        }  # fmt: skip
        if ranks.main:
            atomic_write(ckpt, lambda p, s=state: torch.save(s, p))
            atomic_write(out / "records.json", lambda p: p.write_text(json.dumps(records, indent=1)))
        if on_epoch is not None:
            on_epoch(records[-1])
        if stop is not None:
            break
    return records
