"""train/distributed.py: two CPU processes on gloo (as torchrun starts them) against one process.

Two processes are started once for the module (forked); each joins a gloo group on 127.0.0.1 and runs, through the
package's own loops, one epoch of a tiny first-order search, of a one-level search and of a retraining, then
saves its final state. The tests check:

(a) the replicas hold identical weights and alphas (every tensor of the state, bit for bit: the gradients are
    all-reduced before every step and the BN running averages at the end of the epoch);
(b) the 2-process run equals a 1-process run over the same global batches, within float tolerance.

Why the 1-process reference is not simply one process with the whole batch: the cells' BatchNorms normalise
with the statistics of the batch they see, and under torchrun each rank sees only its half of the global
batch (PV-NAS: BN "individually in each GPU"; no SyncBatchNorm). The loss of the whole batch under one BN is
another function than the mean of the two halves' losses each under its own BN. So the reference below
splits every global batch into the two ranks' halves (data/epochs.py: rank r takes positions
[r b/2, (r+1) b/2)), takes the gradient of each half's mean loss separately and steps on their mean:
gradient accumulation over the halves, d/dtheta (L_0 + L_1) / 2, which is what the all-reduce computes.
It is written out here from nas/bilevel.py's loss_gradient and plain optimiser steps, not by the loops.

Also checked: the records rank 0 wrote are what one process scores with the saved weights (the view is
scored batch by batch across the ranks, the same batches), and rank 0 alone wrote the run folder.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from videonas_lite.data.epochs import EpochBatches
from videonas_lite.nas.bilevel import loss_gradient, split_parameters
from videonas_lite.nas.genotype import Genotype
from videonas_lite.train import distributed
from videonas_lite.train.retrain import RetrainConfig, build_model, lr_schedule, retrain_data, run_retrain
from videonas_lite.train.search import SearchConfig, build_search, evaluate, run_search, search_data

WORLD = 2
SEARCH = SearchConfig(space="peng", plan="nr", epochs=1, batch_size=4, channels=2, crop_size=16, short_side=16,
                      cache=True, num_segments=2, frames_per_segment=2, draws=2)  # fmt: skip
GENOTYPE = Genotype("peng", 2, {
    "normal": [("Conv_3", 0, 0), ("MPool_3", 1, 0), ("Skip_Con", 1, 1), ("SpeConv_3", 2, 1)],
    "reduce": [("APool_3", 0, 0), ("DilConv_3", 1, 0), ("Conv_1", 0, 1), ("Skip_Con", 2, 1)],
})  # fmt: skip
# no drop-path or dropout (their masks are drawn per rank); a clip norm, so the mean must come before it
RETRAIN = RetrainConfig(epochs=1, batch_size=4, channels=2, layers=3, drop_path=0.0, dropout=0.0, crop_size=16,
                        short_side=16, cache=True, num_segments=2, frames_per_segment=2, draws=2,
                        grad_clip=0.5)  # fmt: skip
ORDERS = ("first", "one-level")
RESUMED = SearchConfig(**{**SEARCH.__dict__, "epochs": 2})  # interrupted in epoch 1, resumed by both ranks


class Interrupt(Exception):
    pass


def _stop_in_epoch_1(epoch: int, step: int) -> None:
    if epoch == 1 and step == 1:
        raise Interrupt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keeping(build, kept: list):
    """``build`` that also keeps what it built (the loops keep their model to themselves)."""

    def wrapped(*args, **kwargs):
        built = build(*args, **kwargs)
        kept.append(built[0] if isinstance(built, tuple) else built)
        return built

    return wrapped


def _rank_main(rank: int, port: int, data: str, out: str) -> None:
    """One process of the run, set up as torchrun sets it up (its environment, then the CLI's join)."""
    import videonas_lite.train.retrain as R
    import videonas_lite.train.search as S

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank),
                      WORLD_SIZE=str(WORLD))  # fmt: skip
    torch.set_num_threads(1)
    ranks = distributed.init(torch.device("cpu"))
    assert (ranks.rank, ranks.world_size) == (rank, WORLD)
    kept: list = []
    S.build_search, R.build_model = _keeping(S.build_search, kept), _keeping(R.build_model, kept)
    try:
        for order in ORDERS:
            run_search(SearchConfig(**{**SEARCH.__dict__, "order": order}), data, Path(out) / f"search-{order}",
                       progress=False)  # fmt: skip
        run_retrain(RETRAIN, GENOTYPE, data, Path(out) / "retrain", progress=False)
        states = dict(zip([f"search-{o}" for o in ORDERS] + ["retrain"], kept, strict=True))
        run_search(RESUMED, data, Path(out) / "full", progress=False)
        try:
            run_search(RESUMED, data, Path(out) / "cut", progress=False, on_step=_stop_in_epoch_1)
        except Interrupt:
            pass
        run_search(RESUMED, data, Path(out) / "cut", resume=True, progress=False)
        states.update(full=kept[-3], resumed=kept[-1])
        torch.save({k: m.state_dict() for k, m in states.items()}, Path(out) / f"rank{rank}.pt")
    finally:
        distributed.shutdown()


