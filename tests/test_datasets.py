"""Split-list datasets on the embedded dataset (UCF101 layout), HMDB51's layout, and every bad input."""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.conftest import TINY, write_video
from videonas_lite.data.datasets import DatasetError, VideoClipDataset, collate_clips, hmdb51_records
from videonas_lite.data.sampling import TSNSampler, tsn_test_indices
from videonas_lite.data.synthetic import class_names
from videonas_lite.data.transforms import eval_transform, train_transform
from videonas_lite.data.video import VideoReadError


def test_reads_the_embedded_dataset_like_ucf101(tiny_dataset):
    train = VideoClipDataset.ucf101(tiny_dataset, 1, "train")
    test = VideoClipDataset.ucf101(tiny_dataset, 1, "test")
    assert train.classes == class_names("motion", TINY.classes)
    assert len(train) + len(test) == TINY.classes * TINY.videos_per_class
    assert train.train and not test.train
    clip, label = train[0]
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.uint8 and 0 <= label < TINY.classes
    assert train.hflip_preserves_label is False, "the motion manifest says flips change labels"


def test_items_with_transform_and_path(tiny_dataset):
    ds = VideoClipDataset.ucf101(tiny_dataset, 1, "test", transform=eval_transform(28), return_path=True)
    clip, label, path = ds[1]
    assert clip.shape == (3, 8, 28, 28) and clip.dtype == torch.float32
    assert path.endswith(".mp4") and ds.classes[label] in path


def test_test_sampling_is_uniform_and_train_sampling_reproducible(tiny_dataset):
    test = VideoClipDataset.ucf101(tiny_dataset, 1, "test")
    np.testing.assert_array_equal(test.load_frames(0)[1], tsn_test_indices(TINY.frames, 4, 2))
    train = VideoClipDataset.ucf101(tiny_dataset, 1, "train", transform=train_transform(24, hflip=False), seed=7)
    a, b = train[2][0], train[2][0]
    assert torch.equal(a, b), "the same (seed, epoch, index) gives the same clip"
    draws = set()
    for epoch in range(6):
        train.set_epoch(epoch)
        draws.add(tuple(train.load_frames(2)[1]))
    assert len(draws) > 1, "epochs draw different frames"


def test_dataloader_with_workers_gives_the_same_batches(tiny_dataset):
    ds = VideoClipDataset.ucf101(tiny_dataset, 1, "train", transform=train_transform(24, hflip=False))
    one = next(iter(DataLoader(ds, batch_size=4, collate_fn=collate_clips)))
    two = next(iter(DataLoader(ds, batch_size=4, num_workers=2, collate_fn=collate_clips)))
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])


def test_short_videos_repeat_frames(dataset_copy):
    name = class_names()[0]
    short = sorted((dataset_copy / name).glob("*.mp4"))[0]
    write_video(short, frames=3)  # replace a video with a 3-frame one
    ds = VideoClipDataset.ucf101(dataset_copy, 1, "train")
    index = [str(r.path) for r in ds.records].index(str(short)) if any(r.path == short for r in ds.records) else None
    ds = ds if index is not None else VideoClipDataset.ucf101(dataset_copy, 1, "test")
    index = [r.path for r in ds.records].index(short)
    frames, idx = ds.load_frames(index)
    assert frames.shape[0] == 8 and idx.max() <= 2 and np.all(np.diff(idx) >= 0)


# -- bad input: lists and folders ----------------------------------------------------------------


def test_missing_root(tmp_path):
    with pytest.raises(DatasetError, match=r"nowhere: not found; expected the dataset root"):
        VideoClipDataset.ucf101(tmp_path / "nowhere")


def test_missing_split_file(dataset_copy):
    (dataset_copy / "trainlist02.txt").unlink()
    with pytest.raises(DatasetError, match=r"trainlist02\.txt: not found; expected the split list"):
        VideoClipDataset.ucf101(dataset_copy, 2, "train")


def test_missing_class_index(dataset_copy):
    (dataset_copy / "classInd.txt").unlink()
    with pytest.raises(DatasetError, match=r"classInd\.txt: not found in"):
        VideoClipDataset.ucf101(dataset_copy)


def test_missing_class_folder(dataset_copy):
    name = class_names()[1]
    shutil.rmtree(dataset_copy / name)
    with pytest.raises(DatasetError, match=rf"{name}: not found; expected a folder of videos for class"):
        VideoClipDataset.ucf101(dataset_copy)


