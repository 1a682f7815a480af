"""Which retraining recipe makes the derived network learn in class time? Each setting is one real retrain, measured.

The papers retrain for 600 (Peng) or 128 (PV-NAS) epochs on a GPU; a class has minutes on one CPU thread. Every
setting here runs :func:`videonas_lite.train.retrain.run_retrain` on a profile's embedded dataset with
``RetrainConfig.from_profile(profile, **setting)`` (the profile's data, batch, draws and seed; the paper's weight
decay and momentum), retraining the derived network of the shipped reference search
(``benchmarks/results/reference-search``, its last epoch; ``--search-run``: another search run, or ``random-N``, a
random cell of the same space with at least four convs, PV-NAS Table 3's rule), and records per epoch the wall and
CPU seconds (``time.process_time``), the training accuracy and the clip-level test top-1 (one centred clip, centre
crop).
Results go to ``benchmarks/results/retrain_recipe.json`` (one entry per setting name, replaced when rerun), with
the machine, the commit and the load average; the ``ci`` and ``default`` profiles' ``retrain_*`` fields quote them.

    .venv/bin/python benchmarks/retrain_recipe.py --list
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/retrain_recipe.py default-c8-lr0.1-e10
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/retrain_recipe.py --profile ci   # the profile's own recipe
    .venv/bin/python benchmarks/retrain_recipe.py --table

One torch thread (``--threads``), as the teaching profiles search.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch
from harness import record_result

from videonas_lite.data.synthetic import ensure_dataset
from videonas_lite.nas.baselines import random_genotype
from videonas_lite.nas.genotype import Genotype, from_run
from videonas_lite.profiles import get_profile
from videonas_lite.train.retrain import RetrainConfig, run_retrain

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "retrain_recipe.json"
REFERENCE_NAME = "benchmarks/results/reference-search"


def _setting(profile: str, what: str, **recipe) -> dict:
    return {"profile": profile, "setting": what, "recipe": recipe}


# name -> the profile whose data it uses and the recipe (RetrainConfig fields) it changes
EXPERIMENTS: dict[str, dict] = {
    "default-c8-lr0.05-e2": _setting("default", "8 channels (Peng), lr 0.05, 2 epochs, no warm-up: one epoch's cost",
                                     channels=8, lr=0.05, epochs=2, warmup_epochs=0),
    "default-c8-lr0.1-e10-w1": _setting("default", "8 channels, lr 0.1, 10 epochs, 1 warm-up", channels=8, lr=0.1,
                                        epochs=10, warmup_epochs=1),
    "default-c8-lr0.025-e10": _setting("default", "8 channels, Peng's lr 0.025, 10 epochs, no warm-up", channels=8,
                                       lr=0.025, epochs=10, warmup_epochs=0),
    "default-c4-lr0.1-e10-w1": _setting("default", "4 channels, lr 0.1, 10 epochs, 1 warm-up", channels=4, lr=0.1,
                                        epochs=10, warmup_epochs=1),
    "default-c8-lr0.2-e10-w1": _setting("default", "8 channels, lr 0.2, 10 epochs, 1 warm-up", channels=8, lr=0.2,
                                        epochs=10, warmup_epochs=1),
    "ci-c8-lr0.025-e3": _setting("ci", "8 channels, Peng's lr 0.025, 3 epochs, no warm-up", channels=8, lr=0.025,
                                 epochs=3, warmup_epochs=0),
    "ci-c8-lr0.025-e2": _setting("ci", "8 channels, Peng's lr 0.025, 2 epochs, no warm-up", channels=8, lr=0.025,
                                 epochs=2, warmup_epochs=0),
    "default-c8-lr0.025-e8": _setting("default", "8 channels, Peng's lr 0.025, 8 epochs, no warm-up", channels=8,
                                      lr=0.025, epochs=8, warmup_epochs=0),
    "ci-c8-lr0.1-e3": _setting("ci", "8 channels, lr 0.1, 3 epochs, no warm-up", channels=8, lr=0.1, epochs=3,
                               warmup_epochs=0),
    "default-c8-lr0.1-e8": _setting("default", "8 channels, lr 0.1, 8 epochs, no warm-up", channels=8, lr=0.1,
                                    epochs=8, warmup_epochs=0),
    "ci-c4-lr0.1-e4-w1": _setting("ci", "4 channels, lr 0.1, 4 epochs, 1 warm-up", channels=4, lr=0.1, epochs=4,
                                  warmup_epochs=1),
    # PV-NAS's derived networks (PV-NAS-L, K = 1; pass --search-run a pvnas search): the paper's regularisation
    # (drop-path 0.1, dropout 0.4) against none, on the teaching data
    "pvnas-ci-c8-lr0.025-e3": _setting("ci", "PV-NAS-L, 8 channels, lr 0.025, 3 epochs, drop-path 0.1, dropout 0.4",
                                       channels=8, lr=0.025, epochs=3, warmup_epochs=0),
    "pvnas-ci-c8-lr0.025-e3-noreg": _setting("ci", "PV-NAS-L, 8 channels, lr 0.025, 3 epochs, no drop-path/dropout",
                                             channels=8, lr=0.025, epochs=3, warmup_epochs=0, drop_path=0.0,
                                             dropout=0.0),
    "pvnas-ci-c8-lr0.1-e3-noreg": _setting("ci", "PV-NAS-L, 8 channels, lr 0.1, 3 epochs, no drop-path/dropout",
                                           channels=8, lr=0.1, epochs=3, warmup_epochs=0, drop_path=0.0, dropout=0.0),
    "pvnas-ci-c8-lr0.025-e2-noreg": _setting("ci", "PV-NAS-L, 8 channels, lr 0.025, 2 epochs, no drop-path/dropout",
                                             channels=8, lr=0.025, epochs=2, warmup_epochs=0, drop_path=0.0,
                                             dropout=0.0),
    # the series' 20 minutes (issue 12): can retraining cost less? One draw of every training video per epoch (half
    # the steps), at larger lrs, with batches of 8, or 5 epochs (the profile: 2 draws of batches of 16, 8 epochs)
    "default-c8-lr0.025-e8-d1": _setting("default", "8 channels, Peng's lr 0.025, 8 epochs, no warm-up, 1 draw per "
                                         "video and epoch (half the steps)", channels=8,
                                         lr=0.025, epochs=8, warmup_epochs=0, draws=1),
    **{f"default-c8-lr{lr}-e8-d1": _setting("default", f"8 channels, lr {lr}, 8 epochs, no warm-up, 1 draw per video "
                                            "and epoch: half the steps at a larger lr", channels=8, lr=lr, epochs=8,
                                            warmup_epochs=0, draws=1) for lr in (0.05, 0.1)},
    "default-c8-lr0.025-e8-d1-b8": _setting("default", "8 channels, Peng's lr 0.025, 8 epochs, no warm-up, 1 draw per "
                                            "video and epoch, batches of 8: as many steps as 2 draws of 16, half the "
                                            "clips", channels=8, lr=0.025, epochs=8, warmup_epochs=0, draws=1,
                                            batch_size=8),
    "default-c8-lr0.025-e5": _setting("default", "8 channels, Peng's lr 0.025, 5 epochs, no warm-up (2 draws)",
                                      channels=8, lr=0.025, epochs=5, warmup_epochs=0, draws=2),
    "pvnas-default-c8-lr0.025-e8": _setting("default", "PV-NAS-L, 8 channels, lr 0.025, 8 epochs, drop-path 0.1, "
                                            "dropout 0.4", channels=8, lr=0.025, epochs=8, warmup_epochs=0),
}  # fmt: skip


def _machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()  # fmt: skip
    return {"cpu": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "commit": commit}  # fmt: skip


def _genotype(search_run: str) -> Genotype:
    """A search run's last genotype, or ``random-N``: PV-NAS Table 3's random Peng cell of seed N."""
    if search_run.startswith("random-"):
        seed = int(search_run.removeprefix("random-"))
        genotype = random_genotype("peng", seed)
        return Genotype(genotype.space, genotype.nodes, genotype.cells, {"random_genotype": ["peng", seed]})
    return from_run(ROOT / search_run)


def run(name: str, spec: dict, search_run: str = REFERENCE_NAME) -> dict:
    """One retrain of ``search_run``'s derived network with ``spec``'s profile and recipe."""
    profile = get_profile(spec["profile"])
    root = ensure_dataset(profile.dataset_dir(), profile.synth_config(), progress=False)
    genotype = _genotype(search_run)
    config = RetrainConfig.from_profile(profile, genotype.space, **spec["recipe"])
    start, cpu_start = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as out:
        records = run_retrain(config, genotype, root, out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    chance = 1 / records[0]["classes"]
    elapsed, epochs = 0.0, []
    for r in records:  # an epoch's seconds: its training and its test pass
        elapsed += r["seconds"]
        epochs.append({"epoch": r["epoch"], "wall_s": round(elapsed, 1), "lr": r["lr"],
                       "train_acc": round(r["train_acc"], 4), "test_acc": round(r["test_acc"], 4),
                       "test_loss": round(r["test_loss"], 4)})  # fmt: skip
    return {
        "name": name, "profile": profile.name, "setting": spec["setting"], "recipe": spec["recipe"],
        "config": asdict(config), "genotype": {**dict(genotype.provenance), "cells": genotype.to_record()},
        "chance": chance, "epochs": epochs, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
        "final_test_acc": records[-1]["test_acc"], "best_test_acc": max(r["test_acc"] for r in records),
        "load_after": os.getloadavg(), "machine": _machine(),
    }  # fmt: skip


def margin(test_videos: int, classes: int, sigmas: float = 3.0) -> float:
    """``sigmas`` binomial standard deviations of a chance-level top-1 on ``test_videos`` videos."""
    p = 1 / classes
    return sigmas * math.sqrt(p * (1 - p) / test_videos)


def markdown_table(results: dict) -> str:
    rows = ["| setting | profile | recipe | wall s (CPU s) | test top-1 per epoch (chance) |",
            "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, r in results.items():
        accs = " ".join(f"{e['test_acc']:.2f}" for e in r["epochs"])
        recipe = ", ".join(f"{k} {v}" for k, v in r["recipe"].items())
        rows.append(f"| `{name}` | {r['profile']} | {recipe} | {r['wall_s']:.0f} ({r['cpu_s']:.0f}) | "
                    f"{accs} ({r['chance']:.2f}) |")  # fmt: skip
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="settings to run (see --list)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        help="run exactly this profile's retrain recipe (its retrain_* fields); entry profile-P",
    )
    parser.add_argument("--search-run", default=REFERENCE_NAME,
                        help="the search run (relative to the repository) whose last genotype is retrained, or "
                        "random-N (a random cell of seed N); default: the reference search; other runs give the "
                        "entries the suffix @SEARCH_RUN")  # fmt: skip
    parser.add_argument("--table", action="store_true", help="print a Markdown table of the results file")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the teaching profiles: 1)")
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in EXPERIMENTS.items():
            print(f"{name:28s} {spec['profile']}: {spec['setting']}")
        return 0
    if args.table:
        print(markdown_table(json.loads(RESULTS.read_text())))
        return 0
    torch.set_num_threads(args.threads)
    todo = {n: EXPERIMENTS[n] for n in args.names}
    for name in args.profile:
        p = get_profile(name)
        recipe = dict(epochs=p.retrain_epochs, lr=p.retrain_lr, warmup_epochs=p.retrain_warmup_epochs,
                      channels=p.retrain_channels)  # fmt: skip
        todo[f"profile-{name}"] = _setting(name, f"the {name} profile's retrain recipe (its retrain_* fields)",
                                           **{k: v for k, v in recipe.items() if v is not None})  # fmt: skip
    suffix = "" if args.search_run == REFERENCE_NAME else f"@{args.search_run}"
    for name, spec in todo.items():
        name += suffix
        print(f"{name}: {spec['setting']}", flush=True)
        r = run(name, spec, args.search_run)
        record_result(RESULTS, name, r)
        print(
            f"  {r['wall_s']} s wall, {r['cpu_s']} s CPU; test top-1 per epoch "
            f"{[e['test_acc'] for e in r['epochs']]} (chance {r['chance']:.2f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
