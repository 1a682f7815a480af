"""train/retrain.py: the papers' recipes, bit-identical resume, the NaN stop, the learning-rate schedule."""

from __future__ import annotations

import json
import math

import pytest
import torch

import videonas_lite.train.retrain as R
from videonas_lite.nas.baselines import random_genotype
from videonas_lite.nas.genotype import Genotype
from videonas_lite.profiles import get_profile
from videonas_lite.train.retrain import RetrainConfig, RetrainDiverged, lr_schedule, run_retrain

REAL_STEP = R.train_step
GENOTYPE = Genotype("peng", 2, {
    "normal": [("Conv_3", 0, 0), ("MPool_3", 1, 0), ("Skip_Con", 1, 1), ("SpeConv_3", 2, 1)],
    "reduce": [("APool_3", 0, 0), ("DilConv_3", 1, 0), ("Conv_1", 0, 1), ("Skip_Con", 2, 1)],
})  # fmt: skip
# drop-path and dropout on, so that a resume must restore their random draws too
CONFIG = RetrainConfig(epochs=3, batch_size=2, channels=2, layers=3, drop_path=0.2, dropout=0.3, crop_size=16,
                       short_side=16, cache=True, num_segments=2, frames_per_segment=2)  # fmt: skip


class Interrupt(Exception):
    pass


def test_defaults_are_the_papers():
    peng, pvnas = RetrainConfig(), RetrainConfig(space="pvnas")
    assert (peng.lr, peng.momentum, peng.weight_decay, peng.warmup_epochs, peng.epochs, peng.batch_size) == (
        0.025, 0.9, 3e-4, 0, 600, 72)  # fmt: skip
    assert (peng.channels, peng.layers, peng.k, peng.drop_path, peng.dropout) == (8, 6, None, 0.0, 0.0)
    assert (pvnas.lr, pvnas.weight_decay, pvnas.warmup_epochs, pvnas.epochs) == (0.01, 1e-4, 16, 128)
    assert (pvnas.channels, pvnas.k, pvnas.layers, pvnas.drop_path, pvnas.dropout) == (64, 1, None, 0.1, 0.4)


def test_from_profile_takes_the_profiles_data_and_the_papers_recipe():
    profile = get_profile("paper")  # its retrain_* fields are None: the paper's recipe
    config = RetrainConfig.from_profile(profile, "pvnas", epochs=4, warmup_epochs=1, lr=None)
    data = (profile.pvnas_retrain_batch_size, profile.crop_size, profile.decode_short_side, profile.cache_clips,
            profile.search_draws)  # PV-NAS retrains with 8 clips per GPU
    assert (config.batch_size, config.crop_size, config.short_side, config.cache, config.draws) == data
    assert (config.epochs, config.warmup_epochs, config.lr, config.drop_path) == (4, 1, 0.01, 0.1)
    assert RetrainConfig.from_profile(profile, "pvnas", epochs=64).warmup_epochs == 8  # the paper's 16 of 128
    assert RetrainConfig.from_profile(profile, "pvnas", epochs=2).warmup_epochs == 0
    assert RetrainConfig.from_profile(profile, "pvnas").warmup_epochs == 16
    with pytest.raises(ValueError, match=r"unknown retrain setting\(s\) \['epoch'\]"):
        RetrainConfig.from_profile(profile, epoch=3)
    with pytest.raises(ValueError, match=r"warmup_epochs must be in \[0, epochs=4\), got 4"):
        RetrainConfig.from_profile(profile, epochs=4, warmup_epochs=4)


def test_the_teaching_profiles_retrain_recipe_and_overrides():
    for name in ("ci", "default"):
        p = get_profile(name)
        c = RetrainConfig.from_profile(p)
        assert (c.epochs, c.lr, c.warmup_epochs, c.channels) == (
            p.retrain_epochs, p.retrain_lr, p.retrain_warmup_epochs, p.retrain_channels)  # fmt: skip
        pvnas = RetrainConfig.from_profile(p, "pvnas")
        assert (pvnas.drop_path, pvnas.dropout) == (p.retrain_drop_path, p.retrain_dropout) == (0.0, 0.0)
    paper = RetrainConfig.from_profile(get_profile("paper"), "pvnas")
    assert (paper.drop_path, paper.dropout) == (0.1, 0.4), "the paper profile keeps PV-NAS's regularisation"
    c = RetrainConfig.from_profile(get_profile("ci"), epochs=5, lr=0.1, channels=4)
    assert (c.epochs, c.lr, c.channels) == (5, 0.1, 4)  # explicit overrides win over the profile


