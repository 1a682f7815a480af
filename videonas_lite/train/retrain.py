"""Retraining the derived network from scratch (Peng Sec. 3; PV-NAS Sec. 4.2.2). Taught by notebook 07.

(About 330 lines: the configuration with both papers' recipes, the data, the schedule and the resumable loop
are one concept; the loop's shape follows train/search.py's so that a reader meets it once.)

The architecture is a genotype (its derived network) or the name of a hand-designed network of
:data:`~videonas_lite.nas.baselines.BASELINES` (Peng Table 2's contenders, trained with the same recipe).

The papers' recipes are the defaults of :class:`RetrainConfig` (``None`` = the paper of ``space``):

* Peng: SGD, momentum 0.9, weight decay 3e-4, lr 0.025 "decreased by a cosine function w.r.t. iteration steps",
  600 epochs, mini-batch 72; the network of :func:`~videonas_lite.nas.derived.derived_net` (depth 6, 8 channels).
* PV-NAS (UCF101): SGD, momentum 0.9, weight decay 1e-4, base lr 0.01 per GPU of 8 clips, cosine after 16
  warm-up epochs of 128, drop-path 0.1, dropout 0.4. One GPU's share: batch 8 at lr 0.01.

The learning rate moves every step: a linear warm-up from ``lr / warmup_steps`` to ``lr`` over the warm-up
epochs, then a cosine from ``lr`` to ``lr_min`` (DARTS retrains to 0). Data: the whole training split, TSN
sampling (``draws`` clips of every video per epoch) and the training augmentation; every epoch ends with the
clip-level accuracy on the test split (one centred clip, centre crop: Peng's protocol, :func:`evaluate` of
train/search.py; eval mode, so the BNs use their running statistics). train/evaluate.py scores a finished run.

A run folder holds ``genotype.json`` (a genotype's run), ``records.json`` (per epoch: train loss and accuracy,
test loss and accuracy, the lr of its first step, wall seconds) and ``checkpoint.pt`` (model, optimiser,
schedule, records, config, architecture), written atomically after every epoch. Every random draw of an epoch
(data order, sampling, augmentation, drop-path, dropout) is seeded from ``(seed, epoch)``, so a run resumed
from its checkpoint ends bit-identical to an uninterrupted one. The epoch travels with the training loader's
keys (data/epochs.py), so its DataLoader workers persist across epochs. A non-finite loss stops the run with
:class:`RetrainDiverged` before any step on it; the checkpoint of the last good epoch stays.

Several processes (torchrun; train/distributed.py, README "Several GPUs or nodes: torchrun"): ``batch_size`` is
the global batch, each rank steps on its slice with the ranks' mean gradient (averaged before the clipping),
drop-path and dropout draw per rank (rank 0 the draws of one process), the test split is scored batch by batch
across the ranks, and rank 0 alone prints progress and writes the run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.epochs import EpochBatches, ShardedBatches
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.transforms import eval_transform, train_transform
from videonas_lite.nas.baselines import build_baseline
from videonas_lite.nas.derived import PAPER_NETWORKS, derived_net
from videonas_lite.nas.genotype import Genotype
from videonas_lite.profiles import Profile
from videonas_lite.train import distributed, runtime
from videonas_lite.train.runtime import atomic_write, load_checkpoint
from videonas_lite.train.search import evaluate, loader_options

__all__ = [
    "PAPER_RECIPES", "RetrainConfig", "RetrainData", "RetrainDiverged", "build_model", "load_run", "lr_schedule",
    "retrain_data", "run_retrain", "train_step",
]  # fmt: skip

PAPER_RECIPES: dict[str, dict[str, float | int]] = {
    "peng": dict(epochs=600, batch_size=72, lr=0.025, weight_decay=3e-4, warmup_epochs=0),
    "pvnas": dict(epochs=128, batch_size=8, lr=0.01, weight_decay=1e-4, warmup_epochs=16),
}
"""Each paper's retraining (module docstring); the network's settings are nas/derived.py's PAPER_NETWORKS."""


