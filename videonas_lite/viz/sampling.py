"""Pictures of temporal sampling: index timelines, frame grids, and an Ns/Nr widget with a static fallback.

Taught by notebook 01 (frame grids also in notebook 02).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from videonas_lite.data.sampling import tsn_test_indices, tsn_train_indices

__all__ = ["clip_animation", "plot_frames", "plot_timeline", "sampling_widget", "timeline_grid"]


def plot_timeline(num_frames: int, num_segments: int, frames_per_segment: int, draws: int = 3, seed: int = 0, ax=None):
    """Segments as shaded bands; one row per random training draw and one row for the test sampler."""
    ax = ax or plt.subplots(figsize=(9, 0.45 * (draws + 2) + 0.6))[1]
    bounds = (np.arange(num_segments + 1) * num_frames) // num_segments
    for k, (a, b) in enumerate(itertools.pairwise(bounds)):
        ax.axvspan(a - 0.5, b - 0.5, color="C0" if k % 2 else "C1", alpha=0.12, lw=0)
    rng = np.random.default_rng(seed)
    rows = [
        (f"train draw {d + 1}", tsn_train_indices(num_frames, num_segments, frames_per_segment, rng))
        for d in range(draws)
    ]
    rows.append(("test (uniform)", tsn_test_indices(num_frames, num_segments, frames_per_segment)))
    for r, (label, idx) in enumerate(rows):
        ax.scatter(idx, np.full(idx.size, r), s=28, color="C3" if label.startswith("test") else "k", zorder=3)
    ax.set_yticks(range(len(rows)), [label for label, _ in rows])
    ax.set_xlim(-0.5, num_frames - 0.5)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("frame index")
    ax.set_title(f"TSN sampling: L={num_frames} frames, Ns={num_segments} segments x Nr={frames_per_segment}")
    return ax


def timeline_grid(num_frames: int, settings: Sequence[tuple[int, int]], draws: int = 2, seed: int = 0):
    """The static stand-in for :func:`sampling_widget`: one timeline per (Ns, Nr) setting."""
    fig, axes = plt.subplots(
        len(settings), 1, figsize=(9, 1.35 * len(settings) * (draws + 1) / 3 + 0.8 * len(settings))
    )
    for ax, (ns, nr) in zip(np.atleast_1d(axes), settings, strict=True):
        plot_timeline(num_frames, ns, nr, draws=draws, seed=seed, ax=ax)
    fig.tight_layout()
    return fig


def sampling_widget(num_frames: int, max_segments: int = 8, max_per_segment: int = 4):
    """Sliders over Ns, Nr, the video length and the seed, redrawing the timeline (needs a live kernel)."""
    import ipywidgets as widgets

    def show(num_segments: int, frames_per_segment: int, length: int, seed: int) -> None:
        plot_timeline(length, num_segments, frames_per_segment, draws=3, seed=seed)
        plt.show()

    return widgets.interactive(
        show,
        num_segments=widgets.IntSlider(4, 1, max_segments, description="Ns"),
        frames_per_segment=widgets.IntSlider(2, 1, max_per_segment, description="Nr"),
        length=widgets.IntSlider(num_frames, 1, 4 * num_frames, description="frames L"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


def plot_frames(rows: Sequence[tuple[str, np.ndarray, np.ndarray]], size: float = 1.1):
    """A grid of frames: each row is (label, uint8 frames (T, H, W, 3), frame indices)."""
    cols = max(len(frames) for _, frames, _ in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(size * cols + 1.6, size * len(rows) + 0.3), squeeze=False)
    for r, (label, frames, idx) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(frames):
                ax.imshow(frames[c])
                ax.set_title(f"#{idx[c]}", fontsize=7, pad=2)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def clip_animation(videos: Sequence[tuple[str, np.ndarray]], fps: int = 8, size: float = 1.8) -> str:
    """Side-by-side looping animation of uint8 videos ``(T, H, W, 3)`` as self-contained HTML (to_jshtml).

    It plays in an executed notebook and its HTML export without a kernel.
    """
    from matplotlib import animation

    fig, axes = plt.subplots(1, len(videos), figsize=(size * len(videos), size + 0.3), squeeze=False)
    images = []
    for ax, (label, video) in zip(axes[0], videos, strict=True):
        images.append(ax.imshow(video[0]))
        ax.set_title(label, fontsize=7)
        ax.axis("off")
    length = max(len(v) for _, v in videos)

    def draw(t: int):
        for image, (_, video) in zip(images, videos, strict=True):
            image.set_data(video[min(t, len(video) - 1)])
        return images

    anim = animation.FuncAnimation(fig, draw, frames=length, interval=1000 / fps, blit=True)
    html = anim.to_jshtml(default_mode="loop")
    plt.close(fig)
    return html
