"""The `videonas` command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from videonas_lite.cli import main
from videonas_lite.data.synthetic import class_names


def test_synth_writes_the_dataset(tmp_path, capsys):
    out = tmp_path / "d"
    args = ["synth", "--out", str(out), "--classes", "3", "--videos-per-class", "2", "--frames", "6", "--size", "32"]
    assert main(args) == 0
    assert "wrote 6 videos (motion)" in capsys.readouterr().out
    assert (out / "classInd.txt").read_text().split()[1::2] == class_names("motion", 3)
    assert main([*args[:2], str(tmp_path / "a"), *args[3:], "--mode", "appearance"]) == 0
    assert (tmp_path / "a" / "classInd.txt").read_text().split()[1] == "DiscTriangleDiamondRing"


def test_bad_values_exit_2_with_one_line(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--classes", "40"]) == 2
    assert capsys.readouterr().err.strip() == "error: classes must be in [2, 16] for 4 actor(s), got 40"
    assert main(["reproduce", "--profile", "laptop"]) == 2
    assert "unknown profile 'laptop'" in capsys.readouterr().err


def test_search_writes_records_and_resumes(tiny_dataset, tmp_path, capsys):
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "1", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    records = json.loads((tmp_path / "run" / "records.json").read_text())
    assert [r["epoch"] for r in records] == [0] and set(records[0]["genotype"]) == {"normal", "reduce"}
    assert main([*args, "--resume", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    assert "1 epochs; alpha-half accuracy per epoch: " in out and "(chance 0.250; " in out
    assert "normal: chosen ops on kept edges weigh " in out and "(2/|O| = 0.250)" in out
    assert "derived genotype over the last 1 epochs: stable" in out and "records and checkpoint in" in out
    assert main([*args[:-2], "--batch-size", "64", "--out", str(tmp_path / "big")]) == 2
    assert "exceeds a half of the training set" in capsys.readouterr().err


REFERENCE_RUN = Path(__file__).parents[1] / "benchmarks" / "results" / "reference-search"


def test_derive_the_reference_run(tmp_path, capsys):
    """`videonas derive` on the committed reference search: genotype.json equals the last recorded genotype."""
    from videonas_lite.nas.genotype import Genotype

    assert main(["derive", "--run", str(REFERENCE_RUN), "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and out.startswith(f"peng genotype of {REFERENCE_RUN} epoch 23: 2 cells (normal, reduce)")
    assert out.endswith(f"wrote genotype.json, cell_normal.svg, cell_reduce.svg to {tmp_path / 'd'}")
    records = json.loads((REFERENCE_RUN / "records.json").read_text())["records"]
    genotype = Genotype.load(tmp_path / "d" / "genotype.json")
    assert genotype == Genotype.from_record(records[-1]["genotype"])
    assert genotype.provenance["epoch"] == 23 and genotype.provenance["read"] == "records.json"
    assert all((tmp_path / "d" / f"cell_{k}.svg").read_text().lstrip().startswith("<?xml") for k in genotype)


def test_derive_from_a_checkpoint_alone(tmp_path, capsys):
    """A run folder holding only checkpoint.pt: its saved alphas at the last epoch, its records before."""
    from videonas_lite.nas.genotype import Genotype

    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(REFERENCE_RUN / "checkpoint.pt", run)
    records = json.loads((REFERENCE_RUN / "records.json").read_text())["records"]
    for epoch in (None, 5):
        assert main(["derive", "--run", str(run)] + ([] if epoch is None else ["--epoch", str(epoch)])) == 0
        genotype = Genotype.load(run / "genotype.json")
        assert genotype == Genotype.from_record(records[-1 if epoch is None else epoch]["genotype"])
        assert genotype.provenance["read"] == "checkpoint.pt"
    assert "epoch 5: 2 cells" in capsys.readouterr().out


def _broken_runs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    runs = {}
    for name in ("empty", "not-json", "not-records", "bad-weights", "bad-ckpt"):
        (tmp_path / name).mkdir()
        runs[name] = tmp_path / name
    (runs["not-json"] / "records.json").write_text("{oops")
    (runs["not-records"] / "records.json").write_text('{"records": 3}')
    record = json.loads((REFERENCE_RUN / "records.json").read_text())["records"][0]
    record["alpha_softmax"]["reduce"] = [[0.5, 0.5]] * 14
    (runs["bad-weights"] / "records.json").write_text(json.dumps([record]))
    (runs["bad-ckpt"] / "checkpoint.pt").write_bytes(b"not a checkpoint")
    return {
        "missing": (tmp_path / "nope", f"{tmp_path / 'nope'}: no such run folder"),
        "empty": (runs["empty"], f"{runs['empty']}: no records.json or checkpoint.pt"),
        "not-json": (runs["not-json"], f"{runs['not-json'] / 'records.json'}: not JSON or not readable"),
        "not-records": (runs["not-records"], "records.json: records: expected a non-empty array of per-epoch objects"),
        "bad-weights": (runs["bad-weights"], "records.json: records[0].alpha_softmax.reduce: expected an edges x 8"),
        "bad-ckpt": (runs["bad-ckpt"], f"{runs['bad-ckpt'] / 'checkpoint.pt'}: not a checkpoint of a search run"),
        "epoch": (REFERENCE_RUN, "records.json: epoch: no record of epoch 99 (epochs 0..23)"),
    }


def test_derive_errors_are_one_line(tmp_path, capsys):
    for name, (run, message) in _broken_runs(tmp_path).items():
        epoch = ["--epoch", "99"] if name == "epoch" else []
        assert main(["derive", "--run", str(run), *epoch, "--out", str(tmp_path / "o")]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (name, err)
    assert not (tmp_path / "o").exists()
