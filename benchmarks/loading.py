"""Clip-loading throughput: decord vs PyAV on TSN clips of the embedded dataset (default profile size).

Per clip, each reader opens the file, seeks, decodes the 8 sampled frames to RGB uint8 and closes it:

* decord: ``videonas_lite.data.video.read_clip`` (``VideoReader.get_batch``), as the datasets use it;
* PyAV: ``av.open``; for each sampled frame, decode on if it is near, else seek to the keyframe
  before it; convert the sampled ones (``to_ndarray(format="rgb24")``);
* pipeline: ``VideoClipDataset`` with the training transform (decord + crop + normalise), i.e. what a
  DataLoader worker does per item.

Two sets of videos: the default embedded dataset (32 frames of 64x64, one keyframe per video), and
12 UCF101-length videos (300 frames of 112x112, a keyframe every 12 frames) written by this script.
Both readers get the same frame indices; the script checks they return the same pixels.
Run: ``make bench`` or ``.venv/bin/python benchmarks/loading.py``; writes
``benchmarks/results/loading.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import av
import numpy as np
import torch

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.synthetic import ensure_dataset
from videonas_lite.data.transforms import train_transform
from videonas_lite.data.video import read_clip
from videonas_lite.profiles import get_profile

RESULTS = Path(__file__).resolve().parent / "results" / "loading.json"


def pyav_clip(path: Path, indices: np.ndarray, seek_gap: int = 12) -> np.ndarray:
    """Open, then for each wanted frame either decode on (if it is near) or seek to the keyframe before it."""
    kept: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        per_frame = round(1 / (stream.average_rate * stream.time_base))  # pts units per frame
        start = stream.start_time or 0
        frames, position = None, -1
        for target in sorted(set(indices.tolist())):
            if frames is None or target - position > seek_gap:
                container.seek(start + target * per_frame, stream=stream, backward=True, any_frame=False)
                frames = container.decode(stream)
            for frame in frames:
                position = (frame.pts - start) // per_frame
                if position == target:
                    kept[target] = frame.to_ndarray(format="rgb24")
                    break
    return np.stack([kept[i] for i in indices.tolist()])


def write_long_videos(folder: Path, count: int, frames: int, size: int, gop: int) -> list[Path]:
    """UCF101-like videos (about 10 s at 30 fps, a keyframe every ``gop`` frames), from the generator."""
    from videonas_lite.data.synthetic import SynthConfig, render_video

    folder.mkdir(parents=True, exist_ok=True)
    config = SynthConfig(frames=frames, size=size)
    paths = []
    for k in range(count):
        path = folder / f"long_{k:02d}.mp4"
        if not path.exists():
            with av.open(str(path), "w") as container:
                stream = container.add_stream("libx264", rate=30)
                stream.width = stream.height = size
                stream.pix_fmt = "yuv420p"
                stream.options = {"crf": "20", "g": str(gop), "threads": "1"}
                for frame in render_video(config, k % config.classes, 0, k):
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                container.mux(stream.encode())
        paths.append(path)
    return paths


def _time(fn, jobs, repeats: int) -> dict:
    for job in jobs[: max(1, len(jobs) // 10)]:  # warm the file cache and the libraries
        fn(*job)
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for job in jobs:
            fn(*job)
        rates.append(len(jobs) / (time.perf_counter() - start))
    return {"clips_per_s": round(statistics.median(rates), 1), "ms_per_clip": round(1000 / statistics.median(rates), 3),
            "runs_clips_per_s": [round(r, 1) for r in rates]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--long-videos", type=int, default=12)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()

    torch.set_num_threads(1)
    profile = get_profile(args.profile)
    root = ensure_dataset(profile.dataset_dir(), profile.synth_config())
    sampler = TSNSampler(profile.num_segments, profile.frames_per_segment)
    dataset = VideoClipDataset.ucf101(
        root, 1, "train", sampler=sampler, transform=train_transform(profile.crop_size, hflip=False)
    )
    rng = np.random.default_rng(0)
    jobs = [(r.path, sampler(profile.synth_frames, rng)) for r in dataset.records]

    long_paths = write_long_videos(Path(root).parent / "bench-long", args.long_videos, 300, 112, 12)
    long_jobs = [(p, sampler(300, rng)) for p in long_paths for _ in range(4)]
    diffs = [np.abs(read_clip(p, i)[0].astype(int) - pyav_clip(p, i)).mean() for p, i in jobs[:20] + long_jobs[:8]]
    result = {
        "what": "TSN training clips (Ns x Nr frames, random) from the embedded dataset, one process, one thread",
        "profile": profile.name,
        "dataset": {"videos": len(jobs), "frames": profile.synth_frames, "size": profile.synth_size},
        "clip_frames": profile.clip_frames,
        "decord": _time(lambda p, i: read_clip(p, i), jobs, args.repeats),
        "pyav": _time(pyav_clip, jobs, args.repeats),
        "pipeline_decord_plus_transform": _time(dataset.__getitem__, [(k,) for k in range(len(dataset))], args.repeats),
        "long_videos": {
            "what": "300 frames of 112x112 at 30 fps, keyframe every 12 frames (UCF101-like length), 4 TSN clips each",
            "videos": len(long_paths),
            "decord": _time(lambda p, i: read_clip(p, i), long_jobs, args.repeats),
            "pyav_seek": _time(pyav_clip, long_jobs, args.repeats),
        },
        "mean_abs_pixel_difference_decord_vs_pyav": round(float(np.mean(diffs)), 3),
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version(), "torch": torch.__version__, "av": av.__version__},
    }  # fmt: skip
    result["speedup_decord_over_pyav"] = round(result["decord"]["clips_per_s"] / result["pyav"]["clips_per_s"], 2)
    long = result["long_videos"]
    long["speedup_decord_over_pyav"] = round(long["decord"]["clips_per_s"] / long["pyav_seek"]["clips_per_s"], 2)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
