"""Split-list video datasets: UCF101's and HMDB51's layouts, used unchanged for the embedded dataset.

Taught by notebook 01 (its clips feed notebooks 02-05).

UCF101 layout (``root`` holds class folders; the lists sit in ``root`` or ``root/ucfTrainTestlist``)::

    classInd.txt        "1 ApplyEyeMakeup"              (1-based class index)
    trainlist0k.txt     "ApplyEyeMakeup/v_..._g08_c01.avi 1"
    testlist0k.txt      "ApplyEyeMakeup/v_..._g01_c01.avi"

HMDB51 layout (``root/<class>/<video>.avi``; lists in ``root/testTrainMulti_7030_splits`` or ``root``)::

    <class>_test_split<k>.txt   "<video>.avi 1"   (1 = train, 2 = test, 0 = unused); classes sorted by name

A :class:`VideoClipDataset` item is ``(clip, label)`` - clip ``(C, T, H, W)``, float after the
transforms of ``transforms.py`` (uint8 without a transform), label 0-based - or ``(clip, label, path)``
with ``return_path=True``. Sampling and augmentation draw from a generator
seeded by ``(seed, epoch, index)``, so an item is the same in any worker, order or resumed run. The key is
an ``index`` (the epoch of :meth:`VideoClipDataset.set_epoch`) or an ``(epoch, index)`` pair, which carries its
epoch to DataLoader workers that live across epochs (``data/epochs.py``: ``persistent_workers=True``).

Bad input. A missing root, list file or class folder, a list line naming an unknown class or a
missing file: :class:`DatasetError` naming the path and what was expected. An unreadable, empty,
truncated or too-short video: :class:`~videonas_lite.data.video.VideoReadError`. With
``on_bad_video="skip"`` a bad *video* (missing, unreadable, too short) is instead skipped with one
warning and counted in ``dataset.skipped``: ``__getitem__`` returns ``None`` and :func:`collate_clips`
drops it, so one bad file costs one sample, not a long run. (With DataLoader workers each worker
counts its own; the loss of samples shows in the batch sizes.) List errors always raise.
``exclude`` (``{path: problem}``, e.g. :func:`~videonas_lite.data.check.check_dataset`'s ``bad``) leaves
videos found bad up front out of ``records`` and counts them in ``skipped``.

``cache=True`` decodes a video whole the first time and keeps its frames in :class:`DecodedVideos`, one store
per process shared by every caching dataset: the search's step and evaluation views of the training videos,
and the runs of a comparison, decode each file once.
"""

from __future__ import annotations

import json
import operator
import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

from videonas_lite.data.sampling import FrameSampler, TSNSampler
from videonas_lite.data.transforms import as_video
from videonas_lite.data.video import VideoInfo, VideoReadError, probe_video, read_clip

__all__ = [
    "DatasetError",
    "VideoClipDataset",
    "VideoRecord",
    "collate_clips",
    "hmdb51_records",
    "ucf101_records",
]

BAD_VIDEO_POLICIES = ("raise", "skip")


class DatasetError(ValueError):
    """A dataset folder or split list is missing or inconsistent."""


@dataclass(frozen=True)
class VideoRecord:
    path: Path
    label: int  # 0-based


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise DatasetError(f"{path}: not found; expected {what}")
    return path


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _find_list_dir(root: Path, name: str, subfolders: Sequence[str]) -> Path:
    for folder in [root, *(root / s for s in subfolders)]:
        if (folder / name).is_file():
            return folder
    looked = ", ".join(str(f) for f in [root, *(root / s for s in subfolders)])
    raise DatasetError(f"{name}: not found in {looked}; see data/README.md for the expected layout")


