"""The search loop: epochs of :func:`~videonas_lite.nas.bilevel.search_step`, a record and a checkpoint per epoch.

A run folder holds ``records.json`` (one entry per finished epoch: losses, accuracies, the alpha softmax
of every cell kind, the derived genotype and its share of parameter-free ops, so a notebook can replay
the search without running it) and ``checkpoint.pt`` (model, both optimisers, the schedule, the records),
both written atomically after each epoch. Every random draw of an epoch comes from ``(seed, epoch)``
(data order, clip sampling, augmentation), so a run resumed from its last checkpoint ends with the
same alphas and weights as an uninterrupted one. A NaN or inf in a loss or an alpha stops the run with
:class:`SearchDiverged`; the checkpoint of the last good epoch stays.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from videonas_lite.data.datasets import VideoClipDataset, collate_clips
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.splits import balanced_halves
from videonas_lite.data.transforms import train_transform
from videonas_lite.nas.bilevel import DIFFERENCES, ORDERS, search_step
from videonas_lite.nas.genotype import derive, parameter_free_share
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.profiles import Profile
from videonas_lite.train.optim import PAPERS, make_optimizers, make_schedule


class SearchDiverged(RuntimeError):
    """A loss or an alpha became NaN or inf."""


@dataclass(frozen=True)
class SearchConfig:
    """What a search run needs besides its data: the space, the update order, the budget."""

    space: str = "peng"  # "peng" or "pvnas"
    order: str = "first"  # "first", "second" or "one-level"
    schedule: str | None = None  # None: the paper's ("peng": cosine, "pvnas": step)
    epochs: int = 10
    batch_size: int = 8
    channels: int = 4
    num_segments: int = 4
    frames_per_segment: int = 2
    crop_size: int = 56
    seed: int = 0
    r: float = 0.01
    difference: str = "central"  # the second order's finite difference: "central" (DARTS) or "forward"
    step_epochs: int | None = None  # step schedule's period (None: the paper's 20)
    device: str = "cpu"  # "cpu", "cuda" or "auto"
    bf16: bool | None = None  # bf16 autocast (None: on CUDA only); the finite differences stay float32

    def __post_init__(self):
        if self.space not in ("peng", "pvnas"):
            raise ValueError(f"space must be 'peng' or 'pvnas', got {self.space!r}")
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.difference not in DIFFERENCES:
            raise ValueError(f"difference must be one of {DIFFERENCES}, got {self.difference!r}")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {self.device!r}")

    @classmethod
    def from_profile(cls, profile: Profile, space: str = "peng", order: str = "first", **overrides) -> SearchConfig:
        """The search a :class:`~videonas_lite.profiles.Profile` asks for (its epochs, batch, clip, channels)."""
        settings = dict(
            space=space, order=order, epochs=profile.search_epochs, batch_size=profile.batch_size,
            channels=profile.peng_channels if space == "peng" else profile.pvnas_channels,
            num_segments=profile.num_segments, frames_per_segment=profile.frames_per_segment,
            crop_size=profile.crop_size, seed=profile.seed, device=profile.device,
        )  # fmt: skip
        return cls(**{**settings, **{k: v for k, v in overrides.items() if v is not None}})

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' asked for, but torch sees no CUDA GPU; use device='cpu' or 'auto'")
        return torch.device(self.device)

    def autocast(self, device: torch.device):
        """bf16 autocast on CUDA (unless ``bf16=False``), float32 elsewhere (unless ``bf16=True``)."""
        on = device.type == "cuda" if self.bf16 is None else self.bf16
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _loaders(config: SearchConfig, data_dir: Path) -> tuple[VideoClipDataset, DataLoader, DataLoader, int]:
    probe = VideoClipDataset.ucf101(data_dir, subset="train")
    dataset = VideoClipDataset.ucf101(
        data_dir,
        subset="train",
        sampler=TSNSampler(config.num_segments, config.frames_per_segment),
        transform=train_transform(config.crop_size, hflip=probe.hflip_preserves_label),
        seed=config.seed,
    )
    halves = balanced_halves(dataset.labels(), [r.path for r in dataset.records], config.seed)
    if config.order == "one-level":  # PV-NAS trains both on the whole training set
        halves = (list(range(len(dataset))), list(range(len(dataset))))
    gen = [torch.Generator(), torch.Generator()]
    loaders = [
        DataLoader(Subset(dataset, h), config.batch_size, shuffle=True, drop_last=True, generator=g,
                   collate_fn=collate_clips)
        for h, g in zip(halves, gen, strict=True)
    ]  # fmt: skip
    if min(map(len, loaders)) == 0:
        raise ValueError(
            f"{data_dir}: batch size {config.batch_size} exceeds a half of the training set "
            f"({min(map(len, halves))} videos); lower the batch size"
        )
    return dataset, loaders[0], loaders[1], len(dataset.classes)


def _build(config: SearchConfig, num_classes: int, device: torch.device):
    torch.manual_seed(config.seed)
    make = peng_search_net if config.space == "peng" else pvnas_search_net
    model = make(num_classes, channels=config.channels).to(device)
    paper = PAPERS[config.space]
    overrides = {k: v for k, v in (("schedule", config.schedule), ("step_epochs", config.step_epochs)) if v}
    optim = type(paper)(**{**asdict(paper), **overrides})
    sgd, adam = make_optimizers(model, optim)
    return model, sgd, adam, make_schedule(sgd, optim, config.epochs)


def _check_finite(losses: dict[str, float], model, epoch: int, step: int) -> None:
    bad = [k for k, v in losses.items() if not math.isfinite(v)]
    if bad or not all(torch.isfinite(a).all() for a in model.arch_parameters()):
        what = f"loss {bad}" if bad else "alphas"
        raise SearchDiverged(f"epoch {epoch}, step {step}: {what} not finite; the last good checkpoint is kept")


@torch.no_grad()
def accuracy(model: torch.nn.Module, loader: DataLoader) -> float:
    """Top-1 accuracy of the supernet on ``loader`` (batch-statistics BN, as during the search)."""
    correct = total = 0
    device = next(model.parameters()).device
    for clips, labels, *_ in loader:
        correct += (model(clips.to(device)).argmax(dim=1).cpu() == labels).sum().item()
        total += len(labels)
    return correct / total


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
) -> list[dict]:
    """Search for ``config.epochs`` epochs (or continue a run in ``out_dir`` when ``resume``); returns the records."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    dataset, train_loader, val_loader, num_classes = _loaders(config, Path(data_dir))
    device = config.torch_device()
    model, sgd, adam, schedule = _build(config, num_classes, device)
    records, start = [], 0
    ckpt = out / "checkpoint.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True, map_location=device)
        if state["config"] != asdict(config):
            raise ValueError(f"{ckpt}: saved with a different configuration {state['config']}")
        for obj, key in ((model, "model"), (sgd, "sgd"), (adam, "adam"), (schedule, "schedule")):
            obj.load_state_dict(state[key])
        records, start = json.loads(state["records"]), state["epoch"] + 1
    for epoch in range(start, config.epochs):
        dataset.set_epoch(epoch)
        for k, loader in enumerate((train_loader, val_loader)):
            loader.generator.manual_seed(config.seed * 1_000_003 + 2 * epoch + k)
        sums: dict[str, float] = {}
        batches = zip(train_loader, val_loader, strict=False)
        n = min(len(train_loader), len(val_loader))
        for step, (train, val) in enumerate(tqdm(batches, total=n, desc=f"epoch {epoch}", disable=not progress)):
            train, val = (tuple(t.to(device, non_blocking=True) for t in b[:2]) for b in (train, val))
            with config.autocast(device):
                losses = search_step(model, config.order, train, val, sgd, adam, config.r, difference=config.difference)
            _check_finite(losses, model, epoch, step)
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value / n
            if on_step is not None:
                on_step(epoch, step)
        schedule.step()
        sums["val_acc"] = accuracy(model, val_loader)
        genotype = derive(model)
        records.append(_jsonable({
            "epoch": epoch, **{k if k.endswith("acc") else f"{k}_loss": v for k, v in sums.items()},
            "lr": sgd.param_groups[0]["lr"],
            "alpha_softmax": {k: w.tolist() for k, w in model.op_weights().items()},
            "genotype": genotype, "parameter_free_share": parameter_free_share(genotype),
        }))  # fmt: skip
        state = {
            "config": asdict(config), "epoch": epoch, "records": json.dumps(records),
            "model": model.state_dict(), "sgd": sgd.state_dict(), "adam": adam.state_dict(),
            "schedule": schedule.state_dict(),
        }  # fmt: skip
        _atomic_write(ckpt, lambda p, s=state: torch.save(s, p))
        _atomic_write(out / "records.json", lambda p: p.write_text(json.dumps(records, indent=1)))
    return records
