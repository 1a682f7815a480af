"""The ``paper`` profile against README's tables of both papers' settings (README, "The papers' own settings").

Every row of both tables (what the papers state; where they are silent) names a field of the configurations
the ``paper`` profile resolves and the value it must hold, so README and code cannot drift apart; ``STATED``
lists every hyperparameter the papers state, which the first table must cover.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from videonas_lite.nas.networks import PVNAS_PLAN, peng_search_net, pvnas_search_net
from videonas_lite.profiles import PROFILES, get_profile
from videonas_lite.train.retrain import RetrainConfig
from videonas_lite.train.retrain import lr_schedule as retrain_lr_schedule
from videonas_lite.train.search import SearchConfig, search_optim

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## The papers' own settings (`paper` profile)"
SPACES = {"Peng": "peng", "PV-NAS": "pvnas"}
ORDERS = {"peng": "second", "pvnas": "one-level"}  # Peng Eqs. (3)-(5); PV-NAS Sec. 3.2.2

STATED = {
    "Peng": {
        "Profile.dataset", "SearchConfig.split", "SearchConfig.device", "SearchConfig.num_segments",
        "SearchConfig.frames_per_segment", "Profile.clip_frames", "SearchConfig.crop_size", "SearchConfig.scale_jitter",
        "SearchConfig.order", "len(SearchConfig.plan)", "SearchConfig.channels", "SearchNetwork.nodes",
        "SearchConfig.epochs", "RetrainConfig.layers", "RetrainConfig.channels", "RetrainConfig.epochs",
        "RetrainConfig.lr", "lr_schedule(RetrainConfig)", "RetrainConfig.momentum", "RetrainConfig.weight_decay",
        "RetrainConfig.batch_size", "RetrainConfig.num_segments * RetrainConfig.frames_per_segment",
        "RetrainConfig.crop_size", "RetrainConfig.split",
    },
    "PV-NAS": {
        "SearchNetwork.nodes", "SearchConfig.order", "OptimConfig.schedule", "SearchNetwork.kinds",
        "SearchConfig.channels", "Profile.clip_frames", "SearchConfig.scale_jitter", "SearchConfig.crop_size",
        "SearchConfig.batch_size", "SearchConfig.epochs", "OptimConfig.arch_lr", "OptimConfig.arch_betas",
        "OptimConfig.weight_momentum", "OptimConfig.weight_decay", "OptimConfig.weight_lr", "OptimConfig.step_factor",
        "OptimConfig.step_epochs", "RetrainConfig.k", "RetrainConfig.channels", "RetrainConfig.scale_jitter",
        "RetrainConfig.num_segments * RetrainConfig.frames_per_segment", "RetrainConfig.batch_size",
        "RetrainConfig.momentum", "RetrainConfig.weight_decay", "RetrainConfig.lr", "lr_schedule(RetrainConfig)",
        "RetrainConfig.epochs", "RetrainConfig.warmup_epochs", "RetrainConfig.dropout", "RetrainConfig.drop_path",
    },
}  # fmt: skip
"""Each paper's stated hyperparameters (Peng Sec. 2-3; PV-NAS Sec. 3-4.2), as README's Field column names them."""


def _tables() -> list[list[dict[str, str]]]:
    """The section's markdown tables, each a list of rows ``{column: cell}``."""
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, f"README has no section {SECTION!r}"
    body = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    tables, lines = [], body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|")):
            end = next((k for k, r in enumerate(lines[i:]) if not r.startswith("|")), len(lines) - i)
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in lines[i : i + end]]
            header, rows = cells[0], cells[2:]
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
    return tables


def _code(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one `code` span, got {cell!r}"
    return match.group(1)


def _schedule(config: RetrainConfig) -> str:
    """The retraining's learning rate over every step, checked step by step and named as README names it."""
    steps = 3
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    schedule = retrain_lr_schedule(optimizer, config, steps)
    warm, total = config.warmup_epochs * steps, config.epochs * steps
    for step in range(total):
        lr = optimizer.param_groups[0]["lr"]
        progress = (step - warm) / (total - warm)
        cosine = config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))
        expected = config.lr * (step + 1) / warm if step < warm else cosine
        assert lr == pytest.approx(expected), f"step {step}: lr {lr}, expected {expected}"
        optimizer.step()
        schedule.step()
    return "warm-up, then cosine" if warm else "cosine per step"


