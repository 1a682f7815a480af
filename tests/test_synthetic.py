"""The embedded dataset: UCF101 layout, groups kept apart, determinism, and the factor design."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import TINY
from videonas_lite.data.synthetic import (
    FACTORS,
    MANIFEST,
    SynthConfig,
    _faller,
    _spinner,
    _sweeper,
    _twins,
    class_names,
    ensure_dataset,
    generate,
    held_out_groups,
    render_video,
)
from videonas_lite.data.video import probe_video, read_clip

NAME = re.compile(r"^v_(?P<cls>[A-Za-z]+)_g(?P<g>\d{2})_c(?P<c>\d{2})\.mp4$")


def test_ucf101_layout(tiny_dataset):
    names = class_names("motion", TINY.classes)
    lines = (tiny_dataset / "classInd.txt").read_text().splitlines()
    assert lines == [f"{i + 1} {n}" for i, n in enumerate(names)]
    for name in names:
        videos = sorted((tiny_dataset / name).iterdir())
        assert len(videos) == TINY.videos_per_class
        for v in videos:
            m = NAME.match(v.name)
            assert m and m["cls"] == name, v.name
    info = probe_video(next((tiny_dataset / names[0]).iterdir()))
    assert (info.num_frames, info.height, info.width, info.fps) == (TINY.frames, TINY.size, TINY.size, TINY.fps)
    manifest = json.loads((tiny_dataset / MANIFEST).read_text())
    assert manifest["classes"] == names and manifest["hflip_preserves_label"] is False


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_lists_keep_groups_apart(tiny_dataset, split):
    train = (tiny_dataset / f"trainlist{split:02d}.txt").read_text().split("\n")
    test = (tiny_dataset / f"testlist{split:02d}.txt").read_text().split("\n")
    train, test = [t for t in train if t], [t for t in test if t]
    names = class_names("motion", TINY.classes)
    assert len(train) + len(test) == TINY.classes * TINY.videos_per_class
    groups = {"train": set(), "test": set()}
    for line in train:
        path, index = line.split()
        assert names[int(index) - 1] == path.split("/")[0], "train lines are '<path> <1-based index>'"
        groups["train"].add(int(NAME.match(path.split("/")[1])["g"]))
    for line in test:
        assert len(line.split()) == 1, "test lines are '<path>'"
        groups["test"].add(int(NAME.match(line.split("/")[1])["g"]))
    assert groups["train"].isdisjoint(groups["test"]) and groups["test"]


def test_held_out_groups_follow_ucf101_proportions():
    assert held_out_groups(25, 1) == list(range(7))  # UCF101: split 1 tests groups 1-7
    assert held_out_groups(25, 2) == list(range(7, 14))
    assert held_out_groups(25, 3) == list(range(14, 21))
    assert held_out_groups(2, 1) == [0] and held_out_groups(2, 2) == [1]


def test_same_seed_same_bytes_another_seed_another_video(tmp_path):
    # The generator's contract is byte-identical files for a seed. Decoded pixels are not compared
    # across the two copies: decord 0.6.0's get_batch now and then returns a P-frame a few levels
    # off (dmlc/decord#195), as a CI run under load saw.
    config = SynthConfig(classes=2, videos_per_class=2, frames=8, size=32, seed=11)
    a = generate(tmp_path / "a", config, progress=False)
    b = generate(tmp_path / "b", config, progress=False)
    c = generate(tmp_path / "c", SynthConfig(classes=2, videos_per_class=2, frames=8, size=32, seed=12), progress=False)
    videos = sorted(a.rglob("*.mp4"))
    assert len(videos) == 4
    for video in videos:
        rel = video.relative_to(a)
        assert video.read_bytes() == (b / rel).read_bytes(), f"{rel}: same seed, other bytes"
        fa, _ = read_clip(video, range(8))
        fc, _ = read_clip(c / rel, range(8))
        assert np.abs(fa.astype(int) - fc).mean() > 5, "another seed draws another video"


_ENCODE_ONE = """
import hashlib, sys
from pathlib import Path
from videonas_lite.data.synthetic import SynthConfig, class_names, encode_mp4, render_video
config = SynthConfig(classes=2, videos_per_class=2, frames=8, size=32, seed=11)
frames = render_video(config, class_names(config.mode, 2, config.factors).index("LeftCwMeetSlowDown"), 0, 1)
encode_mp4(frames, Path(sys.argv[1]), config.fps)
print(hashlib.sha256(Path(sys.argv[1]).read_bytes()).hexdigest())
"""


@pytest.mark.parametrize("perturb", ["165", "90"])
def test_the_encoder_reads_no_allocation_left_dirty(tmp_path, perturb):
    # The video the same-seed test lost under load: libx264 read memory it never wrote, so a reused (dirty)
    # malloc block changed its bytes. glibc's MALLOC_PERTURB_ makes every block dirty, deterministically: without
    # encode_mp4's zero-filled allocations the two processes below wrote different bytes every time.
    import os
    import subprocess
    import sys

    def digest(env_perturb: str) -> str:
        env = {**os.environ, "MALLOC_PERTURB_": env_perturb}
        out = tmp_path / f"v{env_perturb}.mp4"
        run = subprocess.run([sys.executable, "-c", _ENCODE_ONE, str(out)], env=env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    assert digest(perturb) == digest("0")


def test_ensure_dataset_reuses_or_regenerates(tmp_path):
    config = SynthConfig(classes=2, videos_per_class=2, frames=4, size=32)
    out = ensure_dataset(tmp_path / "d", config, progress=False)
    stamp = (out / MANIFEST).stat().st_mtime_ns
    assert ensure_dataset(out, config, progress=False) == out and (out / MANIFEST).stat().st_mtime_ns == stamp
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "source_digest": "an older generator"}))
    ensure_dataset(out, config, progress=False)
    assert json.loads((out / MANIFEST).read_text())["source_digest"] == manifest["source_digest"], "regenerated"
    bigger = SynthConfig(classes=3, videos_per_class=2, frames=4, size=32)
    ensure_dataset(out, bigger, progress=False)
    assert len((out / "classInd.txt").read_text().splitlines()) == 3
    assert not list(tmp_path.glob(".d-*")), "no staging folder left behind"


def test_class_names():
    motion = class_names("motion")
    assert len(motion) == len(set(motion)) == 2 ** len(FACTORS) >= 10
    assert motion[0] == "LeftCwMeetSpeedUp" and motion[-1] == "RightCcwPartSlowDown"
    assert class_names("appearance")[0] == "DiscTriangleDiamondRing"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", "colour", "mode must be one of"),
        ("classes", 17, r"classes must be in \[2, 16\]"),
        ("classes", 1, r"classes must be in \[2, 16\]"),
        ("size", 33, "size must be even"),
        ("frames", 1, "frames must be >= 2"),
        ("videos_per_class", 1, "videos_per_class must be >= 2"),
    ],
)
def test_config_validation(field, value, message):
    with pytest.raises(ValueError, match=message):
        SynthConfig(**{field: value})


def test_rendered_video_shape_and_range():
    video = render_video(TINY, 0, 0, 0)
    assert video.shape == (TINY.frames, TINY.size, TINY.size, 3) and video.dtype == np.uint8
    assert video.std() > 10, "actors stand out from the background"
    with pytest.raises(ValueError, match=r"class_index must be in \[0, 4\)"):
        render_video(TINY, 4, 0, 0)


@pytest.mark.parametrize("actor", [_sweeper, _twins])
def test_flipping_a_factor_time_reverses_the_actor(actor):
    """The design's key property: the other label value is the same trajectory played backwards."""
    t = np.linspace(0, 1, 9)
    forward = actor(np.random.default_rng(5), t, 0, 0.15)
    backward = actor(np.random.default_rng(5), t, 1, 0.15)
    for (x0, y0, a0), (x1, y1, a1) in zip(forward, backward, strict=True):
        np.testing.assert_allclose(x0, x1[::-1])
        np.testing.assert_allclose(y0, y1[::-1])
        np.testing.assert_allclose(a0, a1[::-1])