def test_schedule_warms_up_linearly_then_anneals_by_cosine():
    config = RetrainConfig(epochs=4, warmup_epochs=1, lr=0.1, lr_min=0.01)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=config.lr)
    schedule = lr_schedule(optimizer, config, steps_per_epoch=2)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    cosine = [0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * s / 6)) for s in range(6)]
    assert lrs == pytest.approx([0.05, 0.1, *cosine]) and lrs[2] == pytest.approx(0.1)


def test_resume_after_an_interruption_is_bit_identical(tiny_dataset, tmp_path, one_thread):
    full = run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path / "full", progress=False)
    assert [r["epoch"] for r in full] == [0, 1, 2]
    assert json.loads((tmp_path / "full" / "records.json").read_text()) == full
    assert all(0 <= r["train_acc"] <= 1 and 0 <= r["test_acc"] <= 1 and r["seconds"] > 0 for r in full)
    assert Genotype.load(tmp_path / "full" / "genotype.json") == GENOTYPE

    def stop_in_epoch_2(epoch, step):
        if epoch == 2 and step == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path / "cut", progress=False, on_step=stop_in_epoch_2)
    assert len(json.loads((tmp_path / "cut" / "records.json").read_text())) == 2
    resumed = run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path / "cut", resume=True, progress=False)
    drop = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]  # noqa: E731
    assert drop(resumed) == drop(full)
    a, b = (torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("full", "cut"))
    assert a["model"].keys() == b["model"].keys() and all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    moments = [(a["optimizer"]["state"][i], b["optimizer"]["state"][i]) for i in a["optimizer"]["state"]]
    assert moments and all(torch.equal(x["momentum_buffer"], y["momentum_buffer"]) for x, y in moments)
    assert a["schedule"] == b["schedule"]


def test_refuses_a_used_folder_and_a_changed_configuration(tiny_dataset, tmp_path, one_thread):
    config = RetrainConfig(**{**CONFIG.__dict__, "epochs": 1})
    run_retrain(config, GENOTYPE, tiny_dataset, tmp_path, progress=False)
    with pytest.raises(ValueError, match="already holds a retraining checkpoint; resume it or choose another folder"):
        run_retrain(config, GENOTYPE, tiny_dataset, tmp_path, progress=False)
    changed = RetrainConfig(**{**config.__dict__, "epochs": 2, "lr": 0.1})
    with pytest.raises(ValueError, match=r"checkpoint.pt: saved with another configuration \(epochs, lr differ\)"):
        run_retrain(changed, GENOTYPE, tiny_dataset, tmp_path, resume=True, progress=False)
    other = random_genotype("peng", 0, nodes=2)
    with pytest.raises(ValueError, match=r"checkpoint.pt: saved with another genotype$"):
        run_retrain(config, other, tiny_dataset, tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="exceeds the training split"):
        run_retrain(RetrainConfig(**{**config.__dict__, "batch_size": 64}), GENOTYPE, tiny_dataset, tmp_path / "b")


def test_a_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch, one_thread):
    per_epoch, calls, saved = len(R.retrain_data(CONFIG, tiny_dataset).train), [], {}

    def nan_in_epoch_1(*args):
        calls.append(1)
        if len(calls) == per_epoch + 1:  # the first step of epoch 1
            saved["checkpoint"] = (tmp_path / "checkpoint.pt").read_bytes()
            return float("nan"), 0
        return REAL_STEP(*args)

    monkeypatch.setattr(R, "train_step", nan_in_epoch_1)
    message = r"^epoch 1, step 0: training loss nan; the checkpoint of epoch 0 is kept$"
    with pytest.raises(RetrainDiverged, match=message):
        run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path, progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == saved["checkpoint"]
    assert [r["epoch"] for r in json.loads((tmp_path / "records.json").read_text())] == [0]


