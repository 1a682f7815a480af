"""PV-NAS in miniature (issue 11; notebook 08 reads what this writes): the false case, motion vs appearance, Table 3.

Three steps, each resumable (finished runs are skipped), each writing under ``benchmarks/results/pvnas/``:

    .venv/bin/python benchmarks/pvnas_study.py search --mode motion --schedule cosine --seeds 0,1,2
    .venv/bin/python benchmarks/pvnas_study.py search --mode motion --schedule step --seeds 0,1,2
    .venv/bin/python benchmarks/pvnas_study.py search --mode appearance --schedule step --seeds 0,1,2
    .venv/bin/python benchmarks/pvnas_study.py table3 --seeds 0,1,2
    .venv/bin/python benchmarks/pvnas_study.py schedules --seeds 0,1,2
    .venv/bin/python benchmarks/pvnas_study.py report

``search``: PV-NAS's one-level search (S-NC -> S-RC -> T-NC -> T-RC, Alg. 1) on the profile's embedded dataset
(``--mode appearance``: the same dataset generated in appearance mode), ``--sharpness`` clips of the alpha half
measured every epoch (the dominant eigenvalue of the alpha Hessian, nas/sharpness.py). The step schedule decays
x0.1 every quarter of the search epochs, the paper's proportion (every 20 of 80). Each run's ``records.json``
is copied to ``search/<mode>-<schedule>-seed<s>.json`` with its provenance; checkpoints stay in ``runs/``.

``table3``: PV-NAS Table 3 in miniature, every row retrained from scratch with the profile's retrain recipe, one
run per seed (``train/compare.train_and_score``): the baseline (the cell of the ``motion-step-seed0`` search at
its last epoch, PV-NAS-L's stack, K = 1), the cells of that search stopped at 1/4, 1/2 and 3/4 of its epochs,
half and double initial channels, 5 random cells (at least four convs a cell), and the cell of the
``motion-cosine-seed0`` search (the false case's cell, retrained beside the baseline). Results in ``table3/``.

``schedules``: the false case retrained (Sec. 3.3: "retrain the derived networks of both"): for each search seed,
the last-epoch cell of the ``motion-step`` search, of the ``motion-cosine`` search, and the cosine search's cell at
the epoch DARTS-ES picks (k = 3), each retrained once (seed 0) with the profile's recipe. Results in ``schedules/``.

``report``: ``collapse.png`` (the false-case figure, cosine against step), ``schedules.json`` (the retrained cells
per schedule, spread over search seeds), ``collapse.json`` (per
run and epoch: parameter-free share and softmax mass per cell kind, entropy,
derived parameters, eigenvalue; DARTS-ES's pick), ``motion_appearance.json`` (the share of temporal ops chosen in
the temporal cells, per mode, over seeds), ``table3.json`` and ``summary.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import torch
from harness import RESULTS, ROOT, passive_openmp

from videonas_lite.data.synthetic import ensure_dataset
from videonas_lite.nas.baselines import random_genotype
from videonas_lite.nas.collapse import collapse_curves
from videonas_lite.nas.cost import temporal_extent
from videonas_lite.nas.genotype import Genotype
from videonas_lite.nas.sharpness import early_stop_epoch
from videonas_lite.profiles import get_profile
from videonas_lite.train.compare import aggregate, markdown_table, spread, train_and_score
from videonas_lite.train.retrain import RetrainConfig
from videonas_lite.train.search import SearchConfig, run_search
from videonas_lite.viz.collapse import plot_collapse
from videonas_lite.viz.compare import PVNAS_TABLE_3

OUT = RESULTS / "pvnas"
RUNS = ROOT / "runs" / "pvnas-study"
TEMPORAL_KINDS = ("T-NC", "T-RC")
EARLY_STOP_K = 3  # DARTS-ES's k (Zela: 5 of 50 epochs); 3 of 16 here


def _profile(name: str, mode: str):
    profile = get_profile(name)
    return profile if mode == profile.synth_mode else dataclasses.replace(profile, synth_mode=mode)


def _data(profile) -> Path:
    ensure_dataset(profile.dataset_dir(), profile.synth_config())
    return profile.dataset_dir()


def _seeds(text: str) -> list[int]:
    return [int(s) for s in text.split(",")]


def _commit() -> str:
    import subprocess

    run = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    dirty = run("status", "--porcelain", "-uno")
    return run("rev-parse", "--short", "HEAD") + (" (uncommitted changes)" if dirty else "")


def search_config(profile, schedule: str, seed: int, sharpness: int, iters: int = 6) -> SearchConfig:
    """The study's search: one level, the step schedule decaying at each quarter (train/search.py's default)."""
    return SearchConfig.from_profile(profile, "pvnas", "one-level", schedule=schedule, seed=seed,
                                     sharpness_clips=sharpness, sharpness_iters=iters)  # fmt: skip


def cmd_search(args) -> None:
    profile = _profile(args.profile, args.mode)
    torch.set_num_threads(profile.cpu_threads or 1)
    data = _data(profile)
    (OUT / "search").mkdir(parents=True, exist_ok=True)
    for seed in _seeds(args.seeds):
        name = f"{args.mode}-{args.schedule}-seed{seed}"
        target = OUT / "search" / f"{name}.json"
        if target.is_file():
            print(f"{name}: done earlier ({target.relative_to(ROOT)})")
            continue
        config = search_config(profile, args.schedule, seed, args.sharpness)
        start = time.perf_counter()
        def report(r: dict, name: str = name) -> None:
            print(f"{name} epoch {r['epoch']}: val {r['val_acc']:.3f} free {r['parameter_free_share']:.2f} "
                  f"eig {r.get('sharpness', {}).get('eigenvalue')}", flush=True)

        records = run_search(config, data, RUNS / name, resume=True, progress=False, on_epoch=report)
        wall = time.perf_counter() - start
        provenance = {
            "command": "benchmarks/pvnas_study.py " + " ".join(sys.argv[1:]), "commit": _commit(),
            "profile": profile.name, "mode": args.mode, "schedule": args.schedule, "seed": seed, "wall_s": wall,
            "machine": f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
            "loadavg": os.getloadavg(), "config": dataclasses.asdict(config), "dataset": str(data.relative_to(ROOT)),
        }  # fmt: skip
        target.write_text(json.dumps({"provenance": provenance, "records": records}) + "\n")
        print(f"{name}: {wall:.0f} s, last val {records[-1]['val_acc']:.3f}; wrote {target.relative_to(ROOT)}")


def table3_rows(channels: int) -> dict[str, tuple[Genotype | str, dict]]:
    """Row name -> (architecture, retrain overrides): the rows of Table 3 in miniature."""
    base_run = OUT / "search" / "motion-step-seed0.json"
    records = json.loads(base_run.read_text())["records"]
    epochs = len(records)
    at = lambda i: Genotype.from_record(records[i]["genotype"])  # noqa: E731
    base = at(epochs - 1)
    rows: dict[str, tuple[Genotype | str, dict]] = {"baseline": (base, {})}
    for label, frac in (("1/4", 0.25), ("1/2", 0.5), ("3/4", 0.75)):
        rows[f"stop at {label}"] = (at(round(frac * epochs) - 1), {})
    rows["half channels"] = (base, {"channels": channels // 2})
    rows["double channels"] = (base, {"channels": 2 * channels})
    for i in range(5):
        rows[f"random-{i}"] = (random_genotype("pvnas", i, 4), {})
    cosine = OUT / "search" / "motion-cosine-seed0.json"
    if cosine.is_file():
        rows["cosine-decay cell"] = (from_run_records(json.loads(cosine.read_text())), {})
    return rows


def cmd_table3(args) -> None:
    profile = _profile(args.profile, "motion")
    torch.set_num_threads(profile.cpu_threads or 1)
    data = _data(profile)
    base = RetrainConfig.from_profile(profile, "pvnas", epochs=args.epochs)
    rows = table3_rows(base.channels)
    only = None if args.only is None else args.only.split(",")
    for seed in _seeds(args.seeds):  # seeds outermost: an interrupted study has every row at the first seeds
        for name, (arch, overrides) in rows.items():
            if only is not None and name not in only:
                continue
            config = dataclasses.replace(base, seed=seed, **overrides)
            kind = "random" if name.startswith("random-") else "searched"
            slug = name.replace(" ", "-").replace("/", "of")
            result = train_and_score(name, arch, config, data, RUNS / "table3" / slug / f"seed-{seed}", False, kind)
            result.pop("config")
            result["channels"] = config.channels
            (OUT / "table3").mkdir(parents=True, exist_ok=True)
            (OUT / "table3" / f"{slug}-seed{seed}.json").write_text(json.dumps(result, indent=1) + "\n")
            print(f"{name} seed {seed}: top-1 {result['top1']:.3f}, {result['params']:,} params, "
                  f"{result['wall_s']:.0f} s", flush=True)


def schedule_rows() -> dict[str, Genotype]:
    """Row name -> cell: per search seed, step's and cosine's last epoch, and cosine's DARTS-ES pick."""
    rows = {}
    for path in sorted((OUT / "search").glob("motion-*-seed*.json")):
        run = json.loads(path.read_text())
        schedule, seed = run["provenance"]["schedule"], run["provenance"]["seed"]
        rows[f"{schedule} last (search seed {seed})"] = from_run_records(run)
        if schedule == "cosine":
            stop = _darts_es(run)
            if stop is not None:
                chosen = run["records"][stop[1]]
                rows[f"cosine DARTS-ES epoch {chosen['epoch']} (search seed {seed})"] = Genotype.from_record(
                    chosen["genotype"])
    return rows


