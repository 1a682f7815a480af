"""The search's two halves of the training set: one trains the weights, the other the alphas. Notebook 05.

PV-NAS Sec. 3.2.2: a clip samples only 8 frames of a video, so a video network is sensitive to the class
distribution of the data it sees, and the validation half must keep the classes balanced. Each class's
videos are split in two halves of equal size (one more on one side when odd, alternating between
classes so the totals stay even too). Videos of one UCF101 *group* (``v_<Class>_gXX_cYY``: clips cut
from one longer video) are kept on one side wherever the balance allows, so the alpha half is not a
near-copy of the weight half.

A group *number* also goes to the same half in every class where the balance allows. The embedded
dataset shares a group's style (background, colours) across classes, as UCF101's group numbers may
share recording conditions. Split class by class with no regard to this, group 3 could train the
weights on class A and test the alphas on class B: a network that learnt "style of group 3 -> A" is then
wrong on exactly those clips: a search of the default profile, split that way, lost the alpha half
entirely within a few epochs while its training loss fell.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_GROUP = re.compile(r"_g(\d+)_c\d+$")


def group_of(path: str | Path) -> str:
    """The UCF101 group of a video (``v_X_g08_c01`` -> ``g08``); the file name itself when there is none."""
    stem = Path(path).stem
    match = _GROUP.search(stem)
    return f"g{match.group(1)}" if match else stem


def balanced_halves(labels: Sequence[int], paths: Sequence[str | Path], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(first, second)``: every class split in halves that differ by at most one video.

    Whole groups are chosen for the first half by subset sum; one group is split only when no set of
    whole groups reaches the class's target size. Among the sets that reach it, the one with the most
    videos from a seeded half of the group numbers wins, so a group number lands in the same half in
    every class wherever the sizes allow.
    """
    if len(labels) != len(paths):
        raise ValueError(f"{len(labels)} labels for {len(paths)} paths")
    rng = np.random.default_rng(seed)
    by_class: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (label, path) in enumerate(zip(labels, paths, strict=True)):
        by_class[int(label)][group_of(path)].append(i)
    names = sorted({name for groups in by_class.values() for name in groups})
    preferred = set(rng.permutation(names)[: (len(names) + 1) // 2].tolist())
    halves: tuple[list[int], list[int]] = ([], [])
    odd = 0
    for label in sorted(by_class):
        groups = [(name in preferred, members) for name, members in by_class[label].items()]
        rng.shuffle(groups)
        n = sum(len(members) for _, members in groups)
        target = n // 2 + (n % 2) * (odd % 2)  # odd-sized classes give their extra video to alternate halves
        odd += n % 2
        first, rest = _fill(groups, target)
        halves[0].extend(first)
        halves[1].extend(rest)
    return np.asarray(sorted(halves[0]), dtype=np.int64), np.asarray(sorted(halves[1]), dtype=np.int64)


def _fill(groups: list[tuple[bool, list[int]]], target: int) -> tuple[list[int], list[int]]:
    """Whole groups summing to the largest size <= ``target`` (subset sum), topped up from one more group.

    ``groups`` are ``(preferred, members)``; among equal sizes the set with more preferred videos wins.
    """
    reachable: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    for g, (preferred, members) in enumerate(groups):
        for size, (score, chosen) in list(reachable.items()):
            new = size + len(members)
            candidate = (score + preferred * len(members), [*chosen, g])
            if new <= target and (new not in reachable or candidate[0] > reachable[new][0]):
                reachable[new] = candidate
    chosen = set(reachable[max(reachable)][1])
    first = [i for g in sorted(chosen) for i in groups[g][1]]
    rest = [i for g in range(len(groups)) if g not in chosen for i in groups[g][1]]
    missing = target - len(first)
    return first + rest[:missing], rest[missing:]
