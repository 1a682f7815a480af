"""Shared fixtures: a tiny embedded dataset and a factory of broken video files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings

from videonas_lite.data.synthetic import SynthConfig, encode_mp4, generate

TINY = SynthConfig(classes=4, videos_per_class=4, frames=12, size=32, seed=3)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks run fastest on one thread (threads only add overhead, 30x on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """4 classes x 4 videos of 12 frames at 32x32 (2 groups per class), generated once per session."""
    return generate(tmp_path_factory.mktemp("tiny") / "embedded", TINY, progress=False)


@pytest.fixture
def dataset_copy(tiny_dataset, tmp_path) -> Path:
    """A private copy of the tiny dataset that a test may break."""
    return Path(shutil.copytree(tiny_dataset, tmp_path / "copy"))


def write_video(path: Path, frames: int = 10, size: int = 32, faststart: bool = False) -> Path:
    """A small real mp4: a bright square sliding right over a dark background."""
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        video[t, 8:16, t : t + 8] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_mp4(video, path, fps=25)
    return path


# CI runs a fixed (derandomised) set of examples so that a pass or failure is reproducible;
# `HYPOTHESIS_PROFILE=deep make test` searches far wider (run it after changing a sampler).
settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("deep", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
