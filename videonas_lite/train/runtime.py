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

__all__ = ["OnDevice", "atomic_write", "autocast", "check_device", "torch_device"]


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


def autocast(device: torch.device, bf16: bool | None = None):
    """bf16 autocast on CUDA (unless ``bf16=False``), float32 elsewhere (unless ``bf16=True``)."""
    on = device.type == "cuda" if bf16 is None else bf16
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=on)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to ``path`` + ``.tmp``, then rename it to ``path``: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


class OnDevice:
    """Mixin for a run's configuration dataclass with ``device`` and ``bf16`` fields."""

    device: str
    bf16: bool | None

    def torch_device(self) -> torch.device:
        return torch_device(self.device)

    def autocast(self, device: torch.device):
        return autocast(device, self.bf16)