def test_split_line_with_unknown_class(dataset_copy):
    with open(dataset_copy / "trainlist01.txt", "a") as f:
        f.write("Juggling/v_Juggling_g01_c01.mp4 1\n")
    with pytest.raises(DatasetError, match=r"trainlist01\.txt:\d+: unknown class 'Juggling'"):
        VideoClipDataset.ucf101(dataset_copy)


def test_split_line_with_wrong_label(dataset_copy):
    lines = (dataset_copy / "trainlist01.txt").read_text().splitlines()
    path, _ = lines[0].split()
    lines[0] = f"{path} 4"
    (dataset_copy / "trainlist01.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"trainlist01\.txt:1: label '4' does not match class"):
        VideoClipDataset.ucf101(dataset_copy)


def test_split_line_naming_a_missing_file(dataset_copy):
    victim = VideoClipDataset.ucf101(dataset_copy).records[0].path
    victim.unlink()
    with pytest.raises(DatasetError, match=rf"1 video file\(s\) named in the split list do not exist, e.g. {victim}"):
        VideoClipDataset.ucf101(dataset_copy)
    with pytest.warns(UserWarning, match="skipping 1 missing video"):
        ds = VideoClipDataset.ucf101(dataset_copy, on_bad_video="skip")
    assert ds.skipped == {str(victim): "file not found"}
    assert all(r.path != victim for r in ds.records)


# -- bad input: video files -----------------------------------------------------------------------


def _break(dataset, how: str):
    ds = VideoClipDataset.ucf101(dataset)
    victim = ds.records[1].path
    if how == "empty":
        victim.write_bytes(b"")
    elif how == "unreadable":
        victim.write_bytes(b"garbage" * 50)
    elif how == "truncated":
        victim.write_bytes(victim.read_bytes()[:300])
    elif how == "short":
        write_video(victim, frames=4)
    return victim


@pytest.mark.parametrize("how", ["empty", "unreadable", "truncated"])
def test_bad_video_raises_naming_the_file(dataset_copy, how):
    victim = _break(dataset_copy, how)
    ds = VideoClipDataset.ucf101(dataset_copy)
    with pytest.raises(VideoReadError, match=str(victim)):
        ds[1]


def test_video_with_fewer_frames_than_required(dataset_copy):
    victim = _break(dataset_copy, "short")
    ds = VideoClipDataset.ucf101(dataset_copy, min_frames=8)
    with pytest.raises(VideoReadError, match=rf"{victim}: has 4 frames, expected at least 8"):
        ds[1]


@pytest.mark.parametrize("how", ["empty", "unreadable", "truncated", "short"])
def test_skip_policy_survives_one_bad_video(dataset_copy, how):
    victim = _break(dataset_copy, how)
    ds = VideoClipDataset.ucf101(dataset_copy, on_bad_video="skip", min_frames=8, transform=eval_transform(24))
    with pytest.warns(UserWarning, match="skipping bad video"):
        batches = list(DataLoader(ds, batch_size=4, collate_fn=collate_clips))
    assert sum(len(b[1]) for b in batches) == len(ds) - 1, "exactly one sample lost"
    assert list(ds.skipped) == [str(victim)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one warning per file, not one per visit
        assert ds[1] is None


def test_validate_finds_and_removes_bad_videos_up_front(dataset_copy):
    victim = _break(dataset_copy, "unreadable")
    ds = VideoClipDataset.ucf101(dataset_copy, on_bad_video="skip")
    n = len(ds)
    bad = ds.validate(progress=False)
    assert list(bad) == [str(victim)] and len(ds) == n - 1
    strict = VideoClipDataset.ucf101(dataset_copy)
    assert list(strict.validate(progress=False)) == [str(victim)] and len(strict) == n, "raise policy only reports"


def test_bad_policy_value(tiny_dataset):
    with pytest.raises(ValueError, match="on_bad_video must be one of"):
        VideoClipDataset.ucf101(tiny_dataset, on_bad_video="ignore")


# -- HMDB51 layout ----------------------------------------------------------------------------------


def test_hmdb51_layout(tmp_path):
    root = tmp_path / "hmdb51"
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True)
    for name in ("wave", "brush_hair"):
        lines = []
        for k, tag in enumerate(["1", "1", "2", "0"]):
            write_video(root / name / f"{name}_{k}.avi", frames=6)
            lines.append(f"{name}_{k}.avi {tag} ")
        (splits / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    train, classes = hmdb51_records(root, 1, "train")
    test, _ = hmdb51_records(root, 1, "test")
    assert classes == ["brush_hair", "wave"], "classes sorted by name"
    assert len(train) == 4 and len(test) == 2
    ds = VideoClipDataset.hmdb51(root, 1, "test", sampler=TSNSampler(2, 1))
    assert ds[0][0].shape == (3, 2, 32, 32) and ds[0][1] == 0
    (splits / "wave_test_split1.txt").write_text("wave_0.avi 7\n")
    with pytest.raises(DatasetError, match=r"wave_test_split1\.txt:1: expected '<video> <0\|1\|2>'"):
        hmdb51_records(root, 1, "train")
    with pytest.raises(DatasetError, match=r"no '<class>_test_split2\.txt' files found"):
        hmdb51_records(root, 2, "train")


def test_a_key_with_its_epoch_draws_as_set_epoch_does(tiny_dataset):
    ds = VideoClipDataset.ucf101(tiny_dataset, 1, "train", transform=train_transform(24, hflip=False), seed=5)
    for epoch in (0, 3):
        ds.set_epoch(epoch)
        plain = ds[6][0]
        ds.set_epoch(99)  # a key's own epoch wins over the dataset's
        assert torch.equal(ds[(epoch, 6)][0], plain)
    with pytest.raises(ValueError, match=r"an index or an \(epoch, index\) pair, got 'a'"):
        ds["a"]


def test_the_epoch_order_is_the_loaders_earlier_rule_and_ranks_slice_its_global_batches():
    """Before data/epochs.py the loaders were DataLoader(shuffle=True, drop_last=True) with a generator seeded
    seed * 1_000_003 + 2 * epoch + stream; the sampler must give the same batches (earlier runs keep their numbers),
    and the ranks' slices, concatenated in rank order, must be those global batches."""
    from videonas_lite.data.epochs import EpochBatches

    indices = list(range(100, 123))
    for epoch, stream in ((0, 0), (1, 1), (4, 0)):
        old = DataLoader(indices, 4, shuffle=True, drop_last=True, generator=torch.Generator())
        old.generator.manual_seed(7 * 1_000_003 + 2 * epoch + stream)
        samplers = [EpochBatches(indices, 4, 7, stream, rank, world) for rank, world in ((0, 1), (0, 2), (1, 2))]
        for s in samplers:
            s.set_epoch(epoch)
        whole, first, second = (list(s) for s in samplers)
        assert [[i for _, i in b] for b in whole] == [b.tolist() for b in old] and len(whole) == 23 // 4
        assert all(e == epoch for b in whole for e, _ in b)
        assert [a + b for a, b in zip(first, second, strict=True)] == whole and all(len(b) == 2 for b in first)


def test_persistent_workers_draw_each_epoch_like_the_main_process(tiny_dataset):
    """Workers that live across epochs (persistent_workers=True) get the epoch inside each key: epoch 1's
    clips differ from epoch 0's and equal, tensor for tensor, what num_workers=0 loads for that epoch."""
    from videonas_lite.data.epochs import EpochBatches

    ds = VideoClipDataset.ucf101(tiny_dataset, 1, "train", transform=train_transform(24, hflip=False), seed=2)

    def loader(workers: int) -> DataLoader:
        extra = dict(persistent_workers=True, prefetch_factor=2) if workers else {}
        return DataLoader(ds, batch_sampler=EpochBatches(range(len(ds)), 4, seed=2), collate_fn=collate_clips,
                          num_workers=workers, **extra)  # fmt: skip

    main, workers = loader(0), loader(2)
    clips = {}
    for epoch in (0, 1):
        for dl in (main, workers):
            dl.batch_sampler.set_epoch(epoch)
        ds.set_epoch(epoch)  # the earlier way, in this process: plain indices after set_epoch
        earlier = [collate_clips([ds[i] for _, i in keys]) for keys in main.batch_sampler]
        ds.set_epoch(0)  # the loaders must not depend on it
        ours, theirs = list(main), list(workers)
        assert len(ours) == len(theirs) == len(earlier) == 2
        for (a, ya), (b, yb), (c, yc) in zip(ours, theirs, earlier, strict=True):
            assert torch.equal(a, b) and torch.equal(ya, yb) and torch.equal(b, c) and torch.equal(yb, yc)
        clips[epoch] = {i: clip for keys, (x, _) in zip(main.batch_sampler, theirs, strict=True)
                        for (_, i), clip in zip(keys, x, strict=True)}  # fmt: skip
    assert workers._iterator is not None and workers._iterator._workers[0].is_alive()  # the same workers, kept
    both = sorted(set(clips[0]) & set(clips[1]))
    assert both and all(not torch.equal(clips[0][i], clips[1][i]) for i in both), "epoch 1 repeated epoch 0's draws"
