"""train/search.py: a search runs, records each epoch, resumes bit-identically, stops on divergence."""

from __future__ import annotations

import itertools
import json

import pytest
import torch

import videonas_lite.train.search as S
from videonas_lite.nas.cells import edge_list
from videonas_lite.nas.genotype import derive_cell
from videonas_lite.nas.networks import pvnas_search_net
from videonas_lite.train.search import SearchConfig, SearchDiverged, run_search

REAL_STEP = S.search_step

CONFIG = SearchConfig(space="peng", order="first", epochs=2, batch_size=2, channels=2, crop_size=24,
                      num_segments=2, frames_per_segment=2)  # fmt: skip


class Interrupt(Exception):
    pass


def test_derivation_of_a_hand_worked_cell():
    """Zero is never kept; each node keeps its two edges whose best non-Zero op scores highest."""
    w = torch.zeros(5, 3)
    w[:, 0] = 1.0  # Zero dominates every edge, and is ignored
    w[0, 1], w[1, 2], w[2, 1], w[3, 2], w[4, 1] = 0.5, 0.4, 0.1, 0.3, 0.2
    assert derive_cell(w, ("Zero", "A", "B"), nodes=2) == [("A", 0, 0), ("B", 1, 0), ("B", 1, 1), ("A", 2, 1)]


@pytest.mark.parametrize("order", ["first", "second", "one-level", "one-level, cosine alpha lr",
                                   "one-level, edges fixed"])  # fmt: skip
def test_resume_after_an_interruption_is_bit_identical(tiny_dataset, tmp_path, order):
    cosine, fixed = order.endswith("cosine alpha lr"), order.endswith("edges fixed")
    config = SearchConfig(**{**CONFIG.__dict__, "order": order.split(",")[0], "arch_lr": 0.1,
                             "arch_schedule": "cosine" if cosine else None,
                             "fix_edges_at": 1 if fixed else None})  # fmt: skip
    full = run_search(config, tiny_dataset, tmp_path / "full", progress=False)
    assert len(full) == 2 and json.loads((tmp_path / "full" / "records.json").read_text()) == full
    assert [r["arch_lr"] for r in full] == ([0.1, 0.05] if cosine else [0.1, 0.1])  # epoch 1: (1 + cos(pi/2)) / 2
    assert all(0.0 <= r["val_acc"] <= 1.0 and r["train_loss"] > 0 for r in full)
    assert [r.get("edges_fixed") for r in full] == ([False, True] if fixed else [None, None])

    def stop_mid_second_epoch(epoch, step):
        if epoch == 1 and step == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_search(config, tiny_dataset, tmp_path / "cut", progress=False, on_step=stop_mid_second_epoch)
    assert len(json.loads((tmp_path / "cut" / "records.json").read_text())) == 1
    resumed = run_search(config, tiny_dataset, tmp_path / "cut", resume=True, progress=False)
    assert resumed == full
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fixed_edges_keep_the_cell_derived_the_epoch_before_and_hold_zero_out_of_it(tiny_dataset, tmp_path):
    """``fix_edges_at``: from that epoch the derived edges are the ones derived at the end of the epoch before; the
    other edges weigh exactly 0 and Zero weighs 0 on the kept ones (nas/networks.py: SearchNetwork.fix_edges)."""
    config = SearchConfig(**{**CONFIG.__dict__, "space": "pvnas", "order": "one-level", "epochs": 3, "arch_lr": 0.3,
                             "fix_edges_at": 1})  # fmt: skip
    records = run_search(config, tiny_dataset, tmp_path, progress=False)
    edges = [{kind: sorted((src, node) for _, src, node in cell) for kind, cell in r["genotype"].items()}
             for r in records]  # fmt: skip
    assert edges[1] == edges[2] == edges[0]
    for kind, weights in records[2]["alpha_softmax"].items():
        w = torch.tensor(weights)
        kept = torch.tensor([e in edges[0][kind] for e in edge_list(4)])
        zero = model_op_names()[kind].index("Zero")
        assert (w[~kept] == 0).all() and (w[kept, zero] == 0).all(), kind
        torch.testing.assert_close(w[kept].sum(dim=1), torch.ones(int(kept.sum())))
    assert (torch.tensor(records[0]["alpha_softmax"]["T-NC"]) > 0).all()  # before: every edge mixes every op
    with pytest.raises(ValueError, match=r"fix_edges_at must be None or in \(0, 3\).*got 0"):
        SearchConfig(**{**config.__dict__, "fix_edges_at": 0})
    with pytest.raises(ValueError, match=r"fix_edges_at must be None or in \(2, 4\).*got 4"):
        SearchConfig(**{**config.__dict__, "epochs": 4, "warmup_epochs": 2, "fix_edges_at": 4})