def ucf101_records(
    root: str | os.PathLike, split: int = 1, subset: str = "train", list_dir: str | os.PathLike | None = None
) -> tuple[list[VideoRecord], list[str]]:
    """Records and class names of UCF101 split ``split`` (1-3), ``subset`` 'train' or 'test'."""
    root = _require(Path(root), "the dataset root folder (class folders + split lists)")
    if split not in (1, 2, 3) or subset not in ("train", "test"):
        raise DatasetError(f"split must be 1-3 and subset 'train' or 'test', got split={split!r} subset={subset!r}")
    list_name = f"{subset}list{split:02d}.txt"
    lists = Path(list_dir) if list_dir else _find_list_dir(root, "classInd.txt", ["ucfTrainTestlist"])
    class_file = _require(lists / "classInd.txt", "classInd.txt with lines '<index> <ClassName>'")
    classes = {}
    for n, line in enumerate(_lines(class_file), 1):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise DatasetError(f"{class_file}:{n}: expected '<index> <ClassName>', got {line!r}")
        classes[parts[1]] = int(parts[0]) - 1
    names = [name for name, _ in sorted(classes.items(), key=lambda kv: kv[1])]
    if [classes[n] for n in names] != list(range(len(names))):
        raise DatasetError(f"{class_file}: class indices must be 1..{len(names)} without gaps")
    for name in names:
        _require(root / name, f"a folder of videos for class {name!r} (listed in {class_file})")

    split_file = _require(lists / list_name, f"the split list {list_name}")
    records = []
    for n, line in enumerate(_lines(split_file), 1):
        rel, *rest = line.split()
        folder = rel.replace("\\", "/").split("/")[0]
        if folder not in classes:
            raise DatasetError(
                f"{split_file}:{n}: unknown class {folder!r} in {rel!r}; classInd.txt has {len(names)} classes"
            )
        if rest and (not rest[0].isdigit() or int(rest[0]) - 1 != classes[folder]):
            raise DatasetError(
                f"{split_file}:{n}: label {rest[0]!r} does not match class {folder!r} (index {classes[folder] + 1})"
            )
        records.append(VideoRecord(root / rel, classes[folder]))
    return records, names


def hmdb51_records(
    root: str | os.PathLike, split: int = 1, subset: str = "train", list_dir: str | os.PathLike | None = None
) -> tuple[list[VideoRecord], list[str]]:
    """Records and class names of HMDB51 split ``split`` (1-3); ``subset`` 'train' (id 1) or 'test' (id 2)."""
    root = _require(Path(root), "the dataset root folder (class folders + split files)")
    if split not in (1, 2, 3) or subset not in ("train", "test"):
        raise DatasetError(f"split must be 1-3 and subset 'train' or 'test', got split={split!r} subset={subset!r}")
    lists = Path(list_dir) if list_dir else None
    if lists is None:
        for folder in (root / "testTrainMulti_7030_splits", root):
            if folder.is_dir() and any(folder.glob(f"*_test_split{split}.txt")):
                lists = folder
                break
        else:
            raise DatasetError(f"{root}: no '<class>_test_split{split}.txt' files found; see data/README.md")
    pattern = re.compile(rf"(.+)_test_split{split}\.txt$")
    files = sorted(p for p in lists.iterdir() if pattern.match(p.name))
    names = [pattern.match(p.name).group(1) for p in files]
    wanted = "1" if subset == "train" else "2"
    records = []
    for label, (name, split_file) in enumerate(zip(names, files, strict=True)):
        folder = _require(root / name, f"a folder of videos for class {name!r} (named by {split_file.name})")
        for n, line in enumerate(_lines(split_file), 1):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DatasetError(f"{split_file}:{n}: expected '<video> <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                records.append(VideoRecord(folder / parts[0], label))
    return records, names


class DecodedVideos:
    """Whole decoded videos in memory, one copy per file and decode setting (what ``cache=True`` reads from).

    An entry is keyed by the file's path, size and modification time and by the decode settings, so a file
    rewritten in place is decoded again. Past ``max_bytes`` the entries read longest ago are dropped.
    """

    def __init__(self, max_bytes: int = 4 << 30):
        self.max_bytes = max_bytes
        self._frames: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.nbytes = 0

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, path: Path, settings: tuple, decode: Callable[[], np.ndarray]) -> np.ndarray:
        """The frames of ``path`` decoded with ``settings``; ``decode()`` makes them on a miss."""
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, settings)
        if key in self._frames:
            self._frames.move_to_end(key)
            return self._frames[key]
        frames = decode()
        frames.setflags(write=False)  # shared by every dataset that reads the file: clips index copies of it
        self._frames[key] = frames
        self.nbytes += frames.nbytes
        while self.nbytes > self.max_bytes and len(self._frames) > 1:
            self.nbytes -= self._frames.popitem(last=False)[1].nbytes
        return frames

    def clear(self) -> None:
        self._frames.clear()
        self.nbytes = 0


