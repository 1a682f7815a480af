"""data/splits.py: class-balanced halves of the training set (PV-NAS Sec. 3.2.2), groups kept together."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from videonas_lite.data.splits import balanced_halves, group_of


def _dataset(sizes: list[list[int]]):
    """``sizes[c]`` lists the group sizes of class c; returns labels and UCF101-style paths."""
    labels, paths = [], []
    for c, groups in enumerate(sizes):
        for g, size in enumerate(groups):
            for clip in range(size):
                labels.append(c)
                paths.append(f"C{c}/v_C{c}_g{g + 1:02d}_c{clip + 1:02d}.mp4")
    return labels, paths


@given(st.lists(st.lists(st.integers(1, 7), min_size=1, max_size=6), min_size=1, max_size=8), st.integers(0, 5))
def test_every_class_is_halved_and_nothing_is_lost(sizes, seed):
    labels, paths = _dataset(sizes)
    a, b = balanced_halves(labels, paths, seed)
    assert sorted([*a, *b]) == list(range(len(labels)))
    la, lb = np.asarray(labels)[a], np.asarray(labels)[b]
    for c in range(len(sizes)):
        assert abs(int((la == c).sum()) - int((lb == c).sum())) <= 1
    assert abs(len(a) - len(b)) <= 1


def test_groups_stay_together_when_the_balance_allows():
    labels, paths = _dataset([[2, 2, 2, 2], [3, 3, 2, 2, 2]])
    a, b = balanced_halves(labels, paths, seed=1)
    side = {i: 0 for i in a} | {i: 1 for i in b}
    for g in {(labels[i], group_of(p)) for i, p in enumerate(paths)}:
        members = {side[i] for i, p in enumerate(paths) if (labels[i], group_of(p)) == g}
        assert len(members) == 1, f"group {g} was split"


def test_group_names_and_errors():
    assert group_of("x/v_ApplyEyeMakeup_g08_c01.avi") == "g08"
    assert group_of("clip.mp4") == "clip"
    with pytest.raises(ValueError, match="2 labels for 1 paths"):
        balanced_halves([0, 1], ["a.mp4"])


@pytest.mark.parametrize("seed", range(5))
def test_a_group_number_goes_to_one_half_in_every_class(seed):
    """The embedded dataset's groups share a style across classes: no style may train A and test B."""
    for layout in ([[2, 2, 2, 2]] * 10, [[2] * 6] * 16):  # the ci and default profiles' training groups
        labels, paths = _dataset(layout)
        a, b = balanced_halves(labels, paths, seed)
        assert not {group_of(paths[i]) for i in a} & {group_of(paths[i]) for i in b}
