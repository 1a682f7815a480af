"""The searched network against hand-designed networks and random cells (Peng Table 2; PV-NAS Table 3). Notebook 07.

Every contender is trained from scratch with one :class:`~videonas_lite.train.retrain.RetrainConfig` (the same
recipe, data, epochs and batch), once per seed (the seed sets the initial weights and every random draw of the
data), by :func:`~videonas_lite.train.retrain.run_retrain`:

* ``searched``: the searched genotype's derived network;
* the hand-designed networks of :data:`~videonas_lite.nas.baselines.BASELINES` (``r3d_18``, ``r2plus1d_18``,
  ``mc3_18``, ``c3d``, ``tsn_2d``);
* ``random-0`` ... ``random-4``: :func:`~videonas_lite.nas.baselines.random_genotype` of the same space and node
  count, seeds 0..4 (the same five cells for every training seed), at least four convolutions a cell (all of
  them in a cell of fewer than four edges).

Each (contender, seed) is scored as Peng scores (clip level: one centred clip, centre crop; top-1 and top-5,
:mod:`videonas_lite.train.evaluate`), with its parameters, size in MB, FLOPs of one view and training wall time
(the records' seconds: training and the per-epoch test pass). The table, in the shape of Peng's Table 2, has a
row per contender with the mean over seeds, the sample standard deviation (``n - 1``; none for one seed) and
the min and max; a row ``random (mean of 5)`` summarises the random cells: the mean, std, min and max of their
per-cell means. Written as ``compare.json`` (with provenance: command, commit, machine, profile, epochs,
configuration, the dataset folder's name) and ``compare.md``.

Layout: ``OUT/<contender>/seed-<s>/`` is a retraining run folder plus ``result.json``; a rerun skips every
(contender, seed) whose ``result.json`` exists (with the same configuration) and resumes any interrupted run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from videonas_lite.data.datasets import VideoClipDataset
from videonas_lite.nas.baselines import BASELINES, random_genotype
from videonas_lite.nas.genotype import Genotype
from videonas_lite.train.evaluate import (
    ViewDataset,
    ViewSampler,
    flops_per_view,
    model_size_mb,
    parameter_count,
    predict_views,
    topk_accuracy,
)
from videonas_lite.train.retrain import RetrainConfig, load_run, run_retrain
from videonas_lite.train.runtime import atomic_write, saved_config

__all__ = ["METRICS", "aggregate", "contenders", "markdown_table", "run_compare", "spread", "train_and_score"]

METRICS = ("top1", "top5", "wall_s")  # measured per seed; params, size and FLOPs do not depend on the seed
RANDOM_ROW = "random (mean of {n})"


def contenders(genotype: Genotype, random_cells: int = 5, only: Sequence[str] | None = None) -> dict:
    """Name -> architecture (a genotype or a baseline's name): ``searched``, the baselines, ``random-i``."""
    table: dict[str, Genotype | str] = {"searched": genotype, **{name: name for name in BASELINES}}
    for i in range(random_cells):
        table[f"random-{i}"] = random_genotype(genotype.space, i, min(4, 2 * genotype.nodes), genotype.nodes)
    if only is not None:
        unknown = [name for name in only if name not in table]
        if unknown:
            raise ValueError(f"--only: unknown contender(s) {', '.join(unknown)} (expected some of {', '.join(table)})")
        table = {name: arch for name, arch in table.items() if name in only}
    return table


def spread(values: Sequence[float]) -> dict:
    """``{"mean", "std" (sample, n - 1; None for one value), "min", "max", "n"}`` of ``values``."""
    if not values:
        raise ValueError("spread: no values")
    std = statistics.stdev(values) if len(values) > 1 else None
    return {"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values), "n": len(values)}


def aggregate(results: Sequence[dict]) -> list[dict]:
    """Table rows from per-run results (``architecture``, ``seed``, params, size, FLOPs, :data:`METRICS`).

    A row per architecture in first-seen order, then the random cells' summary row (when there are any).
    """
    rows, by_name = [], {}
    for r in results:
        by_name.setdefault(r["architecture"], []).append(r)
    for name, runs in by_name.items():
        first = runs[0]
        row = {"architecture": name, "kind": first["kind"], "seeds": [r["seed"] for r in runs],
               **{k: first[k] for k in ("params", "size_mb", "flops_per_view")}}  # fmt: skip
        rows.append(row | {m: spread([r[m] for r in runs]) for m in METRICS})
    randoms = [row for row in rows if row["kind"] == "random"]
    if randoms:
        row = {"architecture": RANDOM_ROW.format(n=len(randoms)), "kind": "random-summary",
               "seeds": randoms[0]["seeds"]}  # fmt: skip
        for key in ("params", "size_mb", "flops_per_view"):
            row[key] = statistics.fmean(r[key] for r in randoms)
        rows.append(row | {m: spread([r[m]["mean"] for r in randoms]) for m in METRICS})
    return rows


def _cell(s: dict, fmt: str) -> str:
    std = "n/a" if s["std"] is None else format(s["std"], fmt)
    return f"{s['mean']:{fmt}} ± {std} ({s['min']:{fmt}}–{s['max']:{fmt}})"


def markdown_table(rows: Sequence[dict]) -> str:
    """Peng Table 2's columns and more: mean ± std (min–max) over seeds; a random-summary row over cells' means."""
    lines = ["| architecture | params | MB | MFLOPs/view | top-1 | top-5 | wall s | seeds |",
             "| --- | ---: | ---: | ---: | --- | --- | --- | ---: |"]  # fmt: skip
    for r in rows:
        params = f"{r['params'] / 1e6:.3f}M" if r["params"] >= 1e5 else f"{r['params']:,.0f}"
        lines.append(f"| {r['architecture']} | {params} | {r['size_mb']:.3f} | {r['flops_per_view'] / 1e6:.2f} | "
                     f"{_cell(r['top1'], '.3f')} | {_cell(r['top5'], '.3f')} | {_cell(r['wall_s'], '.1f')} | "
                     f"{len(r['seeds'])} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def _provenance(config: RetrainConfig, command: str | None, profile: str | None) -> dict:
    root = Path(__file__).resolve().parents[2]
    try:
        git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=root).stdout.strip()  # noqa: E731
        head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
        commit = (head + (" (uncommitted changes)" if dirty else "")) if head else None
    except OSError:  # no git program
        commit = None
    device = config.torch_device()
    threads = torch.get_num_threads()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads"
    if device.type == "cuda":
        machine += f", {torch.cuda.get_device_name(device)}"
    return {"command": command or " ".join(sys.argv), "commit": commit, "machine": machine, "profile": profile,
            "epochs": config.epochs, "config": json.loads(json.dumps(dataclasses.asdict(config)))}  # fmt: skip


@torch.no_grad()
def _clip_level(model: torch.nn.Module, config: RetrainConfig, data_dir) -> dict[int, float]:
    """Top-1 and top-5 of one centred clip per test video, centre crop (Peng; evaluate_run's clip level)."""
    frames = config.num_segments * config.frames_per_segment
    videos = VideoClipDataset.ucf101(data_dir, subset="test", split=config.split, short_side=config.short_side,
                                     cache=config.cache, sampler=ViewSampler(1, frames))  # fmt: skip
    resize = None if config.scale_jitter is None else config.scale_jitter[0]
    loader = DataLoader(ViewDataset(videos, 1, config.crop_size, resize), config.batch_size,
                        num_workers=config.num_workers)  # fmt: skip
    logits, labels = predict_views(model, loader, config)
    return topk_accuracy(logits[:, 0], labels)


def train_and_score(
    name: str, arch: Genotype | str, config: RetrainConfig, data_dir, run: Path, progress: bool = True,
    kind: str | None = None,
) -> dict:
    """One (contender, seed): retrain ``arch`` into ``run`` (resumed if interrupted), score it, write ``result.json``.

    A ``run`` with a ``result.json`` of the same configuration is not trained again (``skipped`` in the result).
    ``kind`` defaults to ``searched``, ``random`` (names ``random-*``) or ``baseline``.
    """
    path = run / "result.json"
    if path.is_file():
        done = json.loads(path.read_text())
        saved = json.loads(json.dumps(saved_config(done.get("config", {}), config)))  # older results lack new fields
        if saved != json.loads(json.dumps(dataclasses.asdict(config))):
            raise ValueError(f"{path}: saved with another configuration; choose another --out or remove the folder")
        return done | {"skipped": True}
    records = run_retrain(config, arch, data_dir, run, resume=True, progress=progress)
    model, *_ = load_run(run, config.torch_device())
    top = _clip_level(model, config, data_dir)
    frames = config.num_segments * config.frames_per_segment
    kind = kind or ("searched" if name == "searched" else "random" if name.startswith("random-") else "baseline")
    result = {
        "architecture": name, "kind": kind, "seed": config.seed, "epochs": len(records), "top1": top[1], "top5": top[5],
        "params": parameter_count(model), "size_mb": model_size_mb(model),
        "flops_per_view": flops_per_view(model, (3, frames, config.crop_size, config.crop_size)),
        "wall_s": sum(r["seconds"] for r in records), "train_acc": records[-1]["train_acc"],
        "genotype": arch.to_dict() if isinstance(arch, Genotype) else None, "config": dataclasses.asdict(config),
    }  # fmt: skip
    atomic_write(path, lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    return result


def run_compare(
    config: RetrainConfig,
    genotype: Genotype,
    data_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    seeds: Sequence[int] = (0, 1, 2),
    only: Sequence[str] | None = None,
    random_cells: int = 5,
    command: str | None = None,
    profile: str | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> dict:
    """Train every contender for every seed with ``config`` (its seed replaced), write and return the table.

    ``only``: a subset of contender names. ``log`` gets one line per finished (or skipped) run.
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected distinct integers, got {list(seeds)}")
    if genotype.space != config.space:
        raise ValueError(f"genotype: space {genotype.space!r}, but the retrain configuration is for {config.space!r}")
    table, out = contenders(genotype, random_cells, only), Path(out_dir)
    results, total = [], len(table) * len(seeds)
    for name, arch in table.items():
        for seed in seeds:
            result = train_and_score(name, arch, dataclasses.replace(config, seed=seed), data_dir,
                                     out / name / f"seed-{seed}", progress)  # fmt: skip
            note = " (done earlier)" if result.pop("skipped", False) else ""
            results.append(result)
            if log is not None:
                log(
                    f"[{len(results)}/{total}] {name} seed {seed}: top-1 {result['top1']:.3f} top-5 "
                    f"{result['top5']:.3f}, {result['params']:,} parameters, {result['wall_s']:.1f} s{note}"
                )
    summary = {
        "provenance": _provenance(config, command, profile)
        | {"data": Path(data_dir).name, "seeds": list(seeds), "contenders": list(table)},
        "rows": aggregate(results),
        "runs": [{k: v for k, v in r.items() if k not in ("config", "genotype")} for r in results],
    }
    atomic_write(out / "compare.json", lambda p: p.write_text(json.dumps(summary, indent=1) + "\n"))
    head = summary["provenance"]
    md = (f"Trained from scratch with one recipe, {config.epochs} epochs, seeds {', '.join(map(str, seeds))}; "
          f"clip-level accuracy (one centred clip, centre crop). `{head['command']}` at commit {head['commit']} on "
          f"{head['machine']}, profile {profile}.\n\n" + markdown_table(summary["rows"]))  # fmt: skip
    atomic_write(out / "compare.md", lambda p: p.write_text(md))
    return summary
