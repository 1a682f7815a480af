"""data/check.py: the up-front check of every video, cached by size and mtime; datasets leave the bad ones out."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.conftest import TINY
from tests.test_video import _write_faststart
from videonas_lite.data.check import cache_path, check_dataset
from videonas_lite.data.datasets import DatasetError, VideoClipDataset


@pytest.fixture
def broken(dataset_copy, tmp_path, monkeypatch):
    """The tiny dataset with one empty, one truncated and one foreign video, and a private cache folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    videos = sorted(dataset_copy.rglob("*.mp4"))
    videos[0].write_bytes(b"")
    _write_faststart(videos[1], frames=40)  # its index up front: it opens, and only its late frames are missing
    videos[1].write_bytes(videos[1].read_bytes()[: videos[1].stat().st_size * 2 // 3])
    videos[2].write_text("not a video")
    return dataset_copy, videos[:3]


def test_each_bad_video_is_named_with_its_problem(broken):
    root, bad = broken
    result = check_dataset(root, progress=False)
    assert result.checked == TINY.classes * TINY.videos_per_class and set(result.bad) == {str(p) for p in bad}
    assert result.bad[str(bad[0])].startswith("file is empty (0 bytes)")
    assert re.search(r"cannot be decoded|truncated file\?", result.bad[str(bad[1])])
    assert "cannot be decoded" in result.bad[str(bad[2])]
    assert result.summary() == f"3 of {result.checked} videos unusable"


def test_a_second_check_reopens_only_changed_files(broken, monkeypatch):
    root, bad = broken
    check_dataset(root, progress=False)
    assert cache_path(root).is_file()
    opened = []
    import videonas_lite.data.check as check

    real = check._frames_or_problem
    monkeypatch.setattr(check, "_frames_or_problem", lambda p: (opened.append(p), real(p))[1])
    again = check_dataset(root, progress=False)
    assert opened == [] and again.cached == again.checked and set(again.bad) == {str(p) for p in bad}
    good = next(p for p in sorted(root.rglob("*.mp4")) if p not in bad)
    shutil.copyfile(good, bad[0])  # repaired: a new size and mtime
    os.utime(bad[0], ns=(1, 1))
    third = check_dataset(root, progress=False)
    assert opened == [bad[0]] and str(bad[0]) not in third.bad and len(third.bad) == 2


def test_too_short_videos_and_missing_files(broken):
    root, bad = broken
    bad[0].unlink()
    result = check_dataset(root, min_frames=TINY.frames + 1, progress=False)
    assert result.bad[str(bad[0])].startswith("file not found")
    assert all(p in result.bad for p in map(str, root.rglob("*.mp4")))  # every video is too short
    assert f"expected at least {TINY.frames + 1}" in next(v for k, v in result.bad.items() if k not in map(str, bad))


def test_a_broken_list_is_a_dataset_error_not_a_bad_video(tmp_path):
    with pytest.raises(DatasetError, match=r"classInd\.txt"):
        check_dataset(tmp_path, progress=False)


def test_datasets_leave_excluded_videos_out_and_count_them(broken):
    root, _ = broken
    result = check_dataset(root, progress=False)
    train = VideoClipDataset.ucf101(root, subset="train", exclude=result.bad)
    test = VideoClipDataset.ucf101(root, subset="test", exclude=result.bad)
    assert len(train.records) + len(test.records) == result.checked - 3
    assert {**train.skipped, **test.skipped} == result.bad
    assert all(train[i] is not None for i in range(len(train)))
