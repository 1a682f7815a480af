"""Scoring a retrained network on the test split (Peng Sec. 3, Table 2; PV-NAS Sec. 4, Table 1). Notebook 07.

* **Clip level** (Peng: "our model predicts a score for each video clip without additional aggregation ... apply
  only center crop"): one clip per video, TSN's test sampling (segment centres), the centre crop; top-1 and
  top-5 of its logits.
* **Video level** (PV-NAS's "GFLOPs x views"): ``clips x crops`` views per video, the clips spread evenly over
  the video (:func:`~videonas_lite.data.sampling.multi_clip_indices`: clip 1 of 1 is the clip-level clip),
  the crops spread evenly along the frame's longer side (left, centre, right for 3; the centre for 1, the
  clip-level crop); the video's score is the mean of its views' softmax.
* A confusion matrix of the video-level predictions (rows: the true class, columns: the predicted one).
* Cost: parameters, model size in MB (float32: 4 bytes a parameter, ``2**20`` bytes a MB), FLOPs of one view
  by ``torch.utils.flop_counter.FlopCounterMode``, which counts a multiply-add as two FLOPs and counts only
  convolutions and matrix products (pools, BN, additions are free); ``macs = flops / 2`` is the convention of
  many papers' "FLOPs".

With fewer than five classes top-5 is top-``|classes|``, which is always 1.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision.transforms.v2 import functional as TF
from tqdm.auto import tqdm

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.sampling import multi_clip_indices
from videonas_lite.data.transforms import as_video, eval_transform
from videonas_lite.train.retrain import RetrainConfig, load_run
from videonas_lite.train.runtime import atomic_write, excluded

__all__ = [
    "ViewDataset", "ViewSampler", "confusion_matrix", "crop_offsets", "evaluate_run", "flops_per_view",
    "model_size_mb", "parameter_count", "predict_views", "topk_accuracy", "video_scores",
]  # fmt: skip


def topk_accuracy(logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[int, float]:
    """Share of rows whose label is among the ``k`` largest scores, per ``k`` (``k`` capped at the class count).

    Ties count against the label: a label scored equal to the k-th largest is in only if ``topk`` picks it.
    """
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(f"expected logits (N, classes) and labels (N,), got {tuple(logits.shape)} and "
                         f"{tuple(labels.shape)}")  # fmt: skip
    out = {}
    for k in ks:
        top = logits.topk(min(k, logits.shape[1]), dim=1).indices
        out[k] = (top == labels[:, None]).any(dim=1).float().mean().item()
    return out


def video_scores(view_logits: torch.Tensor) -> torch.Tensor:
    """``(videos, views, classes)`` logits -> ``(videos, classes)``: the mean of the views' softmax (PV-NAS)."""
    if view_logits.dim() != 3:
        raise ValueError(f"expected logits of shape (videos, views, classes), got {tuple(view_logits.shape)}")
    return view_logits.float().softmax(dim=-1).mean(dim=1)


def confusion_matrix(labels: Sequence[int] | torch.Tensor, predictions, num_classes: int) -> np.ndarray:
    """``M[i, j]``: videos of class ``i`` predicted as ``j`` (int64; rows sum to the class sizes)."""
    labels, predictions = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels and predictions differ in shape: {labels.shape} and {predictions.shape}")
    out = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(out, (labels, predictions), 1)
    return out


def parameter_count(model: torch.nn.Module) -> int:
    """Trainable and frozen parameters alike (BN's running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters())


def model_size_mb(model: torch.nn.Module) -> float:
    """Parameters as float32: ``4 * parameters / 2**20`` MB."""
    return 4 * parameter_count(model) / 2**20


@torch.no_grad()
def flops_per_view(model: torch.nn.Module, clip_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass on one clip of ``clip_shape`` ``(C, T, H, W)``, in eval mode (module docstring)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *clip_shape, device=device))
    model.train(was_training)
    return int(counter.get_total_flops())


def crop_offsets(height: int, width: int, size: int, crops: int) -> list[tuple[int, int]]:
    """``(top, left)`` of ``crops`` square crops: along the longer side evenly (ends included), centred across it.

    One crop is the centre crop, rounded as ``torchvision``'s ``CenterCrop``.
    """
    if size > min(height, width):
        raise ValueError(f"crop size {size} exceeds the frame ({height} x {width})")
    centre = (round((height - size) / 2.0), round((width - size) / 2.0))
    if crops == 1:
        return [centre]
    along = np.linspace(0, max(height, width) - size, crops).round().astype(int).tolist()
    return [(a, centre[1]) for a in along] if height > width else [(centre[0], a) for a in along]


@dataclass(frozen=True)
class ViewSampler:
    """A video's ``clips`` test clips of ``frames`` frames each, concatenated (a sampler of VideoClipDataset)."""

    clips: int
    frames: int

    @property
    def num_frames_out(self) -> int:
        return self.clips * self.frames

    def __call__(self, num_frames: int, rng=None) -> np.ndarray:
        return multi_clip_indices(num_frames, self.clips, self.frames).reshape(-1)


