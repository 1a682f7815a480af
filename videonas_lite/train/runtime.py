"""What every training loop of the package shares: the device, bf16 autocast, and atomic file writes.

Used by the search (``train/search.py``, notebook 05), the retraining (``train/retrain.py``, notebook 07),
the evaluation and the comparison. A run folder must survive a crash at any moment, so every checkpoint and
record is written to a temporary name first and renamed into place (a rename is atomic on POSIX).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from videonas_lite.profiles import DEVICES

__all__ = ["OnDevice", "atomic_write", "autocast", "check_device", "excluded", "load_checkpoint", "prepare",
           "saved_config", "torch_device", "video_list"]


def check_device(device: str) -> None:
    """Reject a device name other than ``"cpu"``, ``"cuda"`` or ``"auto"`` with a one-line message."""
    if device not in DEVICES:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")


def torch_device(device: str) -> torch.device:
    """``"auto"``: CUDA when torch sees a GPU, else the CPU; ``"cuda"`` without a GPU is an error."""
    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' asked for, but torch sees no CUDA GPU; use device='cpu' or 'auto'")
    return torch.device(device)


def prepare(device: torch.device) -> None:
    """Backend settings for a training loop on ``device``: on CUDA, cuDNN's autotuner (``cudnn.benchmark``).

    Every step of a search or a retraining has the same input shape (fixed crops, ``drop_last``), so the
    per-shape search for the fastest convolution algorithm pays off after the first steps. The algorithm it
    picks may differ between processes, so on CUDA a resumed run equals an uninterrupted one up to
    float rounding, not bit for bit (on the CPU nothing changes).
    """
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device, bf16: bool | None = None):
    """bf16 autocast on CUDA (unless ``bf16=False``), float32 elsewhere (unless ``bf16=True``)."""
    on = device.type == "cuda" if bf16 is None else bf16
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to ``path`` + ``.tmp``, then rename it to ``path``: readers see the old file or the new one.

    A failed write (a full disk, a folder that is not writable) removes the partial ``.tmp``, keeps the old
    file and raises ``OSError`` naming ``path`` and the reason (the CLI prints it as one line).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch.save wraps a failed write (ENOSPC) in a RuntimeError
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        reason = getattr(err, "strerror", None) or (str(err).strip().splitlines() or [type(err).__name__])[0]
        message = f"cannot write ({reason}); the previous {path.name}, if any, is kept"
        raise OSError(getattr(err, "errno", None), message, str(path)) from err


def video_list(paths) -> tuple[str, ...]:
    """A configuration's ``exclude_videos`` as a sorted tuple of path strings (JSON gives lists back)."""
    if isinstance(paths, str) or not all(isinstance(p, str | os.PathLike) for p in paths):
        raise ValueError(f"exclude_videos must be a list of video paths, got {paths!r}")
    return tuple(sorted(map(str, paths)))


def excluded(paths: tuple[str, ...]) -> dict[str, str]:
    """``exclude_videos`` as the datasets' ``{path: problem}`` (``data/datasets.py``)."""
    return dict.fromkeys(paths, "left out: the up-front check found it bad (--on-bad-video skip)")


def saved_config(saved: dict, config) -> dict:
    """A checkpoint's configuration with the fields it predates filled by their defaults, so it still resumes."""
    from dataclasses import MISSING, fields

    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    return {**{k: v for k, v in defaults.items() if k not in saved}, **saved}


def load_checkpoint(path: str | os.PathLike, what: str, keys: tuple[str, ...], device: torch.device | str = "cpu"):
    """``torch.load`` a run's checkpoint, or one ``ValueError`` line for a truncated or foreign file.

    ``what`` names the run kind in the message ("search", "retraining"); ``keys`` are the entries a
    checkpoint of that kind must have.
    """
    path = Path(path)
    try:
        state = torch.load(path, weights_only=True, map_location=device)
    except Exception as err:  # truncated zip, pickle of another program, text: all mean the same here
        first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path}: not a readable {what} checkpoint ({first}); "
                         "move it away to start the run afresh") from None  # fmt: skip
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: not a {what} checkpoint (no {', '.join(missing)}); "
                         "move it away to start the run afresh")  # fmt: skip
    return state


class OnDevice:
    """Mixin for a run's configuration dataclass with ``device`` and ``bf16`` fields."""

    device: str
    bf16: bool | None

    def torch_device(self) -> torch.device:
        return torch_device(self.device)

    def autocast(self, device: torch.device):
        return autocast(device, self.bf16)