def _darts_es(run: dict) -> tuple[int, int] | None:
    eig = collapse_curves(run["records"])["eigenvalue"]
    warm = run["provenance"]["config"]["warmup_epochs"]
    return early_stop_epoch(eig, EARLY_STOP_K, first=warm) if all(e is not None for e in eig) else None


def cmd_schedules(args) -> None:
    profile = _profile(args.profile, "motion")
    torch.set_num_threads(profile.cpu_threads or 1)
    data = _data(profile)
    config = RetrainConfig.from_profile(profile, "pvnas", epochs=args.epochs)
    (OUT / "schedules").mkdir(parents=True, exist_ok=True)
    seeds = set(_seeds(args.seeds))
    for name, genotype in schedule_rows().items():
        if int(name.rsplit(" ", 1)[1].rstrip(")")) not in seeds:
            continue
        slug = name.replace(" (search seed ", "-search").replace(")", "").replace(" ", "-")
        target = OUT / "schedules" / f"{slug}.json"
        if target.is_file():
            print(f"{name}: done earlier")
            continue
        result = train_and_score(name, genotype, config, data, RUNS / "schedules" / slug, False, "searched")
        result.pop("config")
        target.write_text(json.dumps(result, indent=1) + "\n")
        print(f"{name}: top-1 {result['top1']:.3f}, {result['params']:,} params, {result['wall_s']:.0f} s", flush=True)