def test_a_real_nan_is_not_stepped_on(one_thread):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    weight = model.weight.detach().clone()
    loss, hits = R.train_step(model, torch.full((2, 3), float("nan")), torch.tensor([0, 1]), optimizer,
                              RetrainConfig(), torch.device("cpu"))  # fmt: skip
    assert math.isnan(loss) and hits == 0 and torch.equal(model.weight, weight)


def test_a_bf16_step_runs_and_its_loss_is_taken_in_float32(one_thread):
    """bf16 autocast (CUDA's default) forced on the CPU: the logits are bf16, the loss float32, the step taken."""
    config = RetrainConfig(bf16=True, channels=2, layers=3)
    model = R.build_model(config, GENOTYPE, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.classifier.weight.detach().clone()
    clips, cpu = torch.randn(4, 3, 2, 8, 8), torch.device("cpu")
    loss, hits = R.train_step(model, clips, torch.arange(4), optimizer, config, cpu)
    assert math.isfinite(loss) and 0 <= hits <= 4 and not torch.equal(model.classifier.weight, before)
    with config.autocast(torch.device("cpu")):
        assert model(torch.randn(2, 3, 2, 8, 8)).dtype == torch.bfloat16


def test_a_hand_designed_network_retrains_resumes_and_loads(tiny_dataset, tmp_path, one_thread):
    """run_retrain takes a baseline's name as the architecture: same loop, checkpoint and resume (Peng Table 2)."""
    config = RetrainConfig(**{**CONFIG.__dict__, "epochs": 2})
    full = run_retrain(config, "tsn_2d", tiny_dataset, tmp_path / "full", progress=False)

    def stop_in_epoch_1(epoch, step):
        if epoch == 1 and step == 0:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_retrain(config, "tsn_2d", tiny_dataset, tmp_path / "cut", progress=False, on_step=stop_in_epoch_1)
    resumed = run_retrain(config, "tsn_2d", tiny_dataset, tmp_path / "cut", resume=True, progress=False)
    assert [r["test_acc"] for r in resumed] == [r["test_acc"] for r in full]
    assert [r["train_loss"] for r in resumed] == [r["train_loss"] for r in full]
    assert not (tmp_path / "full" / "genotype.json").exists()
    model, loaded, genotype, state = R.load_run(tmp_path / "full")
    assert genotype is None and state["architecture"] == "tsn_2d" and loaded == config
    assert type(model).__name__ == "FrameAverage2D" and model.classifier.out_features == 4
    with pytest.raises(ValueError, match=r"checkpoint.pt: saved with another architecture$"):
        run_retrain(config, "c3d", tiny_dataset, tmp_path / "full", resume=True, progress=False)
    with pytest.raises(ValueError, match=r"checkpoint.pt: saved with another architecture$"):
        run_retrain(config, GENOTYPE, tiny_dataset, tmp_path / "full", resume=True, progress=False)
    with pytest.raises(ValueError, match=r"^unknown architecture 'resnet' \(expected one of r3d_18, "):
        run_retrain(config, "resnet", tiny_dataset, tmp_path / "bad", progress=False)


def test_a_full_disk_mid_run_keeps_the_last_good_checkpoint(tiny_dataset, tmp_path, monkeypatch, one_thread):
    save = torch.save

    def full_at_epoch_1(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 1:
            raise RuntimeError("PytorchStreamWriter failed writing file data/3: file write failed")
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_at_epoch_1)
    wrote = r"cannot write \(PytorchStreamWriter failed writing .*\); the previous checkpoint\.pt"
    with pytest.raises(OSError, match=wrote):
        run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path / "run", progress=False)
    monkeypatch.undo()
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["epoch"] == 0
    assert not (tmp_path / "run" / "checkpoint.pt.tmp").exists()
    resumed = run_retrain(CONFIG, GENOTYPE, tiny_dataset, tmp_path / "run", resume=True, progress=False)
    assert [r["epoch"] for r in resumed] == [0, 1, 2]

