"""train/evaluate.py: top-k, video-level averaging, confusion matrix, cost, views; a retrained run scored."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.data.sampling import TSNSampler
from videonas_lite.data.transforms import eval_transform
from videonas_lite.nas.genotype import Genotype
from videonas_lite.train import evaluate as E
from videonas_lite.train.retrain import RetrainConfig, run_retrain


def test_topk_on_hand_made_logits():
    logits = torch.tensor([
        [0.1, 0.9, 0.0, 0.0, 0.0, 0.0],  # label 1: top-1
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # label 4: fifth largest, top-5 only
        [0.5, 0.4, 0.3, 0.2, 0.1, 0.0],  # label 5: the smallest, neither
        [0.0, 0.1, 0.7, 0.2, 0.3, 0.4],  # label 5: second largest, top-5
    ])  # fmt: skip
    labels = torch.tensor([1, 4, 5, 5])
    assert E.topk_accuracy(logits, labels, ks=(1, 2, 5)) == {1: 0.25, 2: 0.5, 5: 0.75}
    assert E.topk_accuracy(logits[:, :3], torch.tensor([1, 0, 2, 2]))[5] == 1.0  # k capped at the 3 classes
    with pytest.raises(ValueError, match=r"expected logits \(N, classes\) and labels \(N,\)"):
        E.topk_accuracy(logits, labels[:2])


def test_video_level_is_the_mean_of_the_views_softmax():
    """Video 0: softmax [1/3]*3 and [4/6, 1/6, 1/6] -> [1/2, 1/4, 1/4]. Video 1: [1/5, 3/5, 1/5], [1/11, 1/11, 9/11]."""
    ln = math.log
    views = torch.tensor([[[0.0, 0.0, 0.0], [ln(4), 0.0, 0.0]], [[0.0, ln(3), 0.0], [0.0, 0.0, ln(9)]]])
    expected = torch.tensor([[1 / 2, 1 / 4, 1 / 4], [(1 / 5 + 1 / 11) / 2, (3 / 5 + 1 / 11) / 2, (1 / 5 + 9 / 11) / 2]])
    scores = E.video_scores(views)
    assert torch.allclose(scores, expected) and scores.argmax(1).tolist() == [0, 2]
    assert E.topk_accuracy(scores, torch.tensor([0, 1]), ks=(1,)) == {1: 0.5}


def test_confusion_matrix_counts_and_sums():
    labels, predictions = [0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2]
    m = E.confusion_matrix(labels, predictions, 4)
    assert m.dtype == np.int64 and m.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert m.sum() == 6 and m.sum(axis=1).tolist() == [2, 1, 3, 0] and np.trace(m) / m.sum() == 4 / 6


def test_flops_of_a_conv3d_and_the_size_of_a_model():
    conv = torch.nn.Conv3d(3, 8, (3, 3, 3), padding=1)
    # two FLOPs per multiply-add: 2 x output elements x (C_in x kt x kh x kw); bias not counted
    assert E.flops_per_view(conv, (3, 4, 8, 8)) == 2 * (8 * 4 * 8 * 8) * (3 * 3 * 3 * 3)
    assert E.parameter_count(conv) == 8 * 3 * 27 + 8 and E.model_size_mb(conv) == 4 * 656 / 2**20
    assert conv.training  # the mode is restored


def test_crop_offsets():
    assert E.crop_offsets(20, 30, 16, 1) == [(2, 7)]  # torchvision's CenterCrop: round((20-16)/2), round((30-16)/2)
    assert E.crop_offsets(20, 30, 16, 3) == [(2, 0), (2, 7), (2, 14)]  # along the longer side
    assert E.crop_offsets(30, 20, 16, 2) == [(0, 2), (14, 2)]
    with pytest.raises(ValueError, match=r"crop size 16 exceeds the frame \(12 x 30\)"):
        E.crop_offsets(12, 30, 16, 1)


def test_one_view_is_the_clip_level_clip(tiny_dataset):
    """Views (1, 1) give exactly the test clip of the training loop: TSN's test sampling and the centre crop."""
    common = dict(subset="test", short_side=24, cache=True)
    plain = VideoClipDataset.ucf101(tiny_dataset, sampler=TSNSampler(2, 2), transform=eval_transform(16), **common)
    views = E.ViewDataset(VideoClipDataset.ucf101(tiny_dataset, sampler=E.ViewSampler(1, 4), **common), 1, 16)
    many = E.ViewDataset(VideoClipDataset.ucf101(tiny_dataset, sampler=E.ViewSampler(3, 4), **common), 3, 16)
    for i in (0, 5):
        (clip, label), (one, label1), (nine, _) = plain[i], views[i], many[i]
        assert label == label1 and one.shape == (1, 3, 4, 16, 16) and torch.equal(one[0], clip)
        assert nine.shape == (9, 3, 4, 16, 16) and not torch.equal(nine[3], nine[5])  # crops differ at 24 px


def test_evaluate_a_retrained_run(tiny_dataset, tmp_path, one_thread):
    genotype = Genotype("peng", 1, {"normal": [("Conv_3", 0, 0), ("MPool_3", 1, 0)],
                                    "reduce": [("APool_3", 0, 0), ("Conv_1", 1, 0)]})  # fmt: skip
    config = RetrainConfig(epochs=1, batch_size=2, channels=2, layers=3, crop_size=16, short_side=16, cache=True,
                           num_segments=2, frames_per_segment=2)  # fmt: skip
    records = run_retrain(config, genotype, tiny_dataset, tmp_path, progress=False)
    result = E.evaluate_run(tmp_path, views=(2, 3), progress=False)
    assert json.loads((tmp_path / "evaluation.json").read_text()) == result
    assert result["clip"]["loss"] == pytest.approx(records[-1]["test_loss"], rel=1e-5)
    assert result["clip"]["top1"] == pytest.approx(records[-1]["test_acc"])
    assert result["video"]["views"] == [2, 3] and result["videos"] == 8 and result["clip"]["top5"] == 1.0
    assert np.asarray(result["confusion_matrix"]).sum() == 8 and len(result["confusion_matrix"]) == 4
    assert result["params"] > 0 and result["size_mb"] == 4 * result["params"] / 2**20
    assert result["flops_per_view"] == 2 * result["macs_per_view"] > 0 and result["clip_shape"] == [3, 4, 16, 16]
