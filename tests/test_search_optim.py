"""train/search.py's search_optim and describe_schedule: the settings notebook 05's table shows."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch

from videonas_lite.profiles import get_profile
from videonas_lite.train.optim import PAPERS, arch_lr_at
from videonas_lite.train.search import SearchConfig, build_search, describe_schedule, search_optim


def test_unset_knobs_are_the_papers_and_the_schedule_resolves():
    optim = search_optim(SearchConfig(space="peng", epochs=8))
    assert optim.schedule == "cosine" and optim.weight_lr == PAPERS["peng"].weight_lr
    assert optim.arch_weight_decay == PAPERS["peng"].arch_weight_decay
    pv = search_optim(SearchConfig(space="pvnas", epochs=8))
    assert pv.schedule == "step" and pv.step_epochs == 2  # a quarter of the epochs


def test_set_knobs_replace_the_papers():
    config = SearchConfig(space="peng", epochs=8, schedule="step", weight_lr=0.5, arch_lr=0.01, arch_weight_decay=0.0)
    optim = search_optim(config)
    assert (optim.schedule, optim.weight_lr, optim.arch_lr, optim.arch_weight_decay) == ("step", 0.5, 0.01, 0.0)


def test_build_search_uses_it():
    config = SearchConfig.from_profile(get_profile("ci"), "peng", "first")
    _, sgd, adam, _ = build_search(config, 4, torch.device("cpu"))
    optim = search_optim(config)
    assert sgd.param_groups[0]["initial_lr"] == optim.weight_lr and adam.param_groups[0]["lr"] == optim.arch_lr


def test_describe_schedule():
    assert describe_schedule(PAPERS["peng"], 50) == "cosine, 0.025 to 0.001 over 50 epochs"
    step = dataclasses.replace(PAPERS["pvnas"], step_epochs=20)
    assert describe_schedule(step, 80) == "step, 0.1 x0.1 every 20 epochs"
    with pytest.raises(ValueError, match="got 'linear'"):
        describe_schedule(dataclasses.replace(PAPERS["peng"], schedule="linear"), 5)


def test_the_alphas_lr_is_constant_as_in_both_papers_or_cosine_over_the_epochs_they_move():
    constant = dataclasses.replace(PAPERS["pvnas"], arch_lr=0.1)
    assert {arch_lr_at(constant, e, 5, 16) for e in range(16)} == {0.1}
    cosine = dataclasses.replace(constant, arch_schedule="cosine")
    lrs = [arch_lr_at(cosine, e, 5, 16) for e in range(16)]
    assert lrs[:6] == [0.1] * 6  # the warm-up (alphas frozen) and the first epoch they move take the full lr
    assert lrs[10] == pytest.approx(0.1 * (1 + math.cos(math.pi * 5 / 11)) / 2)  # the 5th of 11 moving epochs
    assert lrs[15] == pytest.approx(0.1 * (1 - math.cos(math.pi / 11)) / 2) and lrs[15] > 0  # the last still moves
    assert all(a > b for a, b in itertools.pairwise(lrs[5:]))  # falls in every epoch the alphas move
    with pytest.raises(ValueError, match="got 'linear'"):
        arch_lr_at(dataclasses.replace(constant, arch_schedule="linear"), 0, 0, 4)


def test_the_cosine_alpha_lr_is_torchs_cosine_annealing_started_after_the_warm_up():
    cosine = dataclasses.replace(PAPERS["pvnas"], arch_lr=0.1, arch_schedule="cosine")
    adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    torch_cosine = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=11, eta_min=0.0)
    for epoch in range(5, 16):  # the 11 epochs the alphas move after a 5-epoch warm-up
        assert arch_lr_at(cosine, epoch, 5, 16) == pytest.approx(adam.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        adam.step()
        torch_cosine.step()


def test_the_default_profile_anneals_its_pvnas_alphas_only():
    default = get_profile("default")
    assert search_optim(SearchConfig.from_profile(default, "pvnas", "one-level")).arch_schedule == "cosine"
    assert search_optim(SearchConfig.from_profile(default, "peng", "first")).arch_schedule == "constant"
    assert search_optim(SearchConfig.from_profile(get_profile("paper"), "pvnas", "one-level")).arch_schedule == (
        "constant"
    )  # PV-NAS's own
    with pytest.raises(ValueError, match="arch_schedule must be None or one of"):
        SearchConfig(arch_schedule="linear")
    with pytest.raises(ValueError, match="pvnas_arch_schedule must be None, 'constant' or 'cosine', got 'step'"):
        get_profile("default", pvnas_arch_schedule="step")
    assert not SearchConfig.from_profile(default, "pvnas", "one-level").zero_into_node0  # and Zero off node 0's edges
    with pytest.raises(ValueError, match="pvnas_zero_into_node0 must be True or False, got 0"):
        get_profile("default", pvnas_zero_into_node0=0)
