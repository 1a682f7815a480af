"""Is temporal modelling needed? Probe classifiers on order-free vs temporal features of a dataset.

Taught by notebook 01 (section 4), run by ``videonas probe``. The module holds a CNN and its training loop
because they are one measuring instrument, not a model of the course: the probe's only output is whether
a feature carries the label, and no other module trains or imports this network.

The same small 2D CNN (five 3x3 conv-BN-ReLU layers, two of stride 2, global average pooling, a
linear layer) is trained on one feature map per clip and tested on the held-out groups:

* ``frame_average`` - the mean of the clip's frames (RGB): what any order-free model can see.
* ``random_frame``  - one frame drawn at random from the clip (RGB): what a single-frame model sees.
* ``frame_differences`` - the ``T-1`` consecutive differences of the grayscale frames, stacked as
  channels: the simplest temporal feature (it knows which frame came first).

On the embedded motion dataset the first two stay at chance by construction (``synthetic.py``),
and the third separates the classes: temporal order carries the label. On the appearance dataset
all three can. (A frame at a *fixed* time is not order-free: it knows when it was taken, and e.g.
the twins' separation at 58% of the clip differs between Meet and Part. See ``synthetic.py``.)

With the embedded dataset's manifest at hand, the head predicts the four binary factors (a sigmoid
each, so every video trains every factor) and the class is their most likely combination; the
balanced accuracy of each factor (chance 50%) is reported too. Training shifts each input by up to
1/8 of its size (wrap-around), for every feature alike.

Clips come from the dataset's own sampler (TSN, Peng Sec. 2); training uses ``draws`` random draws
per video (a fresh TSN draw is fresh data), testing the deterministic one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.synthetic import MANIFEST, class_bits

__all__ = ["FEATURES", "ProbeResult", "load_clips", "probe", "run_probes"]


def _gray(clips: torch.Tensor) -> torch.Tensor:
    return clips.mean(2)  # (N, T, C, H, W) -> (N, T, H, W)


def _random_frame(clips: torch.Tensor) -> torch.Tensor:
    """One frame per clip, drawn at random (fixed seed): a single frame that does not know *when* it was taken."""
    pick = torch.randint(clips.shape[1], (clips.shape[0],), generator=torch.Generator().manual_seed(0))
    return clips[torch.arange(clips.shape[0]), pick]


FEATURES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "frame_average": lambda clips: clips.mean(1),
    "random_frame": _random_frame,
    "frame_differences": lambda clips: _gray(clips).diff(dim=1),
}


@dataclass
class ProbeResult:
    feature: str
    train_accuracy: float
    test_accuracy: float
    chance: float
    factor_accuracy: dict[str, float] | None = None


def load_clips(dataset: VideoClipDataset, draws: int = 1, progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """All clips of ``dataset`` as float ``(N * draws, T, C, H, W)`` in [0, 1], with their labels."""
    from tqdm.auto import tqdm

    clips, labels = [], []
    for epoch in range(draws):
        dataset.set_epoch(epoch)
        for index in tqdm(range(len(dataset)), desc=f"loading clips ({epoch + 1}/{draws})", disable=not progress):
            frames, _ = dataset.load_frames(index)
            clips.append(torch.from_numpy(frames))
            labels.append(dataset.records[index].label)
    x = torch.stack(clips).permute(0, 1, 4, 2, 3).float().div_(255)
    return x, torch.tensor(labels)


def _cnn(in_channels: int, num_classes: int) -> nn.Sequential:
    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(  # receptive field 21 px: wide enough to see both twins of a cell at 64 px
        *block(in_channels, 32, 1), *block(32, 64, 2), *block(64, 64, 1), *block(64, 96, 2), *block(96, 96, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(96, num_classes),
    )  # fmt: skip


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, predict) -> tuple[float, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([predict(model(chunk)) for chunk in x.split(256)])
    return float((pred == y).float().mean()), pred


def _factor_accuracy(pred: torch.Tensor, y: torch.Tensor, factor_names: list[str]) -> dict[str, float]:
    """Balanced accuracy of each binary factor read off the predicted class (chance 0.5 for any class subset)."""
    bits_pred = np.array([class_bits(int(p), len(factor_names)) for p in pred])
    bits_true = np.array([class_bits(int(t), len(factor_names)) for t in y])
    scores = {}
    for k, name in enumerate(factor_names):
        recalls = [(bits_pred[bits_true[:, k] == v, k] == v).mean() for v in (0, 1) if (bits_true[:, k] == v).any()]
        scores[name] = float(np.mean(recalls))
    return scores


def _shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Random translation of each sample by up to ``max_shift`` pixels (wrap-around), the probe's augmentation."""
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,)).tolist()
    return torch.roll(x, (dy, dx), dims=(2, 3))


