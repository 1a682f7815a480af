"""Which settings make the search learn in class time? Each experiment is one real search, measured.

Every experiment runs :func:`videonas_lite.train.search.run_search` on an embedded dataset with one
recipe (data, network, optimisation) and records, per epoch: the wall time, the accuracy of the
supernet on both halves (deterministic view, train/search.py), and how far the alphas moved from
uniform. Results go to ``benchmarks/results/recipe.json`` (one entry per experiment name, replaced when
rerun), which README's recipe table quotes.

    .venv/bin/python benchmarks/recipe.py --list
    .venv/bin/python benchmarks/recipe.py default-teaching paper-on-teaching-data
    .venv/bin/python benchmarks/recipe.py --profile default          # exactly the profile's search

``--time-to-accuracy`` adds, per experiment, the wall seconds until the alpha-half accuracy first
reached 2x and 3x chance (the README's side-by-side table; run the experiments together, this machine
is noisy).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from videonas_lite.data.synthetic import SynthConfig, ensure_dataset
from videonas_lite.nas.genotype import kept_op_weights
from videonas_lite.profiles import data_root, get_profile
from videonas_lite.train.search import SearchConfig, run_search
from videonas_lite.viz.alphas import known_op_names

RESULTS = Path(__file__).resolve().parent / "results" / "recipe.json"

# The embedded datasets the experiments use (generated once under data/embedded/).
FULL = SynthConfig(classes=16, videos_per_class=12, frames=32, size=64)  # the old default profile's data
TWO_ACTORS = SynthConfig(classes=4, videos_per_class=160, frames=16, size=32, actors=("sweeper", "twins"))
TWO_ACTORS_APPEARANCE = dataclasses.replace(TWO_ACTORS, mode="appearance")
FOUR_CLASSES_ALL_ACTORS = SynthConfig(classes=4, videos_per_class=160, frames=16, size=32)

PAPER = dict(plan=None, weight_lr=None, arch_lr=None, warmup_epochs=0, draws=1, cache=False)
TEACHING = dict(plan="rnr", weight_lr=0.1, arch_lr=3e-3, warmup_epochs=4, draws=2, cache=True, short_side=16,
                crop_size=16, channels=4, batch_size=16, epochs=12)  # fmt: skip


def _experiment(lever: str, setting: str, data: SynthConfig, **search) -> dict:
    return {"lever": lever, "setting": setting, "data": data, "search": search}


EXPERIMENTS: dict[str, dict] = {
    "default-teaching": _experiment("the teaching recipe", "as the default profile", TWO_ACTORS, **TEACHING),
    "paper-on-teaching-data": _experiment(
        "recipe",
        "Peng's network and optimisers (nrr, lr 0.025, alpha lr 3e-4, no warm-up), same data and budget",
        TWO_ACTORS,
        **{**TEACHING, **PAPER, "short_side": 16, "draws": 2, "cache": True},
    ),
    "plan-nrr": _experiment(
        "network", "Peng's cell order nrr instead of rnr", TWO_ACTORS, **{**TEACHING, "plan": "nrr"}
    ),
    "no-warmup": _experiment(
        "warm-up", "alphas move from the first step", TWO_ACTORS, **{**TEACHING, "warmup_epochs": 0}
    ),
    "arch-lr-3e-4": _experiment(
        "alpha learning rate", "Peng's 3e-4 instead of 3e-3", TWO_ACTORS, **{**TEACHING, "arch_lr": 3e-4}
    ),
    "size-32": _experiment(
        "input size",
        "decoded at 32 px, crop 28 (no resize)",
        TWO_ACTORS,
        **{**TEACHING, "short_side": None, "crop_size": 28},
    ),
    "all-actors": _experiment(
        "data", "4 classes with all four actors in the scene (twins x faller vary)", FOUR_CLASSES_ALL_ACTORS, **TEACHING
    ),
    "pvnas-one-level": _experiment(
        "space",
        "PV-NAS one-level on the teaching data",
        TWO_ACTORS,
        **{**TEACHING, "plan": None, "space": "pvnas", "order": "one-level"},
    ),
    "appearance": _experiment("data", "appearance mode, same recipe", TWO_ACTORS_APPEARANCE, **TEACHING),
}


def _machine() -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    return {"cpu": platform.machine(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "commit": commit}  # fmt: skip


def alpha_movement(record: dict) -> dict[str, float]:
    """Per cell kind: the largest |softmax - 1/|O||, and the smallest chosen-op weight on a kept edge."""
    out = {}
    for kind, weights in record["alpha_softmax"].items():
        w = np.asarray(weights)
        out[f"{kind}_max_move"] = float(np.abs(w - 1 / w.shape[1]).max())
    genotype = {kind: [tuple(e) for e in cell] for kind, cell in record["genotype"].items()}
    for kind, kept in kept_op_weights(record["alpha_softmax"], genotype, known_op_names()).items():
        out[f"{kind}_min_kept_weight"] = float(min(kept))
    return out


def run(name: str, spec: dict) -> dict:
    data: SynthConfig = spec["data"]
    root = ensure_dataset(data_root() / "embedded" / f"recipe-{_tag(data)}", data, progress=False)
    search = dict(spec["search"])
    config = SearchConfig(**search)
    chance = 1 / data.classes
    times: list[float] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        records = run_search(config, root, out, progress=False,
                             on_epoch=lambda record: times.append(time.perf_counter() - start))  # fmt: skip
    result = {
        "name": name, "lever": spec["lever"], "setting": spec["setting"], "data": dataclasses.asdict(data),
        "search": dataclasses.asdict(config), "chance": chance, "wall_s": round(time.perf_counter() - start, 1),
        "epochs": [
            {"epoch": r["epoch"], "wall_s": round(t, 1), "val_acc": r["val_acc"], "train_acc": r["train_acc"],
             "alphas_frozen": r["alphas_frozen"], **alpha_movement(r)}
            for r, t in zip(records, times, strict=True)
        ],
        "genotypes_last_3": [r["genotype"] for r in records[-3:]],
        "final_alpha_softmax": records[-1]["alpha_softmax"],
        "machine": _machine(),
    }  # fmt: skip
    for factor in (2, 3):
        reached = [e["wall_s"] for e in result["epochs"] if e["val_acc"] >= factor * chance]
        result[f"seconds_to_{factor}x_chance"] = reached[0] if reached else None
    return result


def _tag(c: SynthConfig) -> str:
    return f"{c.mode}-c{c.classes}-v{c.videos_per_class}-t{c.frames}-s{c.size}-{'+'.join(c.actors)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="experiments to run (see --list)")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--profile", default=None, help="run exactly this profile's search (space peng, first order)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.list:
        for name, spec in EXPERIMENTS.items():
            print(f"{name:28s} {spec['lever']}: {spec['setting']}")
        return 0
    torch.set_num_threads(args.threads)
    todo = {n: EXPERIMENTS[n] for n in args.names}
    if args.profile:
        profile = get_profile(args.profile)
        config = SearchConfig.from_profile(profile)
        todo[f"profile-{profile.name}"] = {
            "lever": "profile",
            "setting": f"the {profile.name} profile's search",
            "data": profile.synth_config(),
            "search": dataclasses.asdict(config),
        }
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    for name, spec in todo.items():
        print(f"{name}: {spec['setting']}", flush=True)
        results[name] = run(name, spec)
        r = results[name]
        print(
            f"  {r['wall_s']} s; alpha-half accuracy per epoch {[e['val_acc'] for e in r['epochs']]}; "
            f"2x/3x chance at {r['seconds_to_2x_chance']} / {r['seconds_to_3x_chance']} s",
            flush=True,
        )
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
