"""nas/collapse.py: the false-case curves read from records, checked on a hand-built run of two epochs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from videonas_lite.nas.collapse import alpha_entropy, collapse_curves, derived_parameters
from videonas_lite.nas.derived import derived_net
from videonas_lite.nas.genotype import derive_genotype
from videonas_lite.nas.networks import pvnas_search_net


def _records():
    """Epoch 0: every edge of every kind puts 0.93 on Identity (parameter-free). Epoch 1: uniform. Epoch 2:
    0.93 on the separable conv."""
    net = pvnas_search_net(4, channels=2)
    uniform = {k: torch.full_like(w, 1 / w.shape[1]) for k, w in net.op_weights().items()}

    def peaked(column: int) -> dict:  # in both op sets column 0 is Identity, column 4 the 1x3x3 separable conv
        out = {}
        for kind, w in uniform.items():
            out[kind] = torch.full_like(w, 0.01)
            out[kind][:, column] = 1 - 0.01 * (w.shape[1] - 1)
        return out

    records = []
    for epoch, weights in enumerate((peaked(0), uniform, peaked(4))):
        g = derive_genotype(weights, "pvnas")
        records.append({"epoch": epoch, "lr": 0.1, "val_acc": 0.5, "classes": 4,
                        "alpha_softmax": {k: w.tolist() for k, w in weights.items()}, "genotype": g.to_record(),
                        "sharpness": {"eigenvalue": 0.1 * (epoch + 1)}})  # fmt: skip
    return records


def test_entropy_is_log_ops_when_uniform_and_small_when_peaked():
    e = alpha_entropy(_records())
    assert e["S-NC"][1] == pytest.approx(math.log(6)) and e["T-NC"][1] == pytest.approx(math.log(8))
    p = np.array([0.93] + [0.01] * 7)
    assert e["T-RC"][0] == pytest.approx(-(p * np.log(p)).sum())


def test_curves_of_a_run_that_collapsed_onto_identity():
    c = collapse_curves(_records(), channels=4)
    assert c["free_share"]["T-NC"][0] == 1.0 and c["free_share_all"][0] == 1.0, "every kept edge is Identity"
    assert c["free_share_all"][2] == 0.0, "every kept edge is a separable conv"
    assert c["free_mass"]["S-NC"][1] == pytest.approx(3 / 6), "Identity and two pools of six ops (Zero not counted)"
    assert c["free_mass"]["T-NC"][0] == pytest.approx(0.93 + 2 * 0.01)
    assert c["max_entropy"] == {"S-NC": math.log(6), "S-RC": math.log(6), "T-NC": math.log(8), "T-RC": math.log(8)}
    assert c["eigenvalue"] == pytest.approx([0.1, 0.2, 0.3])
    assert c["derived_params"][0] < c["derived_params"][2], "an all-identity network has fewer parameters"


def test_derived_parameters_counts_the_derived_network():
    g = derive_genotype(_records()[0]["alpha_softmax"], "pvnas")
    net = derived_net(g, 4, 4, k=2)
    assert derived_parameters(g, 4, 4, k=2) == sum(p.numel() for p in net.parameters())


def test_false_case_figure_is_readable():
    from videonas_lite.viz.collapse import PANELS, plot_collapse

    curves = collapse_curves(_records(), channels=4)
    fig = plot_collapse({"cosine": [curves, curves], "step": [curves]}, frozen_epochs=1)
    axes = fig.axes
    assert fig.get_size_inches()[0] <= 10 and len(axes) == len(PANELS)
    texts = [*axes[0].get_legend().get_texts(), *axes[1].texts, *(ax.title for ax in axes)]
    assert all(t.get_fontsize() >= 9 for t in texts)
    assert len(axes[1].get_lines()) == 2 + 2 + 1  # per group its runs (thin) and their mean (thick)
