"""Pictures of temporal sampling: index timelines, frame grids, and an Ns/Nr widget with a static fallback.

Taught by notebook 01 (frame grids also in notebook 02). :func:`actor_quarters` says which quarter of an
embedded-dataset video holds which actor, so that a frame grid can name them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from videonas_lite.data.sampling import tsn_test_indices, tsn_train_indices
from videonas_lite.data.synthetic import MODES, SynthConfig

__all__ = [
    "QUARTERS", "actor_quarters", "clip_animation", "plot_frames", "plot_timeline", "sampling_widget",
    "timeline_grid", "video_actors",
]  # fmt: skip

QUARTERS = ("top left", "top right", "bottom left", "bottom right")
"""The four quarters of a frame, indexed as :func:`videonas_lite.data.synthetic.render_video` places actors."""


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


def sampling_widget(
    num_frames: int,
    max_segments: int = 8,
    max_per_segment: int = 4,
    num_segments: int = 4,
    frames_per_segment: int = 2,
):
    """Sliders over Ns, Nr, the video length and the seed, redrawing the timeline (needs a live kernel).

    The sliders start at ``num_segments`` x ``frames_per_segment`` and a video of ``num_frames`` frames.
    """
    import ipywidgets as widgets

    def show(num_segments: int, frames_per_segment: int, length: int, seed: int) -> None:
        plot_timeline(length, num_segments, frames_per_segment, draws=3, seed=seed)
        plt.show()

    return widgets.interactive(
        show,
        num_segments=widgets.IntSlider(num_segments, 1, max(max_segments, num_segments), description="Ns"),
        frames_per_segment=widgets.IntSlider(
            frames_per_segment, 1, max(max_per_segment, frames_per_segment), description="Nr"
        ),
        length=widgets.IntSlider(num_frames, 1, 4 * num_frames, description="frames L"),
        seed=widgets.IntSlider(0, 0, 20, description="seed"),
    )


def actor_quarters(config: SynthConfig, class_index: int, group: int, clip: int) -> dict[str, str]:
    """Which quarter of the frame (:data:`QUARTERS`) each actor of one embedded-dataset video occupies.

    :func:`~videonas_lite.data.synthetic.render_video` seeds its generator with ``(seed, mode, class, group,
    clip)`` and draws the actors' quarters first, a permutation of the four; actor ``k`` of ``config.actors``
    takes quarter ``permutation[k]``. This replays that first draw (``tests/test_viz_sampling.py`` checks it
    against the rendered pixels, so a change of the generator's draw order fails there).
    """
    if not 0 <= class_index < config.classes:
        raise ValueError(f"class_index must be in [0, {config.classes}), got {class_index}")
    if group < 0 or clip < 0:
        raise ValueError(f"group and clip are 0-based indices, got group={group}, clip={clip}")
    cells = np.random.default_rng([config.seed, MODES.index(config.mode), class_index, group, clip]).permutation(4)
    return {actor: QUARTERS[int(cells[k])] for k, actor in enumerate(config.actors)}


_VIDEO_NAME = re.compile(r"_g(\d+)_c(\d+)\.\w+$")


def video_actors(config: SynthConfig, path: str | Path, class_index: int) -> dict[str, str]:
    """:func:`actor_quarters` of the embedded-dataset file ``path`` (``v_<class>_gGG_cCC.mp4``, 1-based GG, CC)."""
    match = _VIDEO_NAME.search(Path(path).name)
    if match is None:
        raise ValueError(f"{Path(path).name!r} is not an embedded-dataset video name (expected v_<class>_gGG_cCC.mp4)")
    return actor_quarters(config, class_index, int(match[1]) - 1, int(match[2]) - 1)


def plot_frames(
    rows: Sequence[tuple[str, np.ndarray, np.ndarray]],
    size: float = 1.1,
    actors: Sequence[dict[str, str]] | None = None,
):
    """A grid of frames: each row is (label, uint8 frames (T, H, W, 3), frame indices).

    ``actors`` (one ``{actor: quarter}`` per row, from :func:`video_actors`) names each actor under the row's
    label, and faint lines split every frame into its quarters.
    """
    if actors is not None and len(actors) != len(rows):
        raise ValueError(f"actors must give one {{actor: quarter}} per row: {len(rows)} rows, got {len(actors)}")
    cols = max(len(frames) for _, frames, _ in rows)
    label_width = 2.4 if actors is not None else 1.6
    fig, axes = plt.subplots(
        len(rows), cols, figsize=(min(size * cols + label_width, 10), size * len(rows) + 0.4), squeeze=False
    )
    for r, (label, frames, idx) in enumerate(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < len(frames):
                ax.imshow(frames[c])
                ax.set_title(f"#{idx[c]}", fontsize=9, pad=2)
                if actors is not None:
                    h, w = frames[c].shape[:2]
                    ax.axhline(h / 2 - 0.5, color="w", lw=0.6, alpha=0.6)
                    ax.axvline(w / 2 - 0.5, color="w", lw=0.6, alpha=0.6)
            else:
                ax.axis("off")
        text = label
        if actors is not None:
            text += "\n" + "\n".join(f"{actor}: {quarter}" for actor, quarter in actors[r].items())
        axes[r, 0].set_ylabel(text, rotation=0, ha="right", va="center", fontsize=9)
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
        ax.set_title(label, fontsize=9)
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
