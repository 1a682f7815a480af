"""Property tests of the temporal samplers (Peng Sec. 2 TSN sampling; PV-NAS window sampling)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videonas_lite.data.sampling import (
    FrameSampler,
    TSNSampler,
    WindowSampler,
    multi_clip_indices,
    tsn_test_indices,
    tsn_train_indices,
    uniform_grid,
    window_indices,
)

frames = st.integers(1, 2000)
segments = st.integers(1, 8)
per_segment = st.integers(1, 4)
seeds = st.integers(0, 2**32 - 1)


@given(frames, segments, per_segment, seeds)
def test_tsn_train_in_range_ordered_and_sized(L, ns, nr, seed):
    idx = tsn_train_indices(L, ns, nr, np.random.default_rng(seed))
    assert idx.dtype == np.int64 and idx.shape == (ns * nr,)
    assert idx.min() >= 0 and idx.max() < L
    assert np.all(np.diff(idx) >= 0), "temporal order must be kept"


@given(frames, segments, per_segment, seeds)
def test_tsn_train_draws_nr_distinct_frames_inside_each_segment(L, ns, nr, seed):
    if L < ns * nr:
        return  # the short-video rule, tested below
    idx = tsn_train_indices(L, ns, nr, np.random.default_rng(seed)).reshape(ns, nr)
    for k in range(ns):
        start, stop = k * L // ns, (k + 1) * L // ns
        assert np.all((idx[k] >= start) & (idx[k] < stop)), f"segment {k} = [{start}, {stop}) got {idx[k]}"
        assert len(set(idx[k].tolist())) == nr, "frames within a segment are drawn without replacement"
    assert np.all(np.diff(idx.ravel()) > 0)


@given(frames, segments, per_segment, seeds)
def test_tsn_train_is_reproducible_from_the_seed(L, ns, nr, seed):
    a = tsn_train_indices(L, ns, nr, np.random.default_rng(seed))
    b = tsn_train_indices(L, ns, nr, np.random.default_rng(seed))
    np.testing.assert_array_equal(a, b)


def test_tsn_train_is_random_across_draws():
    rng = np.random.default_rng(0)
    draws = {tuple(tsn_train_indices(300, 4, 2, rng)) for _ in range(20)}
    assert len(draws) > 15


@given(frames, segments, per_segment)
def test_tsn_test_is_deterministic_segment_centres(L, ns, nr):
    idx = tsn_test_indices(L, ns, nr)
    np.testing.assert_array_equal(idx, tsn_test_indices(L, ns, nr))
    n = ns * nr
    expected = np.minimum([((2 * i + 1) * L) // (2 * n) for i in range(n)], L - 1)  # exact integer floor
    np.testing.assert_array_equal(idx, expected)
    assert np.all(np.diff(idx) >= 0) and idx.max() < L


def test_segment_centre_that_is_an_exact_integer():
    """(7 + 0.5) * 392 / 12 = 245 exactly; float ``(i + 0.5) * (L / n)`` gives 244.999... (found by CI)."""
    assert tsn_test_indices(392, 3, 4)[7] == 245


def test_tsn_test_example_by_hand():
    # 32 frames, 8 sub-segments of 4 frames: centres at 2, 6, 10, ...
    np.testing.assert_array_equal(tsn_test_indices(32, 4, 2), [2, 6, 10, 14, 18, 22, 26, 30])


@given(st.integers(1, 7), seeds)
def test_short_videos_repeat_frames_in_order_and_never_wrap(L, seed):
    for idx in (tsn_train_indices(L, 4, 2, np.random.default_rng(seed)), tsn_test_indices(L, 4, 2)):
        assert idx.shape == (8,) and idx.min() >= 0 and idx.max() < L
        assert np.all(np.diff(idx) >= 0)
        assert set(idx.tolist()) == set(range(L)), "every frame of a short video is used"
    np.testing.assert_array_equal(tsn_test_indices(3, 4, 2), [0, 0, 0, 1, 1, 2, 2, 2])


@given(frames, st.integers(1, 128), st.integers(1, 16), seeds)
def test_window_sampler(L, window, n, seed):
    idx = window_indices(L, window, n, np.random.default_rng(seed))
    assert idx.shape == (n,) and idx.min() >= 0 and idx.max() < L
    assert np.all(np.diff(idx) >= 0)
    assert idx.max() - idx.min() < min(window, L), "all samples lie inside one window"
    centred = window_indices(L, window, n)
    np.testing.assert_array_equal(centred, window_indices(L, window, n))


def test_window_sampler_matches_pvnas_example():
    # a 64-frame window in a 300-frame video, 8 frames: stride 8 from the window's start + 4
    idx = window_indices(300, 64, 8, np.random.default_rng(1))
    np.testing.assert_array_equal(np.diff(idx), [8] * 7)
    np.testing.assert_array_equal(window_indices(300, 64, 8), 118 + np.arange(4, 64, 8))


@given(frames, st.integers(1, 10), st.integers(1, 16))
def test_multi_clip_tsn(L, k, n):
    clips = multi_clip_indices(L, k, n)
    assert clips.shape == (k, n) and clips.min() >= 0 and clips.max() < L
    assert np.all(np.diff(clips, axis=1) >= 0)
    np.testing.assert_array_equal(multi_clip_indices(L, 1, n)[0], uniform_grid(L, n))


def test_multi_clip_windows_cover_the_video():
    clips = multi_clip_indices(300, 3, 8, window=64)
    assert clips[0, 0] == 4 and clips[-1, -1] == 300 - 64 + 60
    assert np.all(np.diff(clips[:, 0]) > 0)


def test_sampler_objects():
    tsn, win = TSNSampler(4, 2), WindowSampler(64, 8)
    assert tsn.num_frames_out == 8 and win.num_frames_out == 8
    np.testing.assert_array_equal(tsn(100), tsn_test_indices(100, 4, 2))
    np.testing.assert_array_equal(
        tsn(100, np.random.default_rng(5)), tsn_train_indices(100, 4, 2, np.random.default_rng(5))
    )


@pytest.mark.parametrize("bad", [0, -3])
def test_empty_video_is_an_error(bad):
    with pytest.raises(ValueError, match="num_frames must be >= 1"):
        tsn_test_indices(bad, 4, 2)
    with pytest.raises(ValueError, match="num_segments must be >= 1"):
        tsn_test_indices(10, 0, 2)


@given(frames, st.sampled_from([TSNSampler(4, 2), TSNSampler(1, 1), WindowSampler(64, 8), WindowSampler(8, 3)]), seeds)
def test_samplers_keep_the_frame_sampler_contract(L, sampler, seed):
    """FrameSampler: ``num_frames_out`` int64 indices in range and in temporal order, random or not."""
    assert isinstance(sampler, FrameSampler)
    for idx in (sampler(L), sampler(L, np.random.default_rng(seed))):
        assert idx.dtype == np.int64 and idx.shape == (sampler.num_frames_out,)
        assert idx.min() >= 0 and idx.max() < L and np.all(np.diff(idx) >= 0)
