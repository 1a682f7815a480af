"""The CLI pipeline on a UCF101-layout folder of .avi files, as a user with UCF101 on disk has it.

The embedded dataset is mp4 (H.264); UCF101 itself is XviD (MPEG-4 Part 2) in .avi containers, 320x240,
with its split lists in a separate ``ucfTrainTestlist`` folder. This module writes a miniature of exactly
that - XviD .avi files 40x30 (UCF101's 4:3), ``<Class>/v_<Class>_gXX_cYY.avi``, ``classInd.txt`` and the
``trainlist01``/``testlist01`` lists in ``ucfTrainTestlist/`` with CRLF line endings, no embedded-dataset
manifest - and checks that the dataset reader decodes it and that ``videonas search``, ``derive``,
``retrain``, ``evaluate`` and ``compare`` run end to end on it with the ``ci`` profile and write consistent
outputs. One epoch cannot learn anything, so nothing here asserts accuracy beyond being a fraction.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from videonas_lite.cli import main
from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.synthetic import SynthConfig, render_video
from videonas_lite.data.video import probe_video, read_clip

CLASSES = ("ApplyEyeMakeup", "Basketball", "YoYo")  # real UCF101 class names (classInd.txt lines 1, 8, 101)
GROUPS, CLIPS = 3, 2  # per class: group 1 is the test split (UCF101's split 1 tests groups 1-7), 2-3 train
FRAMES, HEIGHT, WIDTH = 12, 30, 40
# The scenes of the embedded dataset's generator (two actors: 4 classes, of which we use 3), cut to 4:3.
SCENES = SynthConfig(classes=4, videos_per_class=GROUPS * CLIPS, frames=FRAMES, size=WIDTH, seed=5,
                     actors=("sweeper", "twins"))  # fmt: skip


def scene(label: int, group: int, clip: int) -> np.ndarray:
    """The uint8 frames ``(T, 30, 40, 3)`` of one video: the generator's square scene, cut to 4:3."""
    frames = render_video(SCENES, label, group, clip)
    return np.ascontiguousarray(frames[:, (WIDTH - HEIGHT) // 2 : (WIDTH + HEIGHT) // 2])


def write_avi(frames: np.ndarray, path: Path, fps: int = 25) -> Path:
    """uint8 ``(T, H, W, 3)`` frames as an XviD-tagged MPEG-4 Part 2 .avi (UCF101's codec and container)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.codec_tag, stream.bit_rate = "XVID", 1_000_000  # FFmpeg's default 200 kb/s smears these frames
        stream.codec_context.thread_count = 1
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def avi_dataset(tmp_path_factory) -> Path:
    """3 classes x 3 groups x 2 clips of .avi in UCF101's layout: 12 training videos, 6 test videos."""
    root = tmp_path_factory.mktemp("ucf101") / "UCF-101"
    train, test = [], []
    for label, name in enumerate(CLASSES):
        for group in range(GROUPS):
            for clip in range(CLIPS):
                rel = f"{name}/v_{name}_g{group + 1:02d}_c{clip + 1:02d}.avi"
                write_avi(scene(label, group, clip), root / rel)
                (test.append(rel) if group == 0 else train.append(f"{rel} {label + 1}"))
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    for file, lines in (("classInd.txt", [f"{i + 1} {n}" for i, n in enumerate(CLASSES)]),
                        ("trainlist01.txt", train), ("testlist01.txt", test)):  # fmt: skip
        (lists / file).write_bytes("".join(f"{line}\r\n" for line in lines).encode())
    return root


def test_the_reader_decodes_the_avi_files(avi_dataset):
    train = VideoClipDataset.ucf101(avi_dataset, subset="train")
    test = VideoClipDataset.ucf101(avi_dataset, subset="test")
    assert train.classes == list(CLASSES) and (len(train), len(test)) == (12, 6)
    assert all(r.path.suffix == ".avi" and r.path.is_file() for r in [*train.records, *test.records])
    assert sorted(set(train.labels())) == [0, 1, 2] and sorted(set(test.labels())) == [0, 1, 2]
    info = probe_video(train.records[0].path)
    assert (info.num_frames, info.height, info.width, info.fps) == (FRAMES, HEIGHT, WIDTH, 25.0)
    # every frame decodes in its place (an avi indexes frames, an mp4 timestamps them; seeks differ) ...
    path = avi_dataset / "Basketball" / "v_Basketball_g02_c01.avi"
    frames, _ = read_clip(path, np.arange(FRAMES))
    distance = np.abs(frames[:, None].astype(int) - scene(1, 1, 0)[None].astype(int)).mean(axis=(2, 3, 4))
    assert distance.argmin(axis=1).tolist() == list(range(FRAMES)) and distance.diagonal().max() < 8
    # ... and a sampled clip (decord's seeks), resized by the decoder or not, is those same frames
    for short_side in (None, 16):
        full, _ = read_clip(path, np.arange(FRAMES), short_side=short_side)
        for idx in ([10, 3, 7], [11], [5, 5, 0]):
            assert np.array_equal(read_clip(path, idx, short_side=short_side)[0], full[idx]), (short_side, idx)
    clip, label = train[0]  # no transform: uint8 (C, T, H, W); TSNSampler's default takes 8 frames
    assert clip.dtype == torch.uint8 and tuple(clip.shape) == (3, 8, HEIGHT, WIDTH) and label == 0
    assert 10 < clip.float().std() and clip.float().mean() > 10  # a real picture, not a black or flat frame
    # the ci profile's decode: short side 16 keeps 4:3 (16x21), then the model's 16 px crop
    small = VideoClipDataset.ucf101(avi_dataset, subset="test", short_side=16, cache=True)
    assert tuple(small[5][0].shape[-2:]) == (16, 21) and small[5][1] == 2


def test_search_derive_retrain_evaluate_compare_on_avi(avi_dataset, tmp_path, capsys, one_thread):
    from videonas_lite.nas.genotype import Genotype, space_cells

    data = ["--profile", "ci", "--data", str(avi_dataset), "--epochs", "1", "--batch-size", "2"]
    run, derived, retrained, compared = (tmp_path / n for n in ("search", "derived", "retrain", "compare"))

    assert main(["search", "--space", "peng", "--order", "first", *data, "--out", str(run)]) == 0
    out = capsys.readouterr().out
    assert "(chance 0.333; " in out and f"records and checkpoint in {run}" in out
    records = json.loads((run / "records.json").read_text())
    assert [r["epoch"] for r in records] == [0] and records[0]["classes"] == 3

    assert main(["derive", "--run", str(run), "--out", str(derived)]) == 0
    assert capsys.readouterr().out.startswith(f"peng genotype of {run} epoch 0: ")
    genotype = Genotype.load(derived / "genotype.json")
    assert genotype.space == "peng" and set(genotype) == set(space_cells("peng"))
    assert genotype == Genotype.from_record(records[-1]["genotype"])

    assert main(["retrain", "--genotype", str(derived / "genotype.json"), *data, "--out", str(retrained)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("peng derived network of ") and "(chance 0.333)" in out
    (record,) = json.loads((retrained / "records.json").read_text())
    assert record["epoch"] == 0 and record["classes"] == 3
    assert 0 <= record["train_acc"] <= 1 and 0 <= record["test_acc"] <= 1 and np.isfinite(record["test_loss"])

    assert main(["evaluate", "--run", str(retrained), "--views", "2,1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{retrained} epoch 0: clip top-1 ") and "(2 clips x 1 crops)" in out
    result = json.loads((retrained / "evaluation.json").read_text())
    assert result["classes"] == list(CLASSES) and result["data"] == str(avi_dataset) and result["space"] == "peng"
    assert result["video"]["views"] == [2, 1] and result["videos"] == 6
    assert all(0 <= result[level][k] <= 1 for level in ("clip", "video") for k in ("top1", "top5"))
    matrix = np.asarray(result["confusion_matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 6 and matrix.sum(1).tolist() == [2, 2, 2]

    argv = ["compare", "--genotype", str(derived / "genotype.json"), *data, "--out", str(compared), "--seeds", "0",
            "--only", "searched,tsn_2d"]  # fmt: skip
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"2 rows over seeds 0; wrote {compared / 'compare.json'} and {compared / 'compare.md'}"
    summary = json.loads((compared / "compare.json").read_text())
    assert [r["architecture"] for r in summary["rows"]] == ["searched", "tsn_2d"]
    assert all(0 <= r["top1"]["mean"] <= 1 and r["params"] > 0 for r in summary["rows"])
    assert [(r["architecture"], r["epochs"]) for r in summary["runs"]] == [("searched", 1), ("tsn_2d", 1)]