@pytest.fixture(scope="module")
def two_ranks(tiny_dataset, tmp_path_factory) -> Path:
    """The folder of the 2-process runs: a run folder per task and each rank's final states."""
    out = tmp_path_factory.mktemp("ddp")
    # fork, not spawn: the children skip importing torch again (8 s against 30 s on two busy cores)
    mp.start_processes(_rank_main, args=(_free_port(), str(tiny_dataset), str(out)), nprocs=WORLD,
                       start_method="fork")  # fmt: skip
    return out


def _halves(batch) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The ranks' slices of a global batch: rank r's clips are positions [r b/N, (r+1) b/N)."""
    clips, labels = batch[:2]
    share = len(labels) // WORLD
    return [(clips[r * share : (r + 1) * share], labels[r * share : (r + 1) * share]) for r in range(WORLD)]


def _mean_gradient(model, halves, wrt) -> list[torch.Tensor]:
    """(1/N) sum_r grad of half r's mean loss, each half through the network (and its BNs) on its own."""
    grads = [loss_gradient(model, h, wrt)[0] for h in halves]
    return [sum(g) / len(halves) for g in zip(*grads, strict=True)]


def _step(optimizer, params, grads) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _one_process_search(config: SearchConfig, data_dir) -> torch.nn.Module:
    """One epoch of first order / one level over the global batches, the gradients accumulated over halves."""
    data = search_data(config, data_dir, distributed.Ranks())
    model, sgd, adam, _ = build_search(config, data.num_classes, torch.device("cpu"))
    weights, alphas = split_parameters(model)
    data.start_epoch(0)
    for train, val in zip(data.weight, data.alpha, strict=False):
        arch_batch = val if config.order == "first" else train  # one level: the alphas step on the training batch
        _step(adam, alphas, _mean_gradient(model, _halves(arch_batch), alphas))
        _step(sgd, weights, _mean_gradient(model, _halves(train), weights))
    return model


def _one_process_retrain(config: RetrainConfig, data_dir) -> torch.nn.Module:
    """One epoch of SGD over the global batches: the halves' mean gradient, clipped, then the step."""
    data = retrain_data(config, data_dir, distributed.Ranks())
    model = build_model(config, GENOTYPE, len(data.classes))
    optimizer = torch.optim.SGD(model.parameters(), config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)  # fmt: skip
    schedule = lr_schedule(optimizer, config, len(data.train))
    params = list(model.parameters())
    data.start_epoch(0, config.seed)
    model.train()
    for batch in data.train:
        for p, g in zip(params, _mean_gradient(model, _halves(batch), params), strict=True):
            p.grad = g
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule.step()
    return model


def _states(out: Path) -> list[dict]:
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def test_the_replicas_hold_identical_weights_alphas_and_bn_averages(two_ranks):
    first, *others = _states(two_ranks)
    for other in others:
        for task, state in first.items():
            assert state.keys() == other[task].keys()
            different = [k for k in state if not torch.equal(state[k], other[task][k])]
            assert not different, f"{task}: rank 0 and another rank differ in {different}"