def test_cw_and_ccw_turn_the_same_amount_in_opposite_senses():
    t = np.linspace(0, 1, 9)
    ((_, _, cw),) = _spinner(np.random.default_rng(3), t, 0, 0.15)
    ((_, _, ccw),) = _spinner(np.random.default_rng(3), t, 1, 0.15)
    assert np.all(np.diff(cw) > 0) and np.all(np.diff(ccw) < 0), "Cw: angle grows (clockwise on screen)"
    np.testing.assert_allclose(cw - cw[0], -(ccw - ccw[0]))
    assert 0.5 * np.pi <= cw[-1] - cw[0] <= 0.8 * np.pi


class _Draws:
    """A stand-in generator whose ``uniform`` returns the given quantiles of the asked range."""

    def __init__(self, *quantiles: float):
        self.quantiles = list(quantiles)

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + self.quantiles.pop(0) * (high - low)


def test_speed_up_played_backwards_is_slow_down_the_other_way():
    """The faller's direction is a fair coin, so SpeedUp and SlowDown visit the same positions."""
    t = np.linspace(0, 1, 11)
    # draws: travel, direction coin (< 0.5: downwards), x, angle
    ((_, down_speed_up, _),) = _faller(_Draws(0.3, 0.2, 0.5, 0.5), t, 0, 0.15)
    ((_, up_slow_down, _),) = _faller(_Draws(0.3, 0.8, 0.5, 0.5), t, 1, 0.15)
    np.testing.assert_allclose(down_speed_up[::-1], up_slow_down)
    assert np.all(np.diff(down_speed_up) > 0) and np.all(np.diff(np.diff(down_speed_up)) > 0), "accelerating"


def test_sizes_decord_cannot_copy_are_generated_and_read_back(tmp_path, monkeypatch):
    import av

    from videonas_lite.data import video

    out = generate(tmp_path / "d", SynthConfig(classes=2, videos_per_class=2, frames=4, size=48), progress=False)
    first = sorted(out.rglob("*.mp4"))[0]
    with av.open(str(first)) as container:
        native = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    np.testing.assert_array_equal(read_clip(first, range(4))[0], native)  # through PyAV, as data/video.py says

    def unreadable(path, *args, **kwargs):
        raise video.VideoReadError(path, "a decoder that cannot read it")

    monkeypatch.setattr(video, "read_clip", unreadable)  # the read-back check still guards the output
    with pytest.raises(ValueError, match=r"size 32: the videos cannot be read back: a decoder that cannot read it"):
        generate(tmp_path / "e", SynthConfig(classes=2, videos_per_class=2, frames=4, size=32), progress=False)
    assert not (tmp_path / "e").exists()