def _labels_to_bits(y: torch.Tensor, num_factors: int) -> torch.Tensor:
    return torch.tensor([class_bits(int(c), num_factors) for c in y], dtype=torch.float32)


def _bits_to_class(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The class whose factor values have the highest joint log-probability under independent sigmoids."""
    table = _labels_to_bits(torch.arange(num_classes), logits.shape[1])  # (K, F)
    logp = torch.nn.functional.logsigmoid(logits)[:, None] * table + torch.nn.functional.logsigmoid(-logits)[
        :, None
    ] * (1 - table)
    return logp.sum(-1).argmax(1)


def probe(
    feature: str,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    num_classes: int,
    epochs: int = 20,
    seed: int = 0,
    factor_names: list[str] | None = None,
) -> ProbeResult:
    """Train the probe CNN on ``FEATURES[feature]`` of the train clips; report train/test accuracy.

    With ``factor_names`` (the embedded dataset) the head predicts each binary factor (sigmoid per
    factor, trained on every video) and the class is the most likely combination; otherwise a softmax.
    """
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r}; choose from {sorted(FEATURES)}")
    torch.manual_seed(seed)
    xtr, xte = FEATURES[feature](train[0]), FEATURES[feature](test[0])
    mean, std = xtr.mean((0, 2, 3), keepdim=True), xtr.std((0, 2, 3), keepdim=True) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    ytr = train[1]
    factored = factor_names is not None
    model = _cnn(xtr.shape[1], len(factor_names) if factored else num_classes)
    targets = _labels_to_bits(ytr, len(factor_names)) if factored else ytr
    loss_fn = nn.functional.binary_cross_entropy_with_logits if factored else nn.functional.cross_entropy
    predict = (lambda out: _bits_to_class(out, num_classes)) if factored else (lambda out: out.argmax(1))
    batch = 32
    steps = epochs * -(-len(xtr) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=4e-3, total_steps=steps)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xtr)).split(batch):
            loss = loss_fn(model(_shift(xtr[idx], xtr.shape[-1] // 8)), targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    train_acc, _ = _accuracy(model, xtr, ytr, predict)
    test_acc, pred = _accuracy(model, xte, test[1], predict)
    factors = _factor_accuracy(pred, test[1], factor_names) if factored else None
    return ProbeResult(feature, train_acc, test_acc, 1.0 / num_classes, factors)


def _downsample(clips: torch.Tensor, resolution: int | None) -> torch.Tensor:
    """Area-average ``(N, T, C, H, W)`` clips to ``resolution`` pixels (never up)."""
    if resolution is None or max(clips.shape[-2:]) <= resolution:
        return clips
    n, t = clips.shape[:2]
    small = nn.functional.interpolate(clips.flatten(0, 1), size=(resolution, resolution), mode="area")
    return small.unflatten(0, (n, t))


def run_probes(
    root: str | os.PathLike,
    features: list[str] | None = None,
    epochs: int = 20,
    draws: int = 2,
    seed: int = 0,
    resolution: int | None = 32,
    progress: bool = False,
    exclude: dict[str, str] | None = None,
) -> list[dict]:
    """Every probe of ``features`` on split 1 of the dataset at ``root`` (UCF101 layout), ``exclude``'s videos left out.

    Clips are area-averaged to ``resolution`` pixels first (the same for every feature): the probe
    is a measuring device, and at 32 px its receptive field spans a whole actor's motion.
    """
    if resolution is not None and (isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1):
        raise ValueError(f"resolution must be a positive number of pixels or None, got {resolution!r}")
    root = Path(root)
    train_set = VideoClipDataset.ucf101(root, 1, "train", seed=seed, exclude=exclude)
    test_set = VideoClipDataset.ucf101(root, 1, "test", exclude=exclude)
    train, test = load_clips(train_set, draws, progress), load_clips(test_set, 1, progress)
    train, test = (_downsample(train[0], resolution), train[1]), (_downsample(test[0], resolution), test[1])
    factor_names = None
    if (root / MANIFEST).is_file():
        manifest = json.loads((root / MANIFEST).read_text())
        factor_names = [f["actor"] for f in manifest["factors"]]
    results = []
    for feature in features or list(FEATURES):
        result = probe(feature, train, test, len(train_set.classes), epochs, seed, factor_names)
        results.append(asdict(result))
    return results