class RetrainDiverged(RuntimeError):
    """A training loss became NaN or inf."""


@dataclass(frozen=True)
class RetrainConfig(runtime.OnDevice):
    """A retraining run: the recipe (``None``: the paper of ``space``), the network, the data, the machine."""

    space: str = "peng"  # the genotype's search space: "peng" or "pvnas"; picks the paper's recipe
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    lr_min: float = 0.0  # the cosine's floor
    grad_clip: float | None = None  # max gradient norm (the papers clip none)
    channels: int | None = None  # initial channels (Peng 8, PV-NAS-L 64)
    layers: int | None = None  # Peng: depth (6)
    k: int | None = None  # PV-NAS: normal cells between reductions (1 light, 2 medium)
    drop_path: float | None = None
    dropout: float | None = None
    # data: Peng's clip (Ns = 4 segments x Nr = 2 frames, 112 x 112)
    num_segments: int = 4
    frames_per_segment: int = 2
    crop_size: int = 112
    short_side: int | None = None  # decode size (None: native)
    scale_jitter: tuple[int, int] | None = None  # PV-NAS's training short-side range
    cache: bool = False  # decode every video once, keep its frames in memory
    draws: int = 1  # TSN draws of every video per epoch
    split: int = 1
    num_workers: int = 0
    seed: int = 0
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    bf16: bool | None = None  # bf16 autocast (None: on CUDA only)
    exclude_videos: tuple[str, ...] = ()  # videos the up-front check found bad, left out (data/check.py)

    def __post_init__(self):
        object.__setattr__(self, "exclude_videos", runtime.video_list(self.exclude_videos))
        if self.space not in PAPER_RECIPES:
            raise ValueError(f"space must be 'peng' or 'pvnas', got {self.space!r}")
        paper = {**PAPER_RECIPES[self.space], **PAPER_NETWORKS[self.space]}
        for name, value in paper.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for name in ("epochs", "batch_size", "channels", "draws", "num_segments", "frames_per_segment", "crop_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (isinstance(self.warmup_epochs, int) and 0 <= self.warmup_epochs < self.epochs):
            raise ValueError(f"warmup_epochs must be in [0, epochs={self.epochs}), got {self.warmup_epochs!r}")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"expected lr > 0, weight_decay >= 0, 0 <= lr_min <= lr; got lr={self.lr}, "
                             f"weight_decay={self.weight_decay}, lr_min={self.lr_min}")  # fmt: skip
        runtime.check_device(self.device)
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")

    @classmethod
    def from_profile(cls, profile: Profile, space: str = "peng", **overrides) -> RetrainConfig:
        """The profile's data, batch, seed, device and ``retrain_*`` fields; the rest the paper's, unless overridden.

        ``overrides`` are fields of this class; ``None`` values are ignored. An ``epochs`` override without a
        ``warmup_epochs`` keeps the paper's warm-up as the same share of the epochs (PV-NAS 16 of 128, rounded).
        A pvnas run takes the profile's ``pvnas_retrain_*`` fields where set (the ``paper`` profile: PV-NAS's 8 clips
        per batch and [128, 256] scale jitter on UCF-101).
        """
        pvnas = space == "pvnas"
        batch, jitter = profile.batch_size, profile.scale_jitter
        if pvnas and profile.pvnas_retrain_batch_size:
            batch = profile.pvnas_retrain_batch_size
        if pvnas and profile.pvnas_retrain_scale_jitter:
            jitter = profile.pvnas_retrain_scale_jitter
        settings = dict(
            space=space, batch_size=batch, num_segments=profile.num_segments,
            frames_per_segment=profile.frames_per_segment, crop_size=profile.crop_size,
            short_side=profile.decode_short_side, scale_jitter=jitter, cache=profile.cache_clips,
            draws=profile.search_draws, split=profile.split, num_workers=profile.num_workers, seed=profile.seed,
            device=profile.device,
        )  # fmt: skip
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise ValueError(f"unknown retrain setting(s) {unknown}; known: {sorted(fields)}")
        recipe = dict(epochs=profile.retrain_epochs, lr=profile.retrain_lr, warmup_epochs=profile.retrain_warmup_epochs,
                      channels=profile.retrain_channels, drop_path=profile.retrain_drop_path,
                      dropout=profile.retrain_dropout)  # fmt: skip
        overrides = {**{k: v for k, v in recipe.items() if v is not None},
                     **{k: v for k, v in overrides.items() if v is not None}}  # fmt: skip
        settings.update(overrides)
        if overrides.get("epochs") is not None and overrides.get("warmup_epochs") is None:
            paper = PAPER_RECIPES[space]
            share = round(paper["warmup_epochs"] / paper["epochs"] * settings["epochs"])
            settings["warmup_epochs"] = max(0, min(share, settings["epochs"] - 1))
        return cls(**settings)