def _temporal_share(genotype: Genotype) -> float:
    chosen = [op for kind in TEMPORAL_KINDS for op, _, _ in genotype[kind]]
    return sum(temporal_extent(op) > 1 for op in chosen) / len(chosen)


def cmd_report(args) -> None:
    runs = {p.stem: json.loads(p.read_text()) for p in sorted((OUT / "search").glob("*.json"))}
    collapse, lines = {}, []
    for name, run in runs.items():
        curves = collapse_curves(run["records"])
        stop = _darts_es(run)
        collapse[name] = {"provenance": {k: v for k, v in run["provenance"].items() if k != "config"},
                          "curves": curves, "darts_es": stop}  # fmt: skip
    groups: dict[str, list[str]] = {}
    for name in runs:
        groups.setdefault(name.rsplit("-seed", 1)[0], []).append(name)
    summary = {}
    for group, names in groups.items():
        last = [collapse[n]["curves"] for n in names]
        summary[group] = {
            "runs": names,
            "final_free_share": spread([c["free_share_all"][-1] for c in last]),
            "final_free_mass": {k: spread([c["free_mass"][k][-1] for c in last]) for k in last[0]["free_mass"]},
            "final_val_acc": spread([c["val_acc"][-1] for c in last]),
            "final_derived_params": spread([c["derived_params"][-1] for c in last]),
            "temporal_share": spread([_temporal_share(from_run_records(runs[n])) for n in names]),
            "darts_es": [collapse[n]["darts_es"] for n in names],
            "wall_s": spread([runs[n]["provenance"]["wall_s"] for n in names]),
        }
    schedules = {k: [collapse[n]["curves"] for n in groups[f"motion-{k}"]] for k in ("cosine", "step")
                 if f"motion-{k}" in groups}  # fmt: skip
    if schedules:  # the figure README shows (notebook 08 draws the same from these records)
        warm = next(iter(runs.values()))["provenance"]["config"]["warmup_epochs"]
        plot_collapse(schedules, frozen_epochs=warm).savefig(OUT / "collapse.png", dpi=80)
    (OUT / "collapse.json").write_text(json.dumps({"early_stop_k": EARLY_STOP_K, "summary": summary,
                                                   "runs": collapse}, indent=1) + "\n")  # fmt: skip
    lines += ["| search | runs | alpha-half top-1 | parameter-free share | temporal-op share (T cells) | "
              "derived params | DARTS-ES (stop, chosen) | wall s |",
              "| --- | ---: | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    fmt = lambda s, f=".2f": f"{s['mean']:{f}} ± {'n/a' if s['std'] is None else format(s['std'], f)}"  # noqa: E731
    for group, s in summary.items():
        es = ", ".join("none" if d is None else f"({d[0]}, {d[1]})" for d in s["darts_es"])
        lines.append(f"| {group} | {len(s['runs'])} | {fmt(s['final_val_acc'])} | {fmt(s['final_free_share'])} | "
                     f"{fmt(s['temporal_share'])} | {fmt(s['final_derived_params'], ',.0f')} | {es} | "
                     f"{fmt(s['wall_s'], '.0f')} |")  # fmt: skip
    results = [json.loads(p.read_text()) for p in sorted((OUT / "table3").glob("*.json"))]
    if results:
        order = [*PVNAS_TABLE_3, "cosine-decay cell"]
        results.sort(key=lambda r: (order.index(r["architecture"]) if r["architecture"] in order else 6, r["seed"]))
        rows = aggregate(results)
        for row in rows:
            paper = PVNAS_TABLE_3.get(row["architecture"])
            keys = ("epoch", "channels", "top1", "top5")
            row["paper"] = None if paper is None else dict(zip(keys, paper, strict=True))
        (OUT / "table3.json").write_text(json.dumps({"rows": rows, "runs": results}, indent=1) + "\n")
        lines += ["", markdown_table(rows)]
    retrained = [json.loads(p.read_text()) for p in sorted((OUT / "schedules").glob("*.json"))]
    if retrained:
        groups = {}
        for r in retrained:
            groups.setdefault(r["architecture"].split(" (search seed")[0].split(" epoch")[0], []).append(r)
        table = {name: {"cells": [r["architecture"] for r in rs], "top1": spread([r["top1"] for r in rs]),
                        "params": spread([r["params"] for r in rs])} for name, rs in groups.items()}  # fmt: skip
        (OUT / "schedules.json").write_text(json.dumps({"rows": table, "runs": retrained}, indent=1) + "\n")
        lines += ["", "| retrained cell (PV-NAS-L, retrain seed 0) | search seeds | top-1 | params |",
                  "| --- | ---: | --- | --- |"]
        lines += [f"| {name} | {len(t['cells'])} | {fmt(t['top1'], '.3f')} "
                  f"({t['top1']['min']:.3f}-{t['top1']['max']:.3f}) | {fmt(t['params'], ',.0f')} |"
                  for name, t in table.items()]  # fmt: skip
    (OUT / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def from_run_records(run: dict) -> Genotype:
    return Genotype.from_record(run["records"][-1]["genotype"])


def main() -> None:
    passive_openmp()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    s = sub.add_parser("search")
    s.add_argument("--mode", choices=("motion", "appearance"), default="motion")
    s.add_argument("--schedule", choices=("cosine", "step"), default="step")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--profile", default="default")
    s.add_argument("--sharpness", type=int, default=16, help="clips of the alpha half for the eigenvalue")
    s.set_defaults(func=cmd_search)
    t = sub.add_parser("table3")
    t.add_argument("--seeds", default="0,1,2")
    t.add_argument("--profile", default="default")
    t.add_argument("--epochs", type=int, default=None, help="default: the profile's retrain_epochs")
    t.add_argument("--only", default=None, help="comma-separated row names")
    t.set_defaults(func=cmd_table3)
    c = sub.add_parser("schedules")
    c.add_argument("--seeds", default="0,1,2", help="search seeds whose cells are retrained")
    c.add_argument("--profile", default="default")
    c.add_argument("--epochs", type=int, default=None, help="default: the profile's retrain_epochs")
    c.set_defaults(func=cmd_schedules)
    r = sub.add_parser("report")
    r.set_defaults(func=cmd_report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