@pytest.mark.parametrize("order", ORDERS)
def test_two_processes_equal_one_over_the_same_global_batches(two_ranks, tiny_dataset, one_thread, order):
    config = SearchConfig(**{**SEARCH.__dict__, "order": order})
    reference = _one_process_search(config, tiny_dataset).state_dict()
    ranked = _states(two_ranks)[0][f"search-{order}"]
    start = build_search(config, 4, torch.device("cpu"))[0]
    names = [n for n, _ in start.named_parameters()]
    moved = [n for n, p in start.named_parameters() if not torch.equal(reference[n], p)]
    assert any("alpha" in n for n in moved) and len(moved) > len(names) // 2  # the epoch moved weights and alphas
    for n in names:
        torch.testing.assert_close(ranked[n], reference[n], rtol=1e-5, atol=1e-6, msg=lambda m, n=n: f"{n}: {m}")


def test_two_process_retraining_equals_one_over_the_same_global_batches(two_ranks, tiny_dataset, one_thread):
    reference = _one_process_retrain(RETRAIN, tiny_dataset).state_dict()
    ranked = _states(two_ranks)[0]["retrain"]
    names = [n for n, _ in build_model(RETRAIN, GENOTYPE, 4).named_parameters()]
    for n in names:
        torch.testing.assert_close(ranked[n], reference[n], rtol=1e-5, atol=1e-6, msg=lambda m, n=n: f"{n}: {m}")


@pytest.mark.parametrize("order", ORDERS)
def test_rank_zeros_records_are_what_one_process_scores_with_the_saved_weights(two_ranks, tiny_dataset, order,
                                                                               one_thread):  # fmt: skip
    run = two_ranks / f"search-{order}"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "records.json"]  # no .tmp of a second writer
    (record,) = json.loads((run / "records.json").read_text())
    config = SearchConfig(**{**SEARCH.__dict__, "order": order})
    data = search_data(config, tiny_dataset, distributed.Ranks())
    model = build_search(config, data.num_classes, torch.device("cpu"))[0]
    model.load_state_dict(torch.load(run / "checkpoint.pt", weights_only=True)["model"])
    train_acc, train_loss = evaluate(model, data.weight_eval)
    val_acc, val_loss = evaluate(model, data.alpha_eval)
    assert (record["train_acc"], record["train_eval_loss"]) == (train_acc, train_loss)
    assert (record["val_acc"], record["val_eval_loss"]) == (val_acc, val_loss)
    (retrained,) = json.loads((two_ranks / "retrain" / "records.json").read_text())
    assert retrained["epoch"] == 0 and 0 <= retrained["train_acc"] <= 1


def test_a_run_interrupted_under_torchrun_resumes_to_the_same_state(two_ranks):
    """Both ranks stopped in epoch 1 and resumed from rank 0's checkpoint of epoch 0: every rank ends where an
    uninterrupted 2-process run ends, bit for bit, and rank 0's records are the same."""
    full, cut = (json.loads((two_ranks / run / "records.json").read_text()) for run in ("full", "cut"))
    assert [r["epoch"] for r in full] == [0, 1] and cut == full
    for state in _states(two_ranks):
        assert all(torch.equal(state["full"][k], state["resumed"][k]) for k in state["full"])


def test_second_order_is_refused_under_torchrun(monkeypatch, tmp_path):
    monkeypatch.setattr(distributed, "current", lambda: distributed.Ranks(0, 2, 0))
    with pytest.raises(ValueError, match="order 'second' under torchrun"):
        run_search(SearchConfig(**{**SEARCH.__dict__, "order": "second"}), tmp_path, tmp_path / "run")


def test_the_global_batch_must_split_evenly():
    with pytest.raises(ValueError, match="multiple of the 3 process"):
        EpochBatches(range(10), 4, seed=0, rank=0, world_size=3)


def test_torchruns_environment_is_read_and_checked(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert distributed.from_env() == distributed.Ranks(2, 4, 0)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="RANK=4 must be below WORLD_SIZE=4"):
        distributed.from_env()
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ValueError, match="RANK='x'"):
        distributed.from_env()