@dataclass
class RetrainData:
    """The whole training split (random TSN clips, augmented) and the test split (one centred clip per video)."""

    train: DataLoader
    test: DataLoader
    classes: list[str]

    def start_epoch(self, epoch: int, seed: int) -> None:
        """Select ``epoch``'s draws: clip sampling, augmentation, data order, drop-path and dropout.

        ``seed`` must be the configuration's (the loader's order is seeded with it). Drop-path and dropout
        draw from torch's generator, seeded per epoch and, under torchrun, per rank (rank 0: one process's).
        """
        batches = self.train.batch_sampler
        if seed != batches.seed:
            raise ValueError(f"start_epoch: seed {seed} differs from the loader's {batches.seed}")
        self.train.dataset.set_epoch(epoch)  # for a reader of the dataset outside the loader
        batches.set_epoch(epoch)
        torch.manual_seed(seed * 1_000_003 + 2 * epoch + 1 + batches.rank * 2**40)


def retrain_data(config: RetrainConfig, data_dir: str | os.PathLike,
                 ranks: distributed.Ranks | None = None) -> RetrainData:  # fmt: skip
    """The loaders of a retraining run on a UCF101-layout folder (the embedded dataset's layout too).

    ``ranks`` (default: the process group's): each rank's slice of every global batch and its share of the
    test batches (data/epochs.py).
    """
    ranks = ranks or distributed.current()
    sampler = TSNSampler(config.num_segments, config.frames_per_segment)
    common = dict(split=config.split, sampler=sampler, short_side=config.short_side, cache=config.cache,
                  exclude=runtime.excluded(config.exclude_videos))  # fmt: skip
    train = VideoClipDataset.ucf101(data_dir, subset="train", seed=config.seed, draws=config.draws, **common)
    train.transform = train_transform(config.crop_size, config.scale_jitter, hflip=train.hflip_preserves_label)
    resize = None if config.scale_jitter is None else config.scale_jitter[0]
    test = VideoClipDataset.ucf101(data_dir, subset="test", transform=eval_transform(config.crop_size, resize),
                                   **common)  # fmt: skip
    options = loader_options(config.num_workers, config.torch_device().type == "cuda")
    batches = EpochBatches(range(len(train)), config.batch_size, config.seed, 0, ranks.rank, ranks.world_size)
    # the DataLoader's own generator seeds only its workers' base seed, kept off torch's global generator
    train_loader = DataLoader(train, batch_sampler=batches, generator=torch.Generator(), **options)
    if len(train_loader) == 0:
        raise ValueError(f"{data_dir}: batch size {config.batch_size} exceeds the training split "
                         f"({len(train.records)} videos x {config.draws} draws); lower the batch size")  # fmt: skip
    options.update(persistent_workers=False)  # read once an epoch; persistent, they would only hold memory
    tests = ShardedBatches(range(len(test)), config.batch_size, ranks.rank, ranks.world_size)
    return RetrainData(train_loader, DataLoader(test, batch_sampler=tests, **options), train.classes)