class ViewDataset(Dataset):
    """The videos as ``(views, label)``: ``views`` ``(clips * crops, C, T, size, size)``, clip-major.

    ``videos``: a test dataset whose sampler is a :class:`ViewSampler`, without a transform.
    """

    def __init__(self, videos: VideoClipDataset, crops: int, size: int, resize_short: int | None = None):
        if not isinstance(videos.sampler, ViewSampler) or crops < 1:
            raise ValueError(f"views: expected a ViewSampler and crops >= 1, got {videos.sampler} and {crops}")
        self.videos, self.crops, self.size, self.resize_short = videos, crops, size, resize_short
        self.finish = eval_transform(size)  # the centre crop of a crop-sized frame is the frame: float, normalise

    def __len__(self) -> int:
        return len(self.videos.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, _ = self.videos.load_frames(index)
        video = as_video(frames)
        if self.resize_short is not None:
            video = TF.resize(video, self.resize_short, antialias=True)
        boxes = crop_offsets(video.shape[-2], video.shape[-1], self.size, self.crops)
        views = [
            self.finish(TF.crop(clip, top, left, self.size, self.size))
            for clip in video.split(self.videos.sampler.frames)
            for top, left in boxes
        ]
        return torch.stack(views), self.videos.records[index].label


@torch.no_grad()
def predict_views(model: torch.nn.Module, loader: DataLoader, config: RetrainConfig, progress: bool = False):
    """``(logits (videos, views, classes), labels (videos,))`` of a :class:`ViewDataset` loader, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for views, label in tqdm(loader, desc="evaluating", disable=not progress, leave=False):
        with config.autocast(device):
            out = model(views.flatten(0, 1).to(device))
        logits.append(out.float().cpu().unflatten(0, views.shape[:2]))
        labels.append(label)
    model.train(was_training)
    return torch.cat(logits), torch.cat(labels)


def evaluate_run(
    run: str | os.PathLike,
    views: tuple[int, int] = (10, 3),
    data_dir: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    exclude: dict[str, str] | None = None,
) -> dict:
    """Clip-level and video-level accuracy, confusion matrix and cost of a retraining run's last epoch.

    ``views``: ``(clips, crops)`` per video (PV-NAS: 10 x 3). ``data_dir`` defaults to the run's. Writes the
    result as JSON to ``out`` (default ``RUN/evaluation.json``) and returns it. ``exclude`` (``{path: problem}``)
    leaves bad videos out, beside those the run itself left out.
    """
    model, config, genotype, state = load_run(run)
    model.to("cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu")
    data_dir = state["data"] if data_dir is None else data_dir
    resize = None if config.scale_jitter is None else config.scale_jitter[0]
    space = None if genotype is None else genotype.space  # a baseline's run has no genotype
    result = {"run": str(run), "epoch": state["epoch"], "space": space, "data": str(data_dir),
              "classes": list(state["classes"])}  # fmt: skip
    frames = config.num_segments * config.frames_per_segment
    for level, (clips, crops) in (("clip", (1, 1)), ("video", tuple(views))):
        if clips < 1 or crops < 1:
            raise ValueError(f"views: expected clips >= 1 and crops >= 1, got {clips},{crops}")
        videos = VideoClipDataset.ucf101(data_dir, subset="test", split=config.split, short_side=config.short_side,
                                         cache=config.cache, sampler=ViewSampler(clips, frames),
                                         exclude={**excluded(config.exclude_videos), **(exclude or {})})  # fmt: skip
        if videos.classes != result["classes"]:
            raise ValueError(f"{data_dir}: classes {videos.classes} differ from the run's {result['classes']}")
        dataset = ViewDataset(videos, crops, config.crop_size, resize)
        loader = DataLoader(dataset, max(1, config.batch_size // (clips * crops)), num_workers=config.num_workers)
        logits, labels = predict_views(model, loader, config, progress)
        scores = logits[:, 0] if level == "clip" else video_scores(logits)
        top = topk_accuracy(scores, labels)
        result[level] = {"views": [clips, crops], "top1": top[1], "top5": top[5]}
        if level == "clip":
            result[level]["loss"] = F.cross_entropy(scores, labels).item()
        else:
            result["confusion_matrix"] = confusion_matrix(labels, scores.argmax(1), len(result["classes"])).tolist()
    clip_shape = (3, frames, config.crop_size, config.crop_size)
    flops = flops_per_view(model, clip_shape)
    result.update(videos=len(labels), params=parameter_count(model), size_mb=model_size_mb(model),
                  clip_shape=list(clip_shape), flops_per_view=flops, macs_per_view=flops // 2)  # fmt: skip
    path = Path(out) if out is not None else Path(run) / "evaluation.json"
    atomic_write(path, lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    return result
