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


def test_search_without_zero_holds_it_at_0_and_counts_seven_ops(tiny_dataset, tmp_path, capsys):
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "2", "--batch-size", "2",
            "--no-zero", "--out", str(tmp_path / "run")]  # fmt: skip
    assert main(args) == 0
    last = json.loads((tmp_path / "run" / "records.json").read_text())[-1]
    assert not last["alphas_frozen"]  # the alphas moved, and Zero's weight did not
    for kind, rows in last["alpha_softmax"].items():
        assert all(row[-1] == 0 and abs(sum(row) - 1) < 1e-5 for row in rows), kind  # Zero is Peng's last op
    assert "(2/|O| = 0.286)" in capsys.readouterr().out
    # default holds Zero out of its peng search (Profile.peng_zero_op); --zero puts it back, as the papers search
    default = ["search", "--profile", "default", "--data", str(tiny_dataset), "--epochs", "2", "--batch-size", "2"]
    assert main([*default, "--out", str(tmp_path / "default")]) == 0
    assert "(2/|O| = 0.286)" in capsys.readouterr().out
    assert main([*default, "--zero", "--out", str(tmp_path / "with-zero")]) == 0
    assert "(2/|O| = 0.250)" in capsys.readouterr().out


def test_pvnas_search_with_its_edges_fixed_counts_the_ops_left_on_them(tiny_dataset, tmp_path, capsys):
    """``--fix-edges-at``: the last epoch's kept edges hold no Zero, so the bar is 2/5 (O_s) and 2/7 (O_t)."""
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "3", "--batch-size", "2",
            "--space", "pvnas", "--order", "one-level", "--fix-edges-at", "2", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    records = json.loads((tmp_path / "run" / "records.json").read_text())
    assert [r["alphas_frozen"] for r in records] == [True, False, False]  # ci: a third frozen
    assert [r["edges_fixed"] for r in records] == [False, False, True]
    edges = [{k: [e[1:] for e in cell] for k, cell in r["genotype"].items()} for r in records]
    assert edges[2] == edges[1]  # the edges derived at the end of epoch 1
    out = capsys.readouterr().out
    assert "S-NC: chosen ops on kept edges weigh" in out and "(2/|O| = 0.400)" in out and "(2/|O| = 0.286)" in out
    assert main([*args[:-3], "3", "--out", str(tmp_path / "bad")]) == 2
    assert "fix_edges_at must be None or in (1, 3)" in capsys.readouterr().err
    # default's PV-NAS search holds Zero out of node 0's two edges only: those are judged at 2/5 and 2/7, the rest
    # at 2/6 and 2/8 (nas/genotype.kept_edge_bars)
    default = ["search", "--profile", "default", "--data", str(tiny_dataset), "--epochs", "2", "--batch-size", "2",
               "--space", "pvnas", "--order", "one-level", "--out", str(tmp_path / "default")]  # fmt: skip
    assert main(default) == 0
    out = capsys.readouterr().out
    assert "(2/|O| = 0.333, 0.400 on edges without Zero)" in out
    assert "(2/|O| = 0.250, 0.286 on edges without Zero)" in out


def test_pvnas_search_with_the_eigenvalue_and_darts_es(tiny_dataset, tmp_path, capsys):
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "2", "--batch-size", "2",
            "--space", "pvnas", "--order", "one-level", "--sharpness", "2", "--out", str(tmp_path / "run")]
    assert main(args) == 0
    records = json.loads((tmp_path / "run" / "records.json").read_text())
    assert set(records[0]["genotype"]) == {"S-NC", "S-RC", "T-NC", "T-RC"}
    assert all(r["sharpness"]["clips"] == 2 for r in records)
    out = capsys.readouterr().out
    assert "dominant eigenvalue of the alpha Hessian per epoch: " in out
    one_epoch = [*args[:6], "1", *args[7:-1]]
    assert main([*one_epoch, str(tmp_path / "es"), "--early-stop", "1"]) == 0  # too short to fire: the flag is read
    assert main([*args[:-4], "--early-stop", "2", "--out", str(tmp_path / "bad")]) == 2
    assert "needs sharpness_clips > 0" in capsys.readouterr().err


REFERENCE_RUN = Path(__file__).parents[1] / "benchmarks" / "results" / "reference-search"


def reference_last() -> int:
    """The committed reference search's last epoch (its records.json: ``{"provenance", "records"}``)."""
    return len(json.loads((REFERENCE_RUN / "records.json").read_text())["records"]) - 1