def build_model(config: RetrainConfig, architecture: Genotype | str, num_classes: int) -> torch.nn.Module:
    """Seeded: a genotype's derived network with the configuration's width, depth, drop-path and dropout, or the
    hand-designed network of that name (:func:`~videonas_lite.nas.baselines.build_baseline`, its own sizes)."""
    if isinstance(architecture, str):
        torch.manual_seed(config.seed)
        return build_baseline(architecture, num_classes)
    genotype = architecture
    if genotype.space != config.space:
        raise ValueError(f"genotype: space {genotype.space!r}, but the retrain configuration is for {config.space!r}")
    torch.manual_seed(config.seed)
    return derived_net(
        genotype, num_classes, channels=config.channels, layers=config.layers if config.space == "peng" else None,
        k=config.k if config.space == "pvnas" else None, drop_path=config.drop_path, dropout=config.dropout,
    )  # fmt: skip


def lr_schedule(optimizer: torch.optim.Optimizer, config: RetrainConfig, steps_per_epoch: int):
    """Per step: linear warm-up over ``warmup_epochs``, then cosine to ``lr_min`` (PV-NAS; Peng without warm-up)."""
    warm, total = config.warmup_epochs * steps_per_epoch, config.epochs * steps_per_epoch
    floor = config.lr_min / config.lr

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_step(model, clips, labels, optimizer, config: RetrainConfig, device) -> tuple[float, int]:
    """One SGD step on a batch: ``(loss, correct predictions)``; a non-finite loss is returned untouched, unstepped.

    Under torchrun the loss is the ranks' mean and the step takes their mean gradient; the predictions are
    this rank's.
    """
    with config.autocast(device):
        logits = model(clips)
    loss = F.cross_entropy(logits.float(), labels)
    (value,) = distributed.mean([loss.item()])  # torchrun: the ranks' mean, so all of them stop together
    if not math.isfinite(value):
        return value, 0
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model.parameters())  # torchrun: the ranks' mean gradient, before the clipping
    if config.grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return value, int((logits.argmax(dim=1) == labels).sum())


def _saved_architecture(state: dict, where: str) -> Genotype | str:
    """A checkpoint's genotype, or its hand-designed network's name."""
    return state["architecture"] if state["genotype"] is None else Genotype.from_dict(state["genotype"], where)


def load_run(run: str | os.PathLike, device: str | torch.device = "cpu"):
    """``(model, config, genotype, checkpoint)`` of a retraining run; the model has the last epoch's weights.

    ``genotype`` is ``None`` for a hand-designed network's run (``checkpoint["architecture"]`` names it).
    """
    path = Path(run) / "checkpoint.pt"
    if not path.is_file():
        raise ValueError(f"{path}: not found; expected a retraining run folder (videonas retrain --out RUN)")
    try:
        state = torch.load(path, weights_only=True, map_location=device)
        config = RetrainConfig(**state["config"])
        architecture = _saved_architecture(state, f"{path}: genotype")
        genotype = architecture if isinstance(architecture, Genotype) else None
        model = build_model(config, architecture, len(state["classes"]))
        model.load_state_dict(state["model"])
    except Exception as err:  # torch.load and a foreign state dict raise many kinds; all mean the same here
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a checkpoint of a retraining run ({first})") from None
    return model.to(device), config, genotype, state