def model_op_names() -> dict[str, tuple[str, ...]]:
    return pvnas_search_net(2, channels=2, nodes=1).op_names


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    config = SearchConfig(**{**CONFIG.__dict__, "epochs": 3})
    data = S.search_data(config, tiny_dataset)
    per_epoch, calls, saved = min(len(data.weight), len(data.alpha)), [], {}

    def nan_in_epoch_2(*args, **kwargs):
        losses = REAL_STEP(*args, **kwargs)
        calls.append(1)
        if len(calls) == 2 * per_epoch + 1:  # the first step of epoch 2
            saved["checkpoint"] = (tmp_path / "checkpoint.pt").read_bytes()
            losses["train"] = float("nan")
        return losses

    monkeypatch.setattr(S, "search_step", nan_in_epoch_2)
    with pytest.raises(SearchDiverged, match=r"epoch 2, step 0: loss \['train'\] not finite"):
        run_search(config, tiny_dataset, tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved["checkpoint"]
    assert len(json.loads((tmp_path / "records.json").read_text())) == 2


_SEARCH_IN_A_PROCESS = """
import sys, torch
from videonas_lite.train.search import SearchConfig, run_search
torch.set_num_threads(1)
run_search(SearchConfig(**eval(sys.argv[1])), sys.argv[2], sys.argv[3], progress=False)
"""


def test_a_killed_search_resumes_to_the_same_alphas_and_weights(tiny_dataset, tmp_path, one_thread):
    """SIGKILL a real search process in its second epoch, resume it, compare with an uninterrupted run."""
    import signal
    import subprocess
    import sys
    import time

    config = SearchConfig(**{**CONFIG.__dict__, "epochs": 3})
    cut, records = tmp_path / "cut", tmp_path / "cut" / "records.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SEARCH_IN_A_PROCESS, repr(config.__dict__), str(tiny_dataset), str(cut)]
    )
    try:
        deadline = time.monotonic() + 300
        while not (records.is_file() and len(json.loads(records.read_text())) == 1):  # epoch 0 saved (atomically)
            assert proc.poll() is None and time.monotonic() < deadline, "the search process ended or hung"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert len(json.loads(records.read_text())) == 1, "killed in its second epoch, before that epoch's record"
    resumed = run_search(config, tiny_dataset, cut, resume=True, progress=False)
    full = run_search(config, tiny_dataset, tmp_path / "full", progress=False)
    assert resumed == full
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    b = torch.load(cut / "checkpoint.pt", weights_only=True)
    for part in ("model", "sgd", "adam", "schedule"):
        _assert_same(a[part], b[part], part)


def _assert_same(a, b, where: str) -> None:
    """Equal nested state (dicts, lists, tensors bit for bit)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


def test_bf16_autocast_search_runs_second_order(tiny_dataset, tmp_path):
    """The CUDA setting (bf16 autocast, float32 finite differences), exercised on the CPU's bf16 autocast."""
    config = SearchConfig(**{**CONFIG.__dict__, "order": "second", "epochs": 1, "bf16": True})
    (record,) = run_search(config, tiny_dataset, tmp_path, progress=False)
    assert record["train_loss"] > 0 and all(
        abs(sum(row) - 1) < 1e-5 for rows in record["alpha_softmax"].values() for row in rows
    )
    fp32 = run_search(
        SearchConfig(**{**config.__dict__, "bf16": False}), tiny_dataset, tmp_path / "fp32", progress=False
    )
    assert fp32[0]["train_loss"] != record["train_loss"], "autocast changed nothing: was it on?"


def test_a_profile_sets_the_search(tmp_path):
    from videonas_lite.profiles import get_profile

    ci = get_profile("ci")
    config = SearchConfig.from_profile(ci, "pvnas", "one-level", epochs=None, batch_size=4)
    assert (config.epochs, config.batch_size, config.channels, config.crop_size) == (
        ci.search_epochs, 4, ci.pvnas_channels, ci.crop_size,
    )  # fmt: skip
    with pytest.raises(ValueError, match="difference must be one of"):
        SearchConfig(difference="sideways")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            SearchConfig(device="cuda").torch_device()


def test_the_step_schedule_decays_at_each_quarter_unless_told():
    """PV-NAS decays x0.1 every 20 of its 80 search epochs; a shorter search keeps the proportion."""
    for epochs, explicit, period in ((8, None, 2), (7, None, 2), (80, None, 20), (8, 5, 5)):
        config = SearchConfig(space="pvnas", order="one-level", epochs=epochs, step_epochs=explicit)
        *_, schedule = S.build_search(config, 3, torch.device("cpu"))
        assert isinstance(schedule, torch.optim.lr_scheduler.StepLR) and schedule.step_size == period


def test_steps_per_epoch_cuts_every_epoch_to_its_first_steps(tiny_dataset, tmp_path):
    """A short epoch is the full epoch's first steps: the same weights as those steps taken by hand, no step more."""
    config = SearchConfig(**{**CONFIG.__dict__, "epochs": 1, "batch_size": 1, "steps_per_epoch": 2})
    data = S.search_data(config, tiny_dataset)
    assert min(len(data.weight), len(data.alpha)) >= 3, "the tiny dataset's epoch must be longer than the cut"
    model, sgd, adam, _ = S.build_search(config, data.num_classes, torch.device("cpu"))
    data.start_epoch(0, config.seed)
    for train, val in itertools.islice(zip(data.weight, data.alpha, strict=False), 2):
        S.search_step(model, "first", train[:2], val[:2], sgd, adam)
    steps = []
    run_search(config, tiny_dataset, tmp_path / "short", progress=False, on_step=lambda e, s: steps.append((e, s)))
    assert steps == [(0, 0), (0, 1)]
    saved = torch.load(tmp_path / "short" / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="steps_per_epoch must be None or a positive integer, got 0"):
        SearchConfig(**{**config.__dict__, "steps_per_epoch": 0})
