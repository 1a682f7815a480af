"""Clip transforms with ``torchvision.transforms.v2`` on video tensors. Used from notebook 02 on (test: 02, train: 03).

Decoded frames arrive as uint8 ``(T, H, W, 3)`` (decord's layout). :func:`as_video` turns them into a
``tv_tensors.Video`` ``(T, C, H, W)``, the layout v2 expects, so one random draw (crop box, flip,
jitter scale) applies to every frame of a clip alike. The last step returns the model's layout,
float ``(C, T, H, W)``.

Training (Peng Sec. 3 "Implementation": normalisation, random horizontal flip, random crop; PV-NAS
Sec. 4: scale jittering - the short side resized to a random size in ``[low, high]`` - then a random
crop). Testing (Peng): centre crop only.

Normalisation uses the Kinetics-400 mean/std of torchvision's video models; the papers train from
scratch and do not state theirs, and any fixed per-channel statistics serve.

Horizontal flip is optional: it preserves the label of UCF101's actions but not of the embedded
motion dataset's (mirroring swaps Left/Right and Cw/Ccw); datasets say which (``hflip_preserves_label``).
"""

from __future__ import annotations

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["KINETICS_MEAN", "KINETICS_STD", "as_video", "eval_transform", "train_transform"]

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


def as_video(frames: np.ndarray | torch.Tensor) -> tv_tensors.Video:
    """uint8 ``(T, H, W, 3)`` frames -> ``tv_tensors.Video`` ``(T, 3, H, W)`` (no copy for numpy input)."""
    tensor = torch.as_tensor(frames)
    if tensor.ndim != 4 or tensor.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(tensor.shape)}")
    return tv_tensors.Video(tensor.permute(0, 3, 1, 2))


class _ToModelLayout(v2.Transform):
    """``(T, C, H, W)`` -> ``(C, T, H, W)``, the layout of ``nn.Conv3d``; returns a plain tensor."""

    def forward(self, video: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return video.as_subclass(torch.Tensor).permute(1, 0, 2, 3).contiguous()


def _finish(mean: tuple[float, ...], std: tuple[float, ...]) -> list[v2.Transform]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std), _ToModelLayout()]


def train_transform(
    crop_size: int,
    scale_jitter: tuple[int, int] | None = None,
    hflip: bool = True,
    mean: tuple[float, ...] = KINETICS_MEAN,
    std: tuple[float, ...] = KINETICS_STD,
) -> v2.Compose:
    """Scale jitter (optional) -> random crop -> random horizontal flip (optional) -> float -> normalise."""
    steps: list[v2.Transform] = []
    if scale_jitter is not None:
        low, high = scale_jitter
        if not crop_size <= low <= high:
            raise ValueError(
                f"scale_jitter must satisfy crop_size <= low <= high, got {scale_jitter} with crop {crop_size}"
            )
        steps.append(v2.RandomShortestSize(min_size=list(range(low, high + 1)), antialias=True))
    steps.append(v2.RandomCrop(crop_size, pad_if_needed=False))
    if hflip:
        steps.append(v2.RandomHorizontalFlip())
    return v2.Compose(steps + _finish(mean, std))


def eval_transform(
    crop_size: int,
    resize_short: int | None = None,
    mean: tuple[float, ...] = KINETICS_MEAN,
    std: tuple[float, ...] = KINETICS_STD,
) -> v2.Compose:
    """Resize the short side (optional) -> centre crop -> float -> normalise (Peng: "only center crop")."""
    steps: list[v2.Transform] = []
    if resize_short is not None:
        steps.append(v2.Resize(resize_short, antialias=True))
    steps.append(v2.CenterCrop(crop_size))
    return v2.Compose(steps + _finish(mean, std))
