"""train/search.py: a search runs, records each epoch, resumes bit-identically, stops on divergence."""

from __future__ import annotations

import json

import pytest
import torch

import videonas_lite.train.search as S
from videonas_lite.nas.genotype import derive_cell
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


@pytest.mark.parametrize("order", ["first", "second", "one-level"])
def test_resume_after_an_interruption_is_bit_identical(tiny_dataset, tmp_path, order):
    config = SearchConfig(**{**CONFIG.__dict__, "order": order})
    full = run_search(config, tiny_dataset, tmp_path / "full", progress=False)
    assert len(full) == 2 and json.loads((tmp_path / "full" / "records.json").read_text()) == full
    assert all(0.0 <= r["val_acc"] <= 1.0 and r["train_loss"] > 0 for r in full)

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


def test_divergence_stops_with_a_clear_message_and_keeps_the_last_checkpoint(tiny_dataset, tmp_path, monkeypatch):
    config = SearchConfig(**{**CONFIG.__dict__, "epochs": 3})
    _, train, val, _ = S._loaders(config, tiny_dataset)
    per_epoch, calls, saved = min(len(train), len(val)), [], {}

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
