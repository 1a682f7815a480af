"""Reading frames from video files with decord, decoding only the frames a clip needs. Taught by notebook 01.

``read_clip(path, indices)`` opens the file, seeks, and decodes exactly the sampled frames
(``VideoReader.get_batch``), optionally resized by the decoder itself. PyAV decodes only what decord
cannot (below) and is the comparison in ``benchmarks/loading.py``.

Resizing at decode time. decord hands ``width``/``height`` to FFmpeg's scaler, which filters
properly when it shrinks a frame (no aliasing from point sampling). We let the decoder resize only
when it is *safe and correct*: when the target keeps the aspect ratio of the source (to within one
pixel of rounding) and never enlarges it. :func:`decode_size` computes such a size from a short-side
target; anything else (crops, jitter) happens later on tensors (``transforms.py``).

decord 0.6.0 mis-sizes the rows of frames 16, 24, 48 or 72 px wide (:data:`DECORD_BAD_WIDTHS`). When a
requested size has such a width, the frames are decoded at their native size and shrunk in torch
(bilinear with antialiasing), frame by frame, so a clip read whole or frame by frame is the same. A *file*
of such a width is decoded whole by PyAV instead (same FFmpeg decoder, identical pixels; such files are
small), then indexed and resized the same way.

Every failure becomes a :class:`VideoReadError` that names the file and says what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["DECORD_BAD_WIDTHS", "VideoInfo", "VideoReadError", "decode_size", "probe_video", "read_clip"]

# decord 0.6.0 mis-sizes the rows of videos these many pixels wide (every even width from 16 to 160
# was tried; only these fail), whether the file has that width or the decoder is asked to resize to it.
DECORD_BAD_WIDTHS = (16, 24, 48, 72)


class VideoReadError(RuntimeError):
    """A video file could not be used: missing, unreadable, empty, truncated or too short."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (frame count as decord reports it)."""

    path: str
    num_frames: int
    fps: float
    height: int
    width: int


