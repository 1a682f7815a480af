"""The up-front check of a dataset's videos, before a long run meets a bad one in its tenth epoch.

Every video named by a split's lists (train and test) is opened and its *last* frame decoded: a missing,
empty, foreign, truncated or too-short file is found here, not mid-epoch (a truncated mp4 whose header
survived opens fine and fails only when its late frames are decoded). Results are cached per file by size
and modification time, so the second run on an unchanged dataset checks nothing. The CLI's long commands
(``videonas search/retrain/evaluate/compare/probe``) run it first and either stop with one line per bad file
(``--on-bad-video stop``) or leave the bad files out and record them (``--on-bad-video skip``); the datasets
(``data/datasets.py``) take the result as ``exclude``. Issue 13; README "Bad videos".
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from videonas_lite.data.datasets import DatasetError, ucf101_records
from videonas_lite.data.video import VideoReadError, probe_video, read_clip

__all__ = ["CheckResult", "cache_path", "check_dataset", "check_videos"]

CACHE_VERSION = 1


@dataclass
class CheckResult:
    """What :func:`check_videos` found: ``bad`` maps a path to its problem; ``cached`` files were not reopened."""

    checked: int
    bad: dict[str, str] = field(default_factory=dict)
    cached: int = 0

    def summary(self) -> str:
        if not self.bad:
            return f"{self.checked} videos checked, all usable ({self.cached} unchanged since the last check)"
        return f"{len(self.bad)} of {self.checked} videos unusable"


def _frames_or_problem(path: Path) -> tuple[int, str | None]:
    """(frame count, None) for a video whose last frame decodes, else (0, the problem)."""
    try:
        info = probe_video(path)
        read_clip(path, [info.num_frames - 1], info=info)
    except VideoReadError as err:
        return 0, err.problem
    return info.num_frames, None


def cache_path(root: str | os.PathLike) -> Path:
    """Where the check of ``root`` is cached: ``$XDG_CACHE_HOME/videonas-lite/check-<hash of root>.json``."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "videonas-lite"
    return base / f"check-{hashlib.sha1(str(Path(root).resolve()).encode()).hexdigest()[:16]}.json"


def _load_cache(path: Path | None) -> dict[str, dict]:
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a damaged cache is only a slower check
    return data.get("videos", {}) if isinstance(data, dict) and data.get("version") == CACHE_VERSION else {}


def _save_cache(path: Path | None, videos: dict[str, dict]) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "videos": videos}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: the check still ran, the next one runs again


def check_videos(
    paths: list[Path], min_frames: int = 1, cache_file: Path | None = None, progress: bool | None = None
) -> CheckResult:
    """Open every video of ``paths`` and decode its last frame (cached by size and mtime in ``cache_file``).

    ``progress``: a bar on stderr; ``None`` shows it only on a terminal (logs and captured output stay clean).
    """
    from tqdm.auto import tqdm

    cache = _load_cache(cache_file)
    result = CheckResult(checked=len(paths))
    for path in tqdm(paths, desc="checking videos", unit="video", disable=None if progress is None else not progress):
        key = str(path)
        try:
            stat = path.stat()
        except OSError:
            result.bad[key] = "file not found (expected a readable video file)"
            continue
        seen = cache.get(key)
        if seen and seen["size"] == stat.st_size and seen["mtime_ns"] == stat.st_mtime_ns:
            result.cached += 1
            frames, problem = seen["frames"], seen["problem"]
        else:
            frames, problem = _frames_or_problem(path)
            cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "frames": frames, "problem": problem}
        if problem is None and frames < min_frames:
            problem = f"has {frames} frames, expected at least {min_frames}"
        if problem is not None:
            result.bad[key] = problem
    _save_cache(cache_file, cache)
    return result


def check_dataset(
    root: str | os.PathLike, split: int = 1, min_frames: int = 1, progress: bool | None = None, cache: bool = True
) -> CheckResult:
    """Check every video of split ``split`` of the UCF101-layout folder ``root`` (train and test lists).

    A broken *list* (a missing class folder, an unknown class) still raises
    :class:`~videonas_lite.data.datasets.DatasetError`: that is not one bad video but a bad dataset.
    """
    paths: dict[str, Path] = {}
    for subset in ("train", "test"):
        records, _ = ucf101_records(root, split, subset)
        paths.update((str(r.path), r.path) for r in records)
    if not paths:
        raise DatasetError(f"{root}: split {split} lists no videos")
    return check_videos(list(paths.values()), min_frames, cache_path(root) if cache else None, progress)
