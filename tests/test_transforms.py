"""Clip transforms (torchvision.transforms.v2 on video tensors): one draw per clip, the papers' recipes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videonas_lite.data.transforms import KINETICS_MEAN, KINETICS_STD, as_video, eval_transform, train_transform


def _clip(t=8, h=40, w=48, same=False):
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.repeat(frame[None], t, 0) if same else rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_as_video_layout():
    v = as_video(_clip())
    assert v.shape == (8, 3, 40, 48)
    with pytest.raises(ValueError, match=r"expected frames of shape \(T, H, W, 3\)"):
        as_video(np.zeros((8, 40, 48)))


def test_train_transform_applies_one_crop_and_flip_to_every_frame():
    torch.manual_seed(0)
    out = train_transform(32, hflip=True)(as_video(_clip(same=True)))
    assert out.shape == (3, 8, 32, 32) and out.dtype == torch.float32
    for t in range(1, 8):
        assert torch.equal(out[:, t], out[:, 0]), "identical frames stay identical: one draw per clip"


def test_random_crop_is_a_window_of_the_input_and_flip_mirrors_it():
    clip = _clip(same=True)
    seen_flip = seen_plain = False
    for seed in range(20):
        torch.manual_seed(seed)
        out = train_transform(32, hflip=True, mean=(0, 0, 0), std=(1, 1, 1))(as_video(clip))
        crop = (out[:, 0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        windows = np.lib.stride_tricks.sliding_window_view(clip[0], (32, 32, 3)).reshape(-1, 32, 32, 3)
        plain = (windows == crop).all(axis=(1, 2, 3)).any()
        flipped = (windows == crop[:, ::-1]).all(axis=(1, 2, 3)).any()
        assert plain or flipped
        seen_plain |= plain
        seen_flip |= flipped and not plain
    assert seen_flip and seen_plain


def test_scale_jitter_resizes_the_short_side_into_the_range():
    sizes = set()
    for seed in range(30):
        torch.manual_seed(seed)
        jitter = train_transform(32, scale_jitter=(36, 44)).transforms[0]
        sizes.add(jitter(as_video(_clip())).shape[-2])
    assert sizes <= set(range(36, 45)) and len(sizes) > 3
    with pytest.raises(ValueError, match="scale_jitter must satisfy"):
        train_transform(56, scale_jitter=(32, 40))


def test_test_transform_is_a_deterministic_centre_crop_and_normalises():
    clip = _clip()
    out = eval_transform(32)(as_video(clip))
    assert torch.equal(out, eval_transform(32)(as_video(clip)))
    centre = clip[:, 4:36, 8:40].astype(np.float32) / 255  # (40-32)/2 = 4, (48-32)/2 = 8
    expected = (centre - np.array(KINETICS_MEAN)) / np.array(KINETICS_STD)
    np.testing.assert_allclose(out.permute(1, 2, 3, 0).numpy(), expected, atol=1e-5)
    assert eval_transform(16, resize_short=20)(as_video(clip)).shape == (3, 8, 16, 16)
