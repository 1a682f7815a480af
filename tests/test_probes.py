"""Probes of the embedded dataset: motion mode needs temporal order (order-free features at chance), appearance not."""

from __future__ import annotations

import numpy as np
import pytest

from videonas_lite.data.probes import FEATURES, run_probes
from videonas_lite.data.synthetic import SynthConfig, generate


@pytest.fixture(scope="module")
def probe_results(tmp_path_factory):
    config = SynthConfig(classes=10, videos_per_class=40, frames=16, size=32, seed=1)  # notebook 01 (ci): seed 0
    root = generate(tmp_path_factory.mktemp("probe") / "motion", config, progress=False)
    results = run_probes(root, features=["frame_average", "random_frame", "frame_differences"], epochs=16)
    return {r["feature"]: r for r in results}, 10 * 12  # 12 test videos per class (6 of 20 groups)


@pytest.mark.parametrize("feature", ["frame_average", "random_frame"])
def test_order_free_features_are_at_chance(probe_results, feature):
    results, n_test = probe_results
    r = results[feature]
    margin = 3 * np.sqrt(r["chance"] * (1 - r["chance"]) / n_test)  # 3 binomial standard deviations
    assert r["test_accuracy"] < r["chance"] + margin, r
    assert all(abs(a - 0.5) < 0.15 for a in r["factor_accuracy"].values()), r["factor_accuracy"]


def test_frame_differences_separate_the_classes(probe_results):
    results, _ = probe_results
    r = results["frame_differences"]
    assert r["test_accuracy"] > 3 * r["chance"], r
    assert r["test_accuracy"] > results["frame_average"]["test_accuracy"] + 0.2, r
    # three of the four time arrows are read reliably; the spinner's sense of rotation is the hardest
    # for this small 2D probe and varies with the seed (0.57 on this dataset, 0.93 on notebook 01's)
    assert sorted(r["factor_accuracy"].values())[1] > 0.8, r["factor_accuracy"]


def test_unknown_feature():
    from videonas_lite.data.probes import probe

    with pytest.raises(ValueError, match="unknown feature 'optical_flow'"):
        probe("optical_flow", None, None, 2)
    assert set(FEATURES) == {"frame_average", "random_frame", "frame_differences"}


def test_one_frame_reads_the_appearance_looks_at_the_courses_16_px(tmp_path):
    """Appearance mode's label is in every frame, at the size the teaching profiles search (16 px).

    Motion mode's shape pairs (disc or square, diamond or cross) were unreadable there: this probe scored
    0.28 on them (chance 0.25). The looks (compact shape or bar, drawn twice as large) are read from one frame.
    """
    config = SynthConfig(mode="appearance", classes=4, videos_per_class=80, frames=16, size=32,
                         actors=("sweeper", "twins"))  # the teaching profiles' scene, half their videos
    root = generate(tmp_path / "appearance", config, progress=False)
    (r,) = run_probes(root, features=["random_frame"], epochs=16, resolution=16)
    # over data seeds 0-2 and probe seeds 0-1: 0.57-0.73, each factor 0.68-0.97 (the old pairs: 0.28, 0.52-0.57)
    assert r["test_accuracy"] > 1.8 * r["chance"], r
    assert min(r["factor_accuracy"].values()) > 0.6, r["factor_accuracy"]


@pytest.mark.parametrize("resolution", [0, -16, 2.5])
def test_a_bad_resolution_is_one_clear_error(tmp_path, resolution):
    with pytest.raises(ValueError, match=f"resolution must be a positive number of pixels or None, got {resolution}"):
        run_probes(tmp_path, resolution=resolution)