class VideoClipDataset(Dataset):
    """Clips sampled from a list of videos (see the module docstring for items, seeding and errors)."""

    decoded = DecodedVideos()
    """The process's store of whole decoded videos, read with ``cache=True``."""

    def __init__(
        self,
        records: Sequence[VideoRecord],
        classes: Sequence[str],
        sampler: FrameSampler | None = None,
        transform: Callable | None = None,
        train: bool = True,
        seed: int = 0,
        short_side: int | None = None,
        min_frames: int = 1,
        on_bad_video: str = "raise",
        return_path: bool = False,
        hflip_preserves_label: bool = True,
        cache: bool = False,
        draws: int = 1,
        exclude: dict[str, str] | None = None,
    ):
        if on_bad_video not in BAD_VIDEO_POLICIES:
            raise ValueError(f"on_bad_video must be one of {BAD_VIDEO_POLICIES}, got {on_bad_video!r}")
        self.classes = list(classes)
        self.sampler = sampler or TSNSampler()
        self.transform = transform
        self.train, self.seed, self.epoch = train, seed, 0
        self.short_side, self.min_frames = short_side, min_frames
        self.on_bad_video, self.return_path = on_bad_video, return_path
        self.hflip_preserves_label = hflip_preserves_label
        self.skipped: dict[str, str] = {}
        self._info: dict[Path, VideoInfo] = {}  # per-video size, learnt once
        self.cache = cache
        if not isinstance(draws, int) or draws < 1:
            raise ValueError(f"draws must be a positive integer, got {draws!r}")
        self.draws = draws  # items per video and epoch: item j is video j % len(records), its own random draw
        exclude = exclude or {}
        self.skipped.update((str(r.path), exclude[str(r.path)]) for r in records if str(r.path) in exclude)
        self.records = self._drop_missing([r for r in records if str(r.path) not in exclude])

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def ucf101(cls, root: str | os.PathLike, split: int = 1, subset: str = "train", **kwargs) -> VideoClipDataset:
        """UCF101 layout (also the embedded dataset's); ``train`` defaults to ``subset == 'train'``."""
        records, classes = ucf101_records(root, split, subset, kwargs.pop("list_dir", None))
        kwargs.setdefault("train", subset == "train")
        manifest = Path(root) / "videonas_synth.json"
        if manifest.is_file():
            kwargs.setdefault("hflip_preserves_label", json.loads(manifest.read_text())["hflip_preserves_label"])
        return cls(records, classes, **kwargs)

    @classmethod
    def hmdb51(cls, root: str | os.PathLike, split: int = 1, subset: str = "train", **kwargs) -> VideoClipDataset:
        records, classes = hmdb51_records(root, split, subset, kwargs.pop("list_dir", None))
        kwargs.setdefault("train", subset == "train")
        return cls(records, classes, **kwargs)

    def _drop_missing(self, records: list[VideoRecord]) -> list[VideoRecord]:
        missing = [r for r in records if not r.path.is_file()]
        if not missing:
            return records
        if self.on_bad_video == "raise":
            shown = ", ".join(str(r.path) for r in missing[:3])
            raise DatasetError(
                f"{len(missing)} video file(s) named in the split list do not exist, e.g. {shown}; "
                "pass on_bad_video='skip' to leave them out"
            )
        for r in missing:
            self.skipped[str(r.path)] = "file not found"
        warnings.warn(f"skipping {len(missing)} missing video file(s), e.g. {missing[0].path}", stacklevel=3)
        return [r for r in records if r.path.is_file()]

    # -- items ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.records) * self.draws

    def set_epoch(self, epoch: int) -> None:
        """Select the random draws of ``epoch`` (sampling and augmentation differ per epoch, reproducibly)."""
        self.epoch = int(epoch)

    def _rng(self, index: int, epoch: int | None = None) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if epoch is None else epoch, index])

    def _key(self, key) -> tuple[int | None, int]:
        """``(epoch, index)`` of a key: an index (epoch ``None``: :meth:`set_epoch`'s) or an ``(epoch, index)`` pair."""
        if isinstance(key, tuple | list) and len(key) == 2:
            return int(key[0]), int(key[1])
        try:
            return None, operator.index(key)
        except TypeError:
            raise ValueError(f"a dataset key is an index or an (epoch, index) pair, got {key!r}") from None

    def load_frames(self, index: int, epoch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The raw uint8 frames ``(T, H, W, 3)`` of item ``index`` and their indices (no transform).

        ``epoch``: whose draws (``None``: the one of :meth:`set_epoch`).

        With ``cache=True`` a video is decoded whole the first time it is read and kept in memory (the
        embedded dataset is a few MB); later clips index the kept frames. Same frames as without the cache.
        """
        record = self.records[index % len(self.records)]
        rng = self._rng(index, epoch)
        if self.cache:
            frames = self.decoded.get(record.path, (self.short_side, self.min_frames), lambda: self._read(record.path))
            idx = np.asarray(self.sampler(len(frames), rng if self.train else None), dtype=np.int64)
            return frames[idx], idx
        if self.short_side is not None and record.path not in self._info:
            self._info[record.path] = probe_video(record.path)
        return read_clip(
            record.path,
            lambda n: self.sampler(n, rng if self.train else None),
            short_side=self.short_side,
            min_frames=self.min_frames,
            info=self._info.get(record.path),
        )

    def _read(self, path: Path) -> np.ndarray:
        """Every frame of ``path``, decoded at this dataset's short side."""
        if self.short_side is not None and path not in self._info:
            self._info[path] = probe_video(path)
        frames, _ = read_clip(path, np.arange, short_side=self.short_side, min_frames=self.min_frames,
                              info=self._info.get(path))  # fmt: skip
        return frames

    def __getitem__(self, key: int | tuple[int, int]):
        epoch, index = self._key(key)
        record = self.records[index % len(self.records)]
        try:
            frames, _ = self.load_frames(index, epoch)
        except VideoReadError as err:
            if self.on_bad_video == "raise":
                raise
            if err.path not in self.skipped:
                warnings.warn(f"skipping bad video {err}", stacklevel=2)
            self.skipped[err.path] = err.problem
            return None
        clip = torch.as_tensor(frames).permute(3, 0, 1, 2)  # (C, T, H, W) uint8
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):
                # the CPU generator only (the transforms' own): torch.manual_seed would also queue a seed for
                # every accelerator backend, formatting a stack trace each time (~2 ms a clip), and reseed CUDA's
                torch.default_generator.manual_seed(int(self._rng(index, epoch).integers(2**62)) + 1)
                clip = self.transform(as_video(frames))
        return (clip, record.label, str(record.path)) if self.return_path else (clip, record.label)

    def validate(self, progress: bool = True) -> dict[str, str]:
        """Open every video once (headers and frame count); return ``{path: problem}`` for the bad ones.

        Under ``on_bad_video='skip'`` the bad ones are also removed, so a long run never meets them.
        A truncated file whose header is intact is found only when its frames are decoded.
        """
        from tqdm.auto import tqdm

        bad: dict[str, str] = {}
        for record in tqdm(self.records, desc="checking videos", disable=not progress):
            try:
                info = probe_video(record.path)
                if info.num_frames < self.min_frames:
                    raise VideoReadError(
                        record.path, f"has {info.num_frames} frames, expected at least {self.min_frames}"
                    )
                self._info[record.path] = info
            except VideoReadError as err:
                bad[err.path] = err.problem
        if bad and self.on_bad_video == "skip":
            self.records = [r for r in self.records if str(r.path) not in bad]
            self.skipped.update(bad)
        return bad

    def labels(self) -> np.ndarray:
        return np.asarray([r.label for r in self.records], dtype=np.int64)


def collate_clips(batch: list):
    """``default_collate`` after dropping the ``None`` items of skipped videos; ``None`` if all were bad."""
    kept = [item for item in batch if item is not None]
    return default_collate(kept) if kept else None
