"""The `videonas` command."""

from __future__ import annotations

import json

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
