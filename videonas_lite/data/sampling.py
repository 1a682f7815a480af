"""Temporal sampling: which frame indices of a video form a clip. Taught by notebook 01.

Every sampler here is a pure function from a frame count to an array of frame indices (int64,
temporal order kept), with an explicit ``numpy.random.Generator`` wherever randomness enters.
Nothing here opens a file, so the samplers are easy to test and to draw.

Samplers
--------
* :func:`tsn_train_indices` - Peng et al. 2019, Sec. 2 ("TSN-like scheme"): split the video into
  ``Ns`` equal segments, draw ``Nr`` random frames in each, keep the original order. Ns=4, Nr=2
  gives the paper's 8-frame clips.
* :func:`tsn_test_indices` - the deterministic test counterpart: the centres of ``Ns*Nr`` equal
  sub-segments (uniform sampling, as TSN tests).
* :func:`window_indices` - PV-NAS Sec. 4 ("Data Augmentation"): a random window of 64 frames, 8
  frames spread uniformly inside it; centred window at test time.
* :func:`multi_clip_indices` - ``K`` clips per video for video-level evaluation (scores averaged).

What a dataset asks of a sampler is the :class:`FrameSampler` protocol (after pytorchvideo's
``ClipSampler``, with the random generator passed in rather than held): :class:`TSNSampler` and
:class:`WindowSampler` wrap the functions above in it.

The short-video rule (one rule for every sampler)
-------------------------------------------------
A clip of ``n`` frames from a video of ``L < n`` frames cannot have distinct frames. Then every
sampler returns the uniform grid ``floor((i + 0.5) * L / n)``: indices *repeat*, stay in temporal
order and in range; they never wrap around to the start. A window longer than the video shrinks
to the whole video. ``L <= 0`` is an error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "FrameSampler",
    "TSNSampler",
    "WindowSampler",
    "multi_clip_indices",
    "tsn_test_indices",
    "tsn_train_indices",
    "uniform_grid",
    "window_indices",
]


def _check(num_frames: int, **counts: int) -> None:
    if int(num_frames) <= 0:
        raise ValueError(f"num_frames must be >= 1, got {num_frames} (an empty video has no clip)")
    for name, value in counts.items():
        if int(value) <= 0:
            raise ValueError(f"{name} must be >= 1, got {value}")


def uniform_grid(num_frames: int, num_samples: int, offset: Fraction | float = Fraction(1, 2)) -> np.ndarray:
    """Indices ``floor((i + offset) * L / n)``, ``i = 0..n-1``: ``n`` points spread evenly over ``L`` frames.

    ``offset=1/2`` takes the centre of each of the ``n`` equal sub-segments (TSN's test sampling).
    Valid for any ``L >= 1``; for ``L < n`` indices repeat (the short-video rule). Computed in exact
    rational arithmetic: ``(i + 0.5) * (L / n)`` in floats lands one frame early when the product is
    an integer (``L=392, n=12, i=7`` gives 244.99999 instead of 245).
    """
    _check(num_frames, num_samples=num_samples)
    off = Fraction(offset)
    if not 0 <= off < 1:
        raise ValueError(f"offset must be in [0, 1), got {offset}")
    den = off.denominator * num_samples
    positions = [((i * off.denominator + off.numerator) * num_frames) // den for i in range(num_samples)]
    return np.minimum(np.asarray(positions, dtype=np.int64), num_frames - 1)


def tsn_train_indices(
    num_frames: int, num_segments: int, frames_per_segment: int, rng: np.random.Generator
) -> np.ndarray:
    """Peng et al. Sec. 2: ``Ns`` equal segments, ``Nr`` random frames in each, original order kept.

    Segment ``k`` covers frames ``[floor(k L / Ns), floor((k+1) L / Ns))``; its ``Nr`` frames are
    drawn without replacement and sorted, so the whole clip is strictly increasing. Videos with
    fewer than ``Ns * Nr`` frames follow the short-video rule (module docstring).
    """
    _check(num_frames, num_segments=num_segments, frames_per_segment=frames_per_segment)
    n = num_segments * frames_per_segment
    if num_frames < n:
        return uniform_grid(num_frames, n)
    bounds = (np.arange(num_segments + 1) * num_frames) // num_segments
    picks = [
        start + np.sort(rng.choice(stop - start, size=frames_per_segment, replace=False))
        for start, stop in itertools.pairwise(bounds)
    ]
    return np.concatenate(picks).astype(np.int64)


def tsn_test_indices(num_frames: int, num_segments: int, frames_per_segment: int) -> np.ndarray:
    """Deterministic TSN test sampling: the centre of each of ``Ns * Nr`` equal sub-segments."""
    _check(num_frames, num_segments=num_segments, frames_per_segment=frames_per_segment)
    return uniform_grid(num_frames, num_segments * frames_per_segment)


def _window_start(num_frames: int, window: int, rng: np.random.Generator | None) -> int:
    slack = num_frames - window
    if slack <= 0:
        return 0
    return int(rng.integers(0, slack + 1)) if rng is not None else slack // 2


def window_indices(
    num_frames: int, window: int = 64, num_samples: int = 8, rng: np.random.Generator | None = None
) -> np.ndarray:
    """PV-NAS Sec. 4: a ``window``-frame span (random start with ``rng``, centred without), then
    ``num_samples`` frames uniformly inside it (sub-segment centres, stride ``window / num_samples``).

    A window longer than the video shrinks to the whole video; then the short-video rule applies.
    """
    _check(num_frames, window=window, num_samples=num_samples)
    span = min(window, num_frames)
    start = _window_start(num_frames, span, rng)
    return start + uniform_grid(span, num_samples)


def multi_clip_indices(num_frames: int, num_clips: int, num_samples: int, window: int | None = None) -> np.ndarray:
    """``num_clips`` deterministic clips of ``num_samples`` frames for video-level testing, shape (K, n).

    Without ``window`` (TSN): clip ``j`` takes the point at fraction ``(j + 0.5) / K`` of every
    sub-segment, so the K clips interleave and together cover the video evenly (clip K=1 equals
    :func:`tsn_test_indices`). With ``window`` (PV-NAS): K windows with evenly spaced starts, each
    sampled as :func:`window_indices` does.
    """
    _check(num_frames, num_clips=num_clips, num_samples=num_samples)
    if window is None:
        return np.stack(
            [uniform_grid(num_frames, num_samples, Fraction(2 * j + 1, 2 * num_clips)) for j in range(num_clips)]
        )
    span = min(window, num_frames)
    starts = np.linspace(0, num_frames - span, num_clips).round().astype(np.int64)
    return np.stack([s + uniform_grid(span, num_samples) for s in starts])


@runtime_checkable
class FrameSampler(Protocol):
    """What :class:`~videonas_lite.data.datasets.VideoClipDataset` asks of a sampler: a video's frame count in,
    the clip's frame indices out.

    Modelled on pytorchvideo's ``ClipSampler`` (a callable the dataset asks which part of a video to decode),
    with two differences: it works on frame indices, not seconds, and randomness comes in as an explicit
    ``numpy.random.Generator`` (the dataset seeds one per ``(seed, epoch, index)``), so a draw can be replayed.
    ``rng=None`` asks for the deterministic test clip.
    """

    @property
    def num_frames_out(self) -> int:
        """The length of every clip this sampler returns."""
        ...

    def __call__(self, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """``num_frames_out`` int64 indices into a video of ``num_frames`` frames, in temporal order."""
        ...


@dataclass(frozen=True)
class TSNSampler:
    """Peng's sampler, a :class:`FrameSampler`: ``sampler(num_frames, rng)`` (train), ``sampler(num_frames)`` (test)."""

    num_segments: int = 4
    frames_per_segment: int = 2

    @property
    def num_frames_out(self) -> int:
        return self.num_segments * self.frames_per_segment

    def __call__(self, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        if rng is None:
            return tsn_test_indices(num_frames, self.num_segments, self.frames_per_segment)
        return tsn_train_indices(num_frames, self.num_segments, self.frames_per_segment, rng)


@dataclass(frozen=True)
class WindowSampler:
    """PV-NAS's sampler, a :class:`FrameSampler`: random window with ``rng``, centred window without."""

    window: int = 64
    num_samples: int = 8

    @property
    def num_frames_out(self) -> int:
        return self.num_samples

    def __call__(self, num_frames: int, rng: np.random.Generator | None = None) -> np.ndarray:
        return window_indices(num_frames, self.window, self.num_samples, rng)