def _resolved(paper: str) -> dict[str, object]:
    """What README's Field column may name: the paper profile's configurations for ``paper``'s space."""
    space = SPACES[paper]
    profile = get_profile("paper")
    search = SearchConfig.from_profile(profile, space, ORDERS[space])
    build = peng_search_net if space == "peng" else pvnas_search_net  # build_search calls it without nodes
    kinds = tuple(search.plan) if space == "peng" else tuple(kind for kind, _, _ in PVNAS_PLAN)
    network = SimpleNamespace(nodes=inspect.signature(build).parameters["nodes"].default, kinds=kinds)
    return dict(Profile=profile, SearchConfig=search, OptimConfig=search_optim(search), SearchNetwork=network,
                RetrainConfig=RetrainConfig.from_profile(profile, space), lr_schedule=_schedule, len=len)  # fmt: skip


def _check(rows: list[dict[str, str]]) -> int:
    for row in rows:
        field, value = _code(row["Field"]), ast.literal_eval(_code(row["Value"]))
        actual = eval(field, {"__builtins__": {}}, _resolved(row["Paper"]))  # README's own expressions
        assert type(actual) is type(value) and actual == value, (
            f"{row['Paper']}: {field} is {actual!r}, README says {value!r}"
        )
    return len(rows)


def test_readme_has_the_two_tables():
    stated, silent = _tables()
    assert len(stated) >= sum(map(len, STATED.values())) and len(silent) >= 10
    assert {row["Paper"] for row in stated + silent} == set(SPACES)


def test_every_stated_setting_is_what_the_paper_writes():
    stated, _ = _tables()
    assert _check(stated) == len(stated)


def test_every_silent_setting_is_what_the_package_uses():
    _, silent = _tables()
    assert all(row["Why"] for row in silent)
    assert _check(silent) == len(silent)


@pytest.mark.parametrize("paper", sorted(STATED))
def test_the_table_covers_every_setting_the_paper_states(paper):
    stated, _ = _tables()
    covered = {_code(row["Field"]) for row in stated if row["Paper"] == paper}
    assert sorted(STATED[paper] - covered) == [], f"{paper}: stated settings missing from README's table"


def test_a_changed_value_fails_the_check(monkeypatch):
    stated, _ = _tables()
    row = next(r for r in stated if r["Paper"] == "PV-NAS" and _code(r["Field"]) == "SearchConfig.epochs")
    with pytest.raises(AssertionError, match=re.escape("SearchConfig.epochs is 80, README says 50")):
        _check([{**row, "Value": "`50`"}])
    with pytest.raises(AssertionError, match=re.escape("is 80, README says 80.0")):  # the type counts: 80.0 is not 80
        _check([{**row, "Value": "`80.0`"}])
    paper = dataclasses.replace(PROFILES["paper"], pvnas_search_epochs=60, pvnas_retrain_batch_size=16)
    monkeypatch.setitem(PROFILES, "paper", paper)
    with pytest.raises(AssertionError, match=re.escape("SearchConfig.epochs is 60, README says 80")):
        _check([row])
    batch = [r for r in stated if r["Paper"] == "PV-NAS" and _code(r["Field"]) == "RetrainConfig.batch_size"]
    with pytest.raises(AssertionError, match=re.escape("RetrainConfig.batch_size is 16, README says 8")):
        _check(batch)


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"pvnas_batch_size": 0}, "pvnas_batch_size must be None or a positive integer, got 0"),
        ({"pvnas_search_epochs": 3, "search_warmup_epochs": 3},
         "search_warmup_epochs must be in [0, pvnas_search_epochs=3)"),
        ({"pvnas_retrain_scale_jitter": (100, 120)},
         "pvnas_retrain_scale_jitter must satisfy crop_size <= low <= high"),
    ],
)  # fmt: skip
def test_bad_pvnas_fields_fail_with_a_message(knobs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_profile("paper", **knobs)


def test_an_override_wins_over_the_papers_own_value():
    profile = get_profile("paper", pvnas_batch_size=4)
    assert SearchConfig.from_profile(profile, "pvnas", "one-level").batch_size == 4
    assert SearchConfig.from_profile(profile, "pvnas", "one-level", batch_size=2).batch_size == 2
    assert SearchConfig.from_profile(profile, "peng", "second").batch_size == 72
    assert RetrainConfig.from_profile(get_profile("paper"), "pvnas", batch_size=3).batch_size == 3