def run_retrain(
    config: RetrainConfig,
    architecture: Genotype | str,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Retrain for ``config.epochs`` epochs (or continue the run in ``out_dir`` when ``resume``); returns the records.

    ``architecture``: a genotype or a name of :data:`~videonas_lite.nas.baselines.BASELINES`. Without ``resume`` a
    folder that already holds a checkpoint is refused. ``on_step(epoch, step)`` runs after every step.

    Under torchrun (train/distributed.py) every rank runs this with the same arguments: rank 0 alone shows
    progress and writes the run folder, every rank resumes from it.
    """
    ranks = distributed.current()
    progress = progress and ranks.main
    genotype = architecture if isinstance(architecture, Genotype) else None
    out, device = Path(out_dir), config.torch_device()
    runtime.prepare(device)
    ckpt = out / "checkpoint.pt"
    found = distributed.agree(ckpt.is_file(), f"whether {ckpt} exists")
    if found and not resume:
        raise ValueError(f"{out}: already holds a retraining checkpoint; resume it or choose another folder")
    data = retrain_data(config, data_dir, ranks)
    model = build_model(config, architecture, len(data.classes)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)  # fmt: skip
    schedule = lr_schedule(optimizer, config, len(data.train))
    records, start = [], 0
    if resume and found:
        state = load_checkpoint(ckpt, "retraining", ("config", "model", "optimizer", "schedule", "records", "epoch"),
                                device)  # fmt: skip
        saved = runtime.saved_config(state["config"], config)
        changed = sorted(k for k, v in asdict(config).items() if saved.get(k) != v)
        if changed:
            raise ValueError(f"{ckpt}: saved with another configuration ({', '.join(changed)} differ)")
        saved = _saved_architecture(state, str(ckpt))
        if saved != architecture:
            both = isinstance(saved, Genotype) and genotype is not None
            raise ValueError(f"{ckpt}: saved with another {'genotype' if both else 'architecture'}")
        for obj, key in ((model, "model"), (optimizer, "optimizer"), (schedule, "schedule")):
            obj.load_state_dict(state[key])
        records, start = json.loads(state["records"]), state["epoch"] + 1
    out.mkdir(parents=True, exist_ok=True)
    if genotype is not None and ranks.main:
        atomic_write(out / "genotype.json", lambda p: p.write_text(genotype.to_json()))
    for epoch in range(start, config.epochs):
        began = time.perf_counter()
        data.start_epoch(epoch, config.seed)
        model.train()
        lr, loss_sum, correct, seen = optimizer.param_groups[0]["lr"], 0.0, 0, 0
        batches = tqdm(data.train, desc=f"retrain epoch {epoch}", disable=not progress, leave=False)
        for step, batch in enumerate(batches):
            if batch is None:  # every video of the batch was skipped (on_bad_video="skip")
                continue
            clips, labels = (t.to(device, non_blocking=True) for t in batch[:2])
            loss, hits = train_step(model, clips, labels, optimizer, config, device)
            if not math.isfinite(loss):
                kept = f"the checkpoint of epoch {epoch - 1} is kept" if epoch else "no epoch had finished"
                raise RetrainDiverged(f"epoch {epoch}, step {step}: training loss {loss}; {kept}")
            schedule.step()
            loss_sum, correct, seen = loss_sum + loss * len(labels), correct + hits, seen + len(labels)
            if on_step is not None:
                on_step(epoch, step)
        distributed.average_buffers(model)  # BN running averages, kept per rank during the epoch
        test_acc, test_loss = evaluate(model, data.test)
        if ranks.distributed:  # sums over every rank's clips (each step's loss is already the ranks' mean)
            loss_sum, correct, seen = (v * ranks.world_size for v in distributed.mean([loss_sum, correct, seen]))
            correct, seen = round(correct), round(seen)
        records.append({
            "epoch": epoch, "train_loss": loss_sum / seen, "train_acc": correct / seen, "test_loss": test_loss,
            "test_acc": test_acc, "lr": lr, "seconds": time.perf_counter() - began, "classes": len(data.classes),
        })  # fmt: skip
        state = {
            "config": asdict(config), "genotype": None if genotype is None else genotype.to_dict(),
            "architecture": architecture if genotype is None else None,
            "classes": data.classes, "data": str(data_dir),
            "epoch": epoch, "records": json.dumps(records), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
        }  # fmt: skip
        if ranks.main:
            atomic_write(ckpt, lambda p, s=state: torch.save(s, p))
            atomic_write(out / "records.json", lambda p: p.write_text(json.dumps(records, indent=1)))
    return records
