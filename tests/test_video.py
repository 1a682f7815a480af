"""decord reading: decoded frames, decode-time resizing, and a clear error for every kind of bad file."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.conftest import write_video
from videonas_lite.data.video import VideoReadError, decode_size, probe_video, read_clip


def _write_faststart(path, frames=40):
    """An mp4 with its index at the front, so a truncated copy still opens as far as the header."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_probe_and_read_decode_only_the_sampled_frames(tmp_path):
    path = write_video(tmp_path / "a.mp4", frames=10)
    info = probe_video(path)
    assert (info.num_frames, info.height, info.width, info.fps) == (10, 32, 32, 25.0)
    frames, idx = read_clip(path, [0, 4, 9])
    assert frames.shape == (3, 32, 32, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(idx, [0, 4, 9])
    # the bright square sits at columns t..t+8 in frame t
    for k, t in enumerate(idx):
        row = frames[k, 12, :, 0].astype(int)
        assert row[t + 4] > 200 and (t + 12 >= 32 or row[t + 12] < 60)


def test_read_with_a_sampler_callable_gets_the_frame_count(tmp_path):
    path = write_video(tmp_path / "a.mp4", frames=10)
    seen = []
    frames, _idx = read_clip(path, lambda n: (seen.append(n), np.array([1, 2]))[1])
    assert seen == [10] and frames.shape[0] == 2


def test_decode_size_keeps_aspect_and_never_enlarges():
    assert decode_size(240, 320, 128) == (128, 171)  # UCF101's 320x240 -> short side 128
    assert decode_size(320, 240, 128) == (171, 128)
    assert decode_size(64, 64, 128) == (64, 64)
    assert decode_size(240, 320, None) == (240, 320)


def test_decoder_resizes_at_decode_time(tmp_path):
    path = write_video(tmp_path / "a.mp4", frames=6, size=64)
    frames, _ = read_clip(path, [0, 5], short_side=32)
    assert frames.shape == (2, 32, 32, 3)
    native, _ = read_clip(path, [0, 5])
    # the decoder's filtered downscale is close to a 2x2 box average of the native frames
    box = native.reshape(2, 32, 2, 32, 2, 3).mean((2, 4))
    assert np.abs(frames.astype(float) - box).mean() < 12


def test_missing_file(tmp_path):
    with pytest.raises(VideoReadError, match=r"nope\.mp4: file not found"):
        probe_video(tmp_path / "nope.mp4")


def test_empty_file(tmp_path):
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(VideoReadError, match=r"empty\.mp4: file is empty \(0 bytes\)"):
        read_clip(tmp_path / "empty.mp4", [0])


def test_unreadable_file(tmp_path):
    (tmp_path / "junk.mp4").write_bytes(b"this is not a video" * 100)
    with pytest.raises(VideoReadError, match=r"junk\.mp4: cannot be decoded"):
        probe_video(tmp_path / "junk.mp4")


@pytest.mark.parametrize("faststart", [False, True], ids=["index-at-end", "index-at-front"])
def test_truncated_file(tmp_path, faststart):
    full = _write_faststart(tmp_path / "full.mp4") if faststart else write_video(tmp_path / "full.mp4", 40)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoReadError, match=r"cut\.mp4: .*(cannot be decoded|truncated)"):
        read_clip(cut, [0, 10, 39])


def test_video_shorter_than_required(tmp_path):
    path = write_video(tmp_path / "short.mp4", frames=5)
    with pytest.raises(VideoReadError, match=r"short\.mp4: has 5 frames, expected at least 8"):
        read_clip(path, [0], min_frames=8)


def test_index_outside_the_video_is_a_caller_bug(tmp_path):
    path = write_video(tmp_path / "a.mp4", frames=5)
    with pytest.raises(IndexError, match=r"a\.mp4: frame indices \[0, 5\] outside \[0, 5\)"):
        read_clip(path, [0, 5])


def _pyav_frames(path):
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _write_sized(path, height, width, frames=12):
    """A random-texture clip of any size (decord 0.6.0 cannot copy rows of some widths)."""
    rng = np.random.default_rng(width)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for _ in range(frames):
            frame = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("width", [16, 24, 48, 72])
def test_files_of_the_widths_decord_cannot_copy_are_read_through_pyav(tmp_path, width):
    path = _write_sized(tmp_path / f"w{width}.mp4", 32, width)
    info = probe_video(path)
    assert (info.num_frames, info.height, info.width) == (12, 32, width)
    frames, idx = read_clip(path, lambda n: np.arange(1, n, 3))
    np.testing.assert_array_equal(idx, [1, 4, 7, 10])
    np.testing.assert_array_equal(frames, _pyav_frames(path)[idx])  # PyAV's own pixels, the sampled frames
    small, _ = read_clip(path, [0, 5], short_side=16, info=info)  # and resized like any other clip
    assert small.shape == (2, *decode_size(32, width, 16), 3)
    with pytest.raises(IndexError, match=r"outside \[0, 12\)"):
        read_clip(path, [12])


def test_a_48_px_short_side_is_decoded_natively_and_shrunk(tmp_path):
    path = _write_sized(tmp_path / "wide.mp4", 64, 96)
    frames, _ = read_clip(path, [0, 3], short_side=48)
    assert frames.shape == (2, 48, 72, 3)  # width 72: also one decord cannot produce
    native = _pyav_frames(path)[[0, 3]].astype(float)
    # the shrink is an antialiased average: block means of the native frames match to a few levels
    err = np.abs(frames.astype(float).mean(axis=(1, 2)) - native.mean(axis=(1, 2))).max()
    assert err < 2.0, err