def test_derive_the_reference_run(tmp_path, capsys):
    """`videonas derive` on the committed reference search: genotype.json equals the last recorded genotype."""
    from videonas_lite.nas.genotype import Genotype

    assert main(["derive", "--run", str(REFERENCE_RUN), "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out.strip()
    assert "\n" not in out
    assert out.startswith(f"peng genotype of {REFERENCE_RUN} epoch {reference_last()}: 2 cells (normal, reduce)")
    assert out.endswith(f"wrote genotype.json, cell_normal.svg, cell_reduce.svg to {tmp_path / 'd'}")
    records = json.loads((REFERENCE_RUN / "records.json").read_text())["records"]
    genotype = Genotype.load(tmp_path / "d" / "genotype.json")
    assert genotype == Genotype.from_record(records[-1]["genotype"])
    assert genotype.provenance["epoch"] == reference_last() and genotype.provenance["read"] == "records.json"
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
        "epoch": (REFERENCE_RUN, f"records.json: epoch: no record of epoch 99 (epochs 0..{reference_last()})"),
    }


def test_derive_errors_are_one_line(tmp_path, capsys):
    for name, (run, message) in _broken_runs(tmp_path).items():
        epoch = ["--epoch", "99"] if name == "epoch" else []
        assert main(["derive", "--run", str(run), *epoch, "--out", str(tmp_path / "o")]) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (name, err)
    assert not (tmp_path / "o").exists()


def _tiny_genotypes(tmp_path: Path) -> dict[str, Path]:
    """The reference run's genotype (peng) and a one-node PV-NAS genotype, as genotype.json files."""
    from videonas_lite.nas.genotype import Genotype

    records = json.loads((REFERENCE_RUN / "records.json").read_text())["records"]
    pvnas = Genotype("pvnas", 1, {kind: [("1x3x3 max pooling", 0, 0), (conv, 1, 0)] for kind, conv in (
        ("S-NC", "1x3x3 separable conv"), ("S-RC", "Identity"), ("T-NC", "3+3x3 temporal conv"),
        ("T-RC", "3+1x1 temporal conv"))})  # fmt: skip
    return {
        "peng": Genotype.from_record(records[-1]["genotype"]).save(tmp_path / "peng.json"),
        "pvnas": pvnas.save(tmp_path / "pvnas.json"),
    }


def test_retrain_and_evaluate_a_derived_network(tiny_dataset, tmp_path, capsys, one_thread):
    genotypes = _tiny_genotypes(tmp_path)
    run = tmp_path / "run"
    args = ["retrain", "--genotype", str(genotypes["peng"]), "--profile", "ci", "--data", str(tiny_dataset),
            "--out", str(run), "--epochs", "2", "--batch-size", "4", "--channels", "2"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"peng derived network of {genotypes['peng']}, 2 epochs: test acc")
    assert "(chance 0.250)" in out and out.strip().endswith(f"records and checkpoint in {run}")
    assert [r["epoch"] for r in json.loads((run / "records.json").read_text())] == [0, 1]
    assert main([*args, "--resume"]) == 0  # finished: nothing left to train, the same summary
    assert capsys.readouterr().out == out
    assert main(["evaluate", "--run", str(run), "--views", "2,1"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"{run} epoch 1: clip top-1 ") and "(2 clips x 1 crops)" in out
    result = json.loads((run / "evaluation.json").read_text())
    assert result["video"]["views"] == [2, 1] and sum(map(sum, result["confusion_matrix"])) == result["videos"] == 8
    assert out.strip().endswith(f"wrote {run / 'evaluation.json'}")

    pvnas = ["retrain", "--genotype", str(genotypes["pvnas"]), "--profile", "ci", "--data", str(tiny_dataset),
             "--out", str(tmp_path / "pv"), "--epochs", "2", "--batch-size", "4", "--channels", "2"]  # fmt: skip
    assert main(pvnas) == 0 and capsys.readouterr().out.startswith("pvnas derived network of ")
    assert main(["evaluate", "--run", str(tmp_path / "pv"), "--views", "1,3", "--out", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["space"] == "pvnas"


def test_retrain_and_evaluate_errors_are_one_line(tiny_dataset, tmp_path, capsys, one_thread):
    genotypes = _tiny_genotypes(tmp_path)
    zero = json.loads(genotypes["peng"].read_text())
    zero["cells"]["normal"][1][0] = "Zero"  # the second edge of the normal cell carries Zero, whatever it carried
    (tmp_path / "zero.json").write_text(json.dumps(zero))
    (tmp_path / "text.json").write_text("not json")
    common = ["--profile", "ci", "--data", str(tiny_dataset), "--epochs", "1", "--batch-size", "4", "--channels", "2"]
    run = tmp_path / "run"
    assert main(["retrain", "--genotype", str(genotypes["peng"]), *common, "--out", str(run)]) == 0
    capsys.readouterr()
    cases = {
        "missing genotype": (["retrain", "--genotype", str(tmp_path / "nope.json"), *common, "--out", str(tmp_path)],
                             f"{tmp_path / 'nope.json'}: cannot read the genotype file"),
        "Zero op": (["retrain", "--genotype", str(tmp_path / "zero.json"), *common, "--out", str(tmp_path / "z")],
                    "zero.json: cells.normal[1]: 'Zero' is no op of a derived edge"),
        "not JSON": (["retrain", "--genotype", str(tmp_path / "text.json"), *common, "--out", str(tmp_path / "t")],
                     "text.json: not JSON"),
        "used folder": (["retrain", "--genotype", str(genotypes["peng"]), *common, "--out", str(run)],
                        f"{run}: already holds a retraining checkpoint; resume it or choose another folder"),
        "changed": (["retrain", "--genotype", str(genotypes["peng"]), *common[:-1], "4", "--out", str(run), "--resume"],
                    "saved with another configuration (channels differ)"),
        "bad views": (["evaluate", "--run", str(run), "--views", "3"], "--views: expected CLIPS,CROPS"),
        "zero views": (["evaluate", "--run", str(run), "--views", "0,3"], "--views: expected CLIPS,CROPS"),
        "no run": (["evaluate", "--run", str(tmp_path / "none")], f"{tmp_path / 'none' / 'checkpoint.pt'}: not found"),
        "no data": (["evaluate", "--run", str(run), "--data", str(tmp_path / "nodata")],
                    f"{tmp_path / 'nodata'}: not found"),
    }  # fmt: skip
    for name, (argv, message) in cases.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ") and message in err, (name, err)
    assert not (tmp_path / "z").exists() and not (tmp_path / "t").exists()


def test_compare_trains_the_contenders_and_writes_the_table(tiny_dataset, tmp_path, capsys, one_thread):
    genotype = _tiny_genotypes(tmp_path)["peng"]
    args = ["compare", "--genotype", str(genotype), "--profile", "ci", "--data", str(tiny_dataset), "--out",
            str(tmp_path / "cmp"), "--seeds", "0,1", "--epochs", "1", "--only", "searched,tsn_2d", "--batch-size", "4",
            "--channels", "2"]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 + 4 + 1 and lines[0].startswith("[1/4] searched seed 0: top-1 ") and "parameters" in lines[0]
    assert lines[4].startswith("| architecture |") and [line.split(" |")[0] for line in lines[6:8]] == [
        "| searched", "| tsn_2d"]  # fmt: skip
    out = tmp_path / "cmp"
    assert lines[-1] == f"2 rows over seeds 0,1; wrote {out / 'compare.json'} and {out / 'compare.md'}"
    summary = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [r["architecture"] for r in summary["rows"]] == ["searched", "tsn_2d"]
    assert summary["provenance"]["command"].startswith(f"videonas compare --genotype {genotype} --profile ci --data ")
    assert summary["provenance"]["profile"] == "ci" and summary["provenance"]["epochs"] == 1
    assert main(args) == 0 and capsys.readouterr().out.count("(done earlier)") == 4
    cases = {
        "seeds": (["--seeds", "0,a"], "--seeds: expected comma-separated integers (e.g. 0,1,2), got '0,a'"),
        "only": (["--only", "vgg"], "--only: unknown contender(s) vgg (expected some of searched, r3d_18, "),
        "genotype": (["--genotype", str(tmp_path / "nope.json")], "nope.json: cannot read the genotype file"),
    }
    for name, (change, message) in cases.items():
        argv = list(args)
        argv[argv.index(change[0]) + 1] = change[1]
        assert main(argv) == 2, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (name, err)


def test_a_foreign_checkpoint_and_an_unwritable_run_folder_are_one_line(tiny_dataset, tmp_path, capsys):
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "1", "--batch-size", "2"]
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04 cut short by a crash of the disk")
    assert main([*args, "--resume", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {run / 'checkpoint.pt'}: not a readable search checkpoint") and "\n" not in err
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main([*args, "--out", str(blocker / "run")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {blocker / 'run'}") and "Not a directory" in err and "\n" not in err


def test_a_search_runs_with_the_network_off(tiny_dataset, tmp_path, monkeypatch):
    import socket

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise OSError("network disabled by the test")

    for name in ("connect", "connect_ex", "sendto"):
        monkeypatch.setattr(socket.socket, name, refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    args = ["search", "--profile", "ci", "--data", str(tiny_dataset), "--epochs", "1", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and not attempts, attempts


def test_bad_videos_stop_a_search_before_its_first_epoch_or_are_left_out(dataset_copy, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    videos = sorted(dataset_copy.rglob("*.mp4"))
    videos[0].write_bytes(b"")
    videos[5].write_bytes(videos[5].read_bytes()[:300])  # truncated
    args = ["search", "--profile", "ci", "--data", str(dataset_copy), "--epochs", "1", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path / "stopped")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert [line.split(": ")[1] for line in err if line.startswith("bad video: ")] == [str(videos[0]), str(videos[5])]
    assert err[-1].startswith(f"error: {dataset_copy}: 2 of 16 videos unusable (listed above)")
    assert "--on-bad-video skip" in err[-1] and not (tmp_path / "stopped" / "checkpoint.pt").exists()
    assert "Traceback" not in "\n".join(err)
    assert main([*args, "--out", str(tmp_path / "run"), "--on-bad-video", "skip"]) == 0
    skipped = json.loads((tmp_path / "run" / "skipped_videos.json").read_text())
    assert skipped["count"] == 2 and list(skipped["videos"]) == [str(videos[0]), str(videos[5])]
    assert skipped["videos"][str(videos[0])].startswith("file is empty")
    assert "leaving out 2 of 16 videos (--on-bad-video skip)" in capsys.readouterr().err
    import torch

    saved = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["config"]["exclude_videos"]
    assert list(saved) == [str(videos[0]), str(videos[5])]  # the run's configuration names what it left out