def _open(path: str | os.PathLike, width: int = -1, height: int = -1):
    import decord

    p = Path(path)
    if not p.is_file():
        raise VideoReadError(p, "file not found (expected a readable video file)")
    if p.stat().st_size == 0:
        raise VideoReadError(p, "file is empty (0 bytes); expected an encoded video (.mp4/.avi)")
    try:
        return decord.VideoReader(str(p), ctx=decord.cpu(0), width=width, height=height, num_threads=1)
    except (RuntimeError, decord.DECORDError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise VideoReadError(p, f"cannot be decoded ({first}); is it a valid, complete video?") from err


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open ``path`` and report its frame count, fps and size; raise :class:`VideoReadError` if unusable."""
    reader = _open(path)
    num_frames = len(reader)
    if num_frames <= 0:
        raise VideoReadError(path, "contains no decodable frames")
    try:
        height, width = reader[0].shape[:2]
    except Exception as err:  # decord's row-padding bug at some widths: count and size by PyAV
        if not _decord_width_bug(err):
            raise VideoReadError(path, f"decoding frame 0 failed ({_first_line(err)}); truncated file?") from err
        frames = _decode_all_pyav(path)
        return VideoInfo(str(path), len(frames), float(reader.get_avg_fps()), *map(int, frames.shape[1:3]))
    return VideoInfo(str(path), num_frames, float(reader.get_avg_fps()), int(height), int(width))


def _first_line(err: BaseException) -> str:
    return str(err).splitlines()[0] if str(err) else type(err).__name__


def _decord_width_bug(err: BaseException) -> bool:
    """decord 0.6.0 fails to copy frames of the widths in :data:`DECORD_BAD_WIDTHS` with this error."""
    return "DECORDArrayCopyFromTo" in str(err)


def _decode_all_pyav(path: str | os.PathLike) -> np.ndarray:
    """Every frame of ``path`` as uint8 ``(N, H, W, 3)``, decoded by PyAV (the fallback for decord's bad widths)."""
    import av

    try:
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    except (av.FFmpegError, IndexError) as err:
        raise VideoReadError(path, f"PyAV cannot decode it either ({_first_line(err)}); truncated file?") from err
    if not frames:
        raise VideoReadError(path, "contains no decodable frames")
    return np.stack(frames)


def decode_size(height: int, width: int, short_side: int | None) -> tuple[int, int]:
    """The (height, width) to ask the decoder for so the short side becomes ``short_side``.

    Keeps the aspect ratio (rounded to whole pixels) and never enlarges: a source already at or
    below ``short_side`` is decoded at its own size. ``None`` means "native size".
    """
    if short_side is None or min(height, width) <= short_side:
        return height, width
    if short_side <= 0:
        raise ValueError(f"short_side must be positive, got {short_side}")
    scale = short_side / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


IndexSource = np.ndarray | list[int] | Callable[[int], np.ndarray]


def read_clip(
    path: str | os.PathLike,
    indices: IndexSource,
    short_side: int | None = None,
    min_frames: int = 1,
    info: VideoInfo | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Decode the sampled frames of ``path``: returns (uint8 frames ``(T, H, W, 3)``, the indices).

    ``indices`` is an index array, or a sampler ``f(num_frames) -> indices`` (``sampling.py``) called
    with this video's frame count, so a clip costs one open, one seek and only its own frames.
    ``short_side`` resizes in the decoder (see :func:`decode_size`); pass the video's cached
    ``info`` to skip the extra open that learning its size otherwise costs. Videos with fewer than
    ``min_frames`` frames raise :class:`VideoReadError`; an index outside ``[0, num_frames)`` is a
    caller bug and raises ``IndexError`` naming the file.
    """
    if short_side is not None and info is None:
        info = probe_video(path)
    out_h, out_w = (-1, -1) if short_side is None else decode_size(info.height, info.width, short_side)
    if info is not None and (out_h, out_w) == (info.height, info.width):
        out_h, out_w = -1, -1
    resize_after = out_w in DECORD_BAD_WIDTHS  # decode natively, shrink in torch (module docstring)
    reader = _open(path, width=-1 if resize_after else out_w, height=-1 if resize_after else out_h)
    num_frames = len(reader)
    if num_frames < max(1, min_frames):
        raise VideoReadError(path, f"has {num_frames} frames, expected at least {max(1, min_frames)}")
    idx = _indices(path, indices, num_frames)
    try:
        frames = reader.get_batch(idx.tolist()).asnumpy()
    except Exception as err:  # decord raises DECORDError/RuntimeError on broken streams
        if not _decord_width_bug(err):
            raise VideoReadError(path, f"decoding frames {idx.tolist()} failed ({_first_line(err)}); "
                                 "truncated file?") from err  # fmt: skip
        # a file of a width decord cannot copy: PyAV decodes it whole (module docstring)
        every = _decode_all_pyav(path)
        if len(every) < max(1, min_frames):
            raise VideoReadError(path, f"has {len(every)} frames, expected at least {max(1, min_frames)}") from None
        idx = _indices(path, indices, len(every)) if callable(indices) else idx
        if idx.size and idx.max() >= len(every):
            raise IndexError(f"{path}: frame indices {idx.tolist()} outside [0, {len(every)})") from None
        frames = every[idx]
        if out_h != -1:
            frames = _shrink(frames, out_h, out_w)
        return frames, idx
    if frames.ndim != 4 or frames.shape[0] != idx.size:
        raise VideoReadError(path, f"decoder returned shape {frames.shape}, expected ({idx.size}, H, W, 3)")
    if resize_after:
        frames = _shrink(frames, out_h, out_w)
    return frames, idx


def _indices(path: str | os.PathLike, indices: IndexSource, num_frames: int) -> np.ndarray:
    """The frame indices of a clip, checked against the video's frame count (a bad index is a caller bug)."""
    idx = np.asarray(indices(num_frames) if callable(indices) else indices, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= num_frames):
        raise IndexError(f"{path}: frame indices {idx.tolist()} outside [0, {num_frames})")
    return idx


def _shrink(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 ``(T, H, W, 3)`` frames resized to ``(height, width)``: bilinear with antialiasing, per frame."""
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
