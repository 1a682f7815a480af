"""train/compare.py: contenders, the aggregation over seeds (hand-worked), the table files, resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import videonas_lite.train.compare as C
from videonas_lite.nas.baselines import BASELINES, random_genotype
from videonas_lite.nas.genotype import Genotype
from videonas_lite.train.compare import aggregate, contenders, markdown_table, run_compare, spread
from videonas_lite.train.retrain import RetrainConfig

GENOTYPE = Genotype("peng", 2, {
    "normal": [("Conv_3", 0, 0), ("MPool_3", 1, 0), ("Skip_Con", 1, 1), ("SpeConv_3", 2, 1)],
    "reduce": [("APool_3", 0, 0), ("DilConv_3", 1, 0), ("Conv_1", 0, 1), ("Skip_Con", 2, 1)],
})  # fmt: skip
CONFIG = RetrainConfig(epochs=1, batch_size=4, channels=2, layers=3, crop_size=16, short_side=16, cache=True,
                       num_segments=2, frames_per_segment=2)  # fmt: skip


def _run(name, kind, seed, top1, wall, params=100):
    return {"architecture": name, "kind": kind, "seed": seed, "top1": top1, "top5": 1.0, "wall_s": wall,
            "params": params, "size_mb": params * 4 / 2**20, "flops_per_view": 10 * params}  # fmt: skip


def test_contenders_are_the_searched_cell_the_baselines_and_five_random_cells():
    table = contenders(GENOTYPE)
    assert list(table) == ["searched", *BASELINES, *(f"random-{i}" for i in range(5))]
    assert table["searched"] is GENOTYPE and all(table[name] == name for name in BASELINES)
    randoms = [table[f"random-{i}"] for i in range(5)]
    assert all(g.space == "peng" and g.nodes == GENOTYPE.nodes for g in randoms) and len(set(randoms)) == 5
    assert list(contenders(GENOTYPE, only=["tsn_2d", "searched"])) == ["searched", "tsn_2d"]
    one_node = contenders(random_genotype("peng", 9, min_convs=1, nodes=1), random_cells=2)["random-1"]
    assert one_node.nodes == 1 and one_node.provenance["random"]["min_convs"] == 2  # every edge of 2: a conv
    with pytest.raises(ValueError, match=r"^--only: unknown contender\(s\) random-5 \(expected some of searched, "):
        contenders(GENOTYPE, only=["random-5"])


def test_aggregation_over_seeds_and_over_random_cells_by_hand():
    runs = [_run("searched", "searched", s, top1, wall) for s, top1, wall in ((0, 0.5, 10), (1, 0.7, 12), (2, 0.6, 14))]
    runs += [_run("random-0", "random", s, t, 1, params=200) for s, t in ((0, 0.2), (1, 0.4))]
    runs += [_run("random-1", "random", s, t, 3, params=400) for s, t in ((0, 0.5), (1, 0.7))]
    rows = {r["architecture"]: r for r in aggregate(runs)}
    assert list(rows) == ["searched", "random-0", "random-1", "random (mean of 2)"]
    top1 = rows["searched"]["top1"]
    # mean (0.5 + 0.7 + 0.6) / 3 = 0.6; sample std sqrt((0.01 + 0.01 + 0) / 2) = 0.1
    assert top1["mean"] == pytest.approx(0.6) and top1["std"] == pytest.approx(0.1)
    assert (top1["min"], top1["max"], top1["n"]) == (0.5, 0.7, 3) and rows["searched"]["seeds"] == [0, 1, 2]
    assert rows["searched"]["wall_s"]["mean"] == pytest.approx(12) and rows["searched"]["wall_s"]["std"] == 2
    assert rows["searched"]["params"] == 100 and rows["searched"]["flops_per_view"] == 1000
    summary = rows["random (mean of 2)"]  # over the cells' means 0.3 and 0.6: mean 0.45, std sqrt(2 * 0.15^2)
    assert summary["top1"]["mean"] == pytest.approx(0.45) and summary["top1"]["std"] == pytest.approx(0.2121320344)
    assert (summary["top1"]["min"], summary["top1"]["max"]) == pytest.approx((0.3, 0.6))
    assert summary["params"] == 300 and summary["kind"] == "random-summary"
    assert spread([0.25]) == {"mean": 0.25, "std": None, "min": 0.25, "max": 0.25, "n": 1}
    with pytest.raises(ValueError, match="spread: no values"):
        spread([])
    md = markdown_table(aggregate(runs[:3]) + aggregate([_run("tsn_2d", "baseline", 0, 0.25, 5, params=6220)]))
    lines = md.splitlines()
    assert lines[0].startswith("| architecture | params | MB | MFLOPs/view | top-1 | top-5 | wall s |")
    assert lines[2] == ("| searched | 100 | 0.000 | 0.00 | 0.600 ± 0.100 (0.500–0.700) | 1.000 ± 0.000 (1.000–1.000) "
                        "| 12.0 ± 2.0 (10.0–14.0) | 3 |")  # fmt: skip
    assert "| tsn_2d | 6,220 | 0.024 | 0.06 | 0.250 ± n/a (0.250–0.250) |" in lines[3]


def test_compare_writes_the_table_and_a_rerun_trains_nothing(tiny_dataset, tmp_path, monkeypatch, one_thread):
    lines = []
    summary = run_compare(CONFIG, GENOTYPE, tiny_dataset, tmp_path, seeds=(0, 1), only=["searched", "tsn_2d"],
                          command="test", profile="ci", progress=False, log=lines.append)  # fmt: skip
    assert [line.split(":")[0] for line in lines] == [
        "[1/4] searched seed 0", "[2/4] searched seed 1", "[3/4] tsn_2d seed 0", "[4/4] tsn_2d seed 1"]  # fmt: skip
    assert json.loads((tmp_path / "compare.json").read_text()) == summary
    results = {(n, s): json.loads((tmp_path / n / f"seed-{s}" / "result.json").read_text())
               for n in ("searched", "tsn_2d") for s in (0, 1)}  # fmt: skip
    assert all(r["seed"] == s and r["config"]["seed"] == s and r["epochs"] == 1 for (_, s), r in results.items())
    rows = {r["architecture"]: r for r in summary["rows"]}
    for name in ("searched", "tsn_2d"):
        top1 = [results[name, s]["top1"] for s in (0, 1)]
        assert rows[name]["top1"]["mean"] == pytest.approx(sum(top1) / 2)
        assert rows[name]["top1"]["std"] == pytest.approx(abs(top1[0] - top1[1]) / 2**0.5)
        assert rows[name]["wall_s"]["min"] == min(results[name, s]["wall_s"] for s in (0, 1)) > 0
    assert rows["tsn_2d"]["params"] == 90 * 64 + 41 * 8 + 4 * 8 * 4 + 4 and rows["tsn_2d"]["flops_per_view"] > 0
    provenance = summary["provenance"]
    assert (provenance["command"], provenance["profile"], provenance["epochs"], provenance["seeds"]) == (
        "test", "ci", 1, [0, 1])  # fmt: skip
    assert provenance["commit"] and "cores" in provenance["machine"] and provenance["config"]["batch_size"] == 4
    assert provenance["data"] == Path(tiny_dataset).name  # which dataset the rows were trained and tested on
    md = (tmp_path / "compare.md").read_text()
    assert "| searched |" in md and "| tsn_2d |" in md and "1 epochs, seeds 0, 1" in md

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(C, "run_retrain", no_training)
    again = []
    rerun = run_compare(CONFIG, GENOTYPE, tiny_dataset, tmp_path, seeds=(0, 1), only=["searched", "tsn_2d"],
                        command="test", profile="ci", progress=False, log=again.append)  # fmt: skip
    assert all(line.endswith("(done earlier)") for line in again) and len(again) == 4
    assert rerun["rows"] == summary["rows"]
    with pytest.raises(ValueError, match=r"seed-0/result.json: saved with another configuration; choose another"):
        run_compare(RetrainConfig(**{**CONFIG.__dict__, "epochs": 2}), GENOTYPE, tiny_dataset, tmp_path,
                    seeds=(0,), only=["searched"], progress=False, log=None)  # fmt: skip


def test_an_interrupted_comparison_resumes_its_runs(tiny_dataset, tmp_path, one_thread):
    """A run whose result is missing resumes from its checkpoint: a finished one trains no further epoch."""
    run_compare(CONFIG, GENOTYPE, tiny_dataset, tmp_path, seeds=(0,), only=["tsn_2d"], progress=False, log=None)
    run = tmp_path / "tsn_2d" / "seed-0"
    checkpoint, result = (run / "checkpoint.pt").read_bytes(), json.loads((run / "result.json").read_text())
    (run / "result.json").unlink()
    (tmp_path / "compare.json").unlink()
    lines = []
    run_compare(CONFIG, GENOTYPE, tiny_dataset, tmp_path, seeds=(0,), only=["tsn_2d"], progress=False,
                log=lines.append)  # fmt: skip
    assert (run / "checkpoint.pt").read_bytes() == checkpoint and not lines[0].endswith("(done earlier)")
    assert json.loads((run / "result.json").read_text()) == result
    with pytest.raises(ValueError, match=r"seeds: expected distinct integers, got \[0, 0\]"):
        run_compare(CONFIG, GENOTYPE, tiny_dataset, tmp_path, seeds=(0, 0), progress=False, log=None)
    pvnas = RetrainConfig(**{**CONFIG.__dict__, "space": "pvnas", "layers": None})
    with pytest.raises(ValueError, match="genotype: space 'peng', but the retrain configuration is for 'pvnas'"):
        run_compare(pvnas, GENOTYPE, tiny_dataset, tmp_path, progress=False, log=None)
