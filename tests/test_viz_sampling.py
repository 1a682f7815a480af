"""viz/sampling.py: which quarter holds which actor (checked against rendered pixels), and the frame grid."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from videonas_lite.data.synthetic import FACTORS, SynthConfig, render_video
from videonas_lite.viz.sampling import QUARTERS, actor_quarters, plot_frames, video_actors


def actor_pixels_per_quarter(video: np.ndarray) -> dict[str, float]:
    """Share of bright, saturated pixels (actors are drawn so; background, dot and noise are not) per quarter."""
    v = video.astype(np.float32) / 255
    brightest, darkest = v.max(axis=3), v.min(axis=3)
    saturation = (brightest - darkest) / np.maximum(brightest, 1e-6)
    actor = ((brightest > 0.65) & (saturation > 0.45)).mean(axis=0)
    h, w = actor.shape[0] // 2, actor.shape[1] // 2
    blocks = [actor[:h, :w], actor[:h, w:], actor[h:, :w], actor[h:, w:]]
    return {q: float(b.mean()) for q, b in zip(QUARTERS, blocks, strict=True)}


@pytest.mark.parametrize("actor", [f.actor for f in FACTORS])
def test_a_lone_actor_is_drawn_in_the_quarter_named(actor):
    config = SynthConfig(classes=2, videos_per_class=4, frames=12, size=64, seed=5, actors=(actor,))
    for class_index, group, clip in [(c, g, k) for c in range(2) for g in range(2) for k in range(2)]:
        motion = actor_pixels_per_quarter(render_video(config, class_index, group, clip))
        named = actor_quarters(config, class_index, group, clip)[actor]
        assert max(motion, key=motion.get) == named, (actor, class_index, group, clip, motion, named)


def test_two_actors_fill_the_two_quarters_named():
    config = SynthConfig(classes=4, videos_per_class=4, frames=12, size=64, seed=1, actors=("sweeper", "twins"))
    for class_index in range(4):
        quarters = actor_quarters(config, class_index, 1, 0)
        assert set(quarters) == {"sweeper", "twins"} and len(set(quarters.values())) == 2
        motion = actor_pixels_per_quarter(render_video(config, class_index, 1, 0))
        busiest = sorted(motion, key=motion.get)[-2:]
        assert set(busiest) == set(quarters.values()), (class_index, motion, quarters)


def test_video_actors_reads_group_and_clip_from_the_file_name():
    config = SynthConfig(classes=4, videos_per_class=4, actors=("sweeper", "twins"))
    assert video_actors(config, "root/LeftPart/v_LeftPart_g02_c01.mp4", 1) == actor_quarters(config, 1, 1, 0)
    with pytest.raises(ValueError, match="not an embedded-dataset video name"):
        video_actors(config, "clip.mp4", 0)
    with pytest.raises(ValueError, match="class_index must be in"):
        actor_quarters(config, 4, 0, 0)


def test_plot_frames_names_the_actors_under_each_row_label():
    frames = np.zeros((3, 16, 16, 3), dtype=np.uint8)
    actors = [{"sweeper": "top left", "twins": "bottom right"}]
    fig = plot_frames([("LeftMeet", frames, np.array([1, 5, 9]))], actors=actors)
    label = fig.axes[0].get_ylabel()
    assert label.splitlines() == ["LeftMeet", "sweeper: top left", "twins: bottom right"]
    assert fig.get_size_inches()[0] <= 10
    assert all(ax.title.get_fontsize() >= 9 for ax in fig.axes if ax.get_title())
    plt.close(fig)
    with pytest.raises(ValueError, match="one \\{actor: quarter\\} per row"):
        plot_frames([("a", frames, np.arange(3))], actors=[])
