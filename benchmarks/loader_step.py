"""Loader against step, clips per second, on every profile: is the DataLoader ever the bottleneck?

Issue 13, "The gpu profile": the loader must deliver at least 1.5x the clips per second the training step
consumes. For each profile (``ci``, ``default``, ``gpu``; a profile asking for CUDA runs on the CPU when torch
sees no GPU, and the result says so) and for each task, the search (Peng's space, first order, Peng Eq. 5 at
xi = 0; train/search.py, notebook 05) and the retraining of a derived network (train/retrain.py, notebook 07):

* **loader clips/s**: the training loader(s) of the package's public functions (``search_data``: the weight and
  the alpha halves, zipped as ``run_search`` zips them; ``retrain_data``: the training split), iterated with no
  model for ``--batches`` batches of an epoch (0: the whole epoch), for two epochs after ``start_epoch``.
  Epoch 0 is the first one: with ``cache_clips`` (``ci``, ``default``) it decodes every video into the cache;
  epoch 1 is the steady state (the cache full where it lives in this process, i.e. ``num_workers=0`` or
  persistent workers). Worker start-up is inside the timed epoch (it is paid every epoch unless the workers
  persist); the seconds to the first batch are recorded beside it. Measured with the profile's ``num_workers``
  and, on the CPU, also with ``num_workers=0`` when the profile's differs.
* **step clips/s**: the training step on batches already in memory (on the device): ``nas.bilevel.search_step``
  with the package's optimisers (``build_search``) and ``train.retrain.train_step`` on ``build_model`` of the
  reference search's genotype (benchmarks/results/reference-search), after one untimed step; the median over
  ``--steps`` steps (a profile sized for a GPU, run on the CPU, steps on ``--cpu-step-batch`` clips of each
  batch: its full batch would not fit in memory). A search step consumes two batches (a validation batch for the
  alphas, a training batch for the weights), so both rates count the clips of both halves.
* **ratio** loader / step of the steady epoch with the profile's workers, and whether it meets 1.5x.

For the ``gpu`` profile (Peng's input, 8 x 112 x 112) the script also projects Peng's protocol, 50 search epochs
over UCF101 split 1's 9537 training videos: ``50 x 9537 / step clips/s`` (the steps alone), plus the per-epoch
evaluation the package runs (every training video once, forward only, measured on in-memory batches), plus the
pipeline (the slower of loader and step with workers; their sum with none). On CUDA it records the peak memory
(``torch.cuda.max_memory_allocated``) and the GPU utilisation (``torch.cuda.utilization()``, where pynvml works)
sampled after every timed step; on the CPU these stay open and the projection is labelled a CPU figure.

Run: ``.venv/bin/python benchmarks/loader_step.py [--profiles ci default gpu] [--batches N] [--steps N]``;
writes ``benchmarks/results/loader_step.json``. The ``gpu`` profile's embedded dataset (512 videos of 128 px) is
generated on first use (data/synthetic.py's ``ensure_dataset``, as the notebooks do).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from harness import RESULTS, ROOT, code_version, machine_info, passive_openmp, sync

from videonas_lite.data.synthetic import ensure_dataset
from videonas_lite.nas.bilevel import search_step
from videonas_lite.nas.genotype import from_run
from videonas_lite.profiles import PROFILES, Profile, get_profile
from videonas_lite.train.retrain import RetrainConfig, build_model, retrain_data, train_step
from videonas_lite.train.search import EVAL_BATCH, SearchConfig, build_search, search_data

PENG_VIDEOS = 9537  # UCF101 split 1, trainlist01.txt
PENG_EPOCHS = 50  # Peng Sec. 3: 50 search epochs
PENG_HOURS_V100 = 25  # Peng Sec. 3: the search took 25 h on one V100
PENG_CLIP = (8, 112, 112)  # Peng Sec. 3: Ns x Nr = 4 x 2 frames, 112 x 112 crops
CPU_STEP_NOTE = (
    "the profile is sized for a GPU: on the CPU its step ran on the first {cap} clips of every batch of {batch} "
    "(a 112 x 112 clip keeps about 1.2 GB of activations in the search network, 0.9 GB in the derived one; "
    "{batch} would not fit in this machine's memory); clips/s is per clip, so it is comparable up to the batch's "
    "efficiency (a larger batch is cheaper per clip)"
)
REFERENCE_RUN = ROOT / "benchmarks" / "results" / "reference-search"
TARGET = 1.5  # issue 13: the loader at least 1.5x the step's rate
KEEP = 4  # batches (per loader) kept in memory for the step
LOADER_FILES = ("videonas_lite/train/search.py", "videonas_lite/train/retrain.py", "videonas_lite/data/datasets.py",
                "videonas_lite/data/epochs.py")  # fmt: skip


def sig(value: float) -> float:
    """``value`` to 4 significant digits (rates here span 0.3 to 1000 clips/s)."""
    return float(f"{value:.4g}")


def epochs_note(cache: bool) -> str:
    if cache:
        return ("first_epoch decodes every video into the cache (cache_clips); steady_epoch reads the cache, which "
                "lives in this process with num_workers=0 and in the workers when they persist")  # fmt: skip
    return "no cache: both epochs decode every clip from its file (first_epoch: the workers start, files warm)"


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def loader_epoch(loaders: tuple, start_epoch: Callable[[int], None], epoch: int, max_batches: int) -> tuple[dict, list]:
    """Iterate ``loaders`` (zipped) for one epoch, or ``max_batches`` steps of it; the rate and the batches read.

    Clips are counted over every loader (a search step reads one batch of each half).
    """
    start_epoch(epoch)
    total = min(len(loader) for loader in loaders)
    steps = total if max_batches == 0 else min(total, max_batches)
    clips, first, kept = 0, None, []
    start = time.perf_counter()
    for step, batches in enumerate(zip(*loaders, strict=False)):
        if step == steps:
            break
        if first is None:
            first = time.perf_counter() - start
        clips += sum(len(b[1]) for b in batches)
        if len(kept) < KEEP:
            kept.append(tuple(tuple(b[:2]) for b in batches))
    seconds = time.perf_counter() - start
    result = {"epoch": epoch, "batches": steps, "of_batches_in_epoch": total, "clips": clips,
              "seconds": round(seconds, 3), "seconds_to_first_batch": round(first or 0.0, 3),
              "clips_per_s": sig(clips / seconds)}  # fmt: skip
    return result, kept


def measure_loader(
    make: Callable[[int], tuple[tuple, Callable[[int], None]]], workers: Iterable[int], max_batches: int
) -> tuple[dict, list]:
    """Epochs 0 and 1 of the loaders ``make(num_workers)`` builds, for each worker count; the first run's batches."""
    out, kept = {}, []
    for w in workers:
        loaders, start_epoch = make(w)
        epochs = []
        for epoch in (0, 1):
            result, batches = loader_epoch(loaders, start_epoch, epoch, max_batches)
            kept = kept or batches
            epochs.append(result)
            print(f"    loader num_workers={w} epoch {epoch}: {result['clips_per_s']} clips/s "
                  f"({result['clips']} clips in {result['seconds']} s)", flush=True)  # fmt: skip
        out[f"num_workers={w}"] = {"num_workers": w, "first_epoch": epochs[0], "steady_epoch": epochs[1]}
        del loaders, start_epoch  # persistent workers end with their loaders, before the next count is timed
    return out, kept


def gpu_utilisation(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.utilization(device))
    except Exception:  # pynvml missing or NVML unavailable: the figure stays open
        return None


def measure_step(
    step: Callable[[tuple], None], batches: list, steps: int, device: torch.device, cap: int | None = None
) -> dict:
    """Median seconds of ``step(batch)`` over ``steps`` steps cycling ``batches`` (on ``device``), after one untimed.

    ``cap``: step on the first ``cap`` clips of every batch (a GPU-sized batch on the CPU; see ``step_batch``).
    """
    batches = [tuple(tuple(t[:cap].to(device) for t in b) for b in group) for group in batches]
    clips = sum(len(b[1]) for b in batches[0])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step(batches[0])
    seconds, utilisation = [], []
    for k in range(steps):
        sync(device)
        start = time.perf_counter()
        step(batches[(k + 1) % len(batches)])
        sync(device)
        seconds.append(time.perf_counter() - start)
        utilisation.append(gpu_utilisation(device))
    median = statistics.median(seconds)
    result = {"clips_per_step": clips, "steps_timed": steps, "untimed_steps": 1, "median_s": round(median, 4),
              "min_s": round(min(seconds), 4), "steps_s": [round(s, 4) for s in seconds],
              "clips_per_s": sig(clips / median)}  # fmt: skip
    if device.type == "cuda":
        result["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 3)
        samples = [u for u in utilisation if u is not None]
        result["gpu_utilisation_percent"] = samples or "open: torch.cuda.utilization() did not work (pynvml?)"
    else:
        result["peak_memory_gib"] = result["gpu_utilisation_percent"] = "open: no CUDA device"
    return result


def ratios(loader: dict, step: dict, profile_workers: int) -> dict:
    out = {
        f"{name}/{epoch}": round(runs[epoch]["clips_per_s"] / step["clips_per_s"], 2)
        for name, runs in loader.items()
        for epoch in ("first_epoch", "steady_epoch")
    }
    steady = out[f"num_workers={profile_workers}/steady_epoch"]
    return {"loader_over_step": out, "steady_profile_workers": steady, "meets_1_5x": steady >= TARGET}


def search_task(profile: Profile, device: str, data_dir: Path, args) -> dict:
    def make(workers: int):
        config = SearchConfig.from_profile(profile, order="first", device=device, num_workers=workers)
        data = search_data(config, data_dir)
        return (data.weight, data.alpha), lambda epoch: data.start_epoch(epoch, config.seed)

    config = SearchConfig.from_profile(profile, order="first", device=device)
    loader, batches = measure_loader(make, worker_counts(profile, device), args.batches)
    torch_device = config.torch_device()
    num_classes = profile.synth_classes
    model, sgd, adam, _ = build_search(config, num_classes, torch_device)
    model.train()

    def step(group: tuple) -> None:
        train, val = group  # run_search zips (weight half, alpha half): train, then val
        with config.autocast(torch_device):
            search_step(model, config.order, train, val, sgd, adam, config.r, difference=config.difference)

    result = {"order": config.order, "batch_size": config.batch_size, "draws": config.draws, "cache": config.cache,
              "clip": [3, config.num_segments * config.frames_per_segment, config.crop_size, config.crop_size],
              "channels": config.channels, "plan": config.plan, "loader": loader,
              "loader_epochs": epochs_note(config.cache)}  # fmt: skip
    cap = step_batch(profile, torch_device, config.batch_size, args, result)
    print(f"    search step ({cap} + {cap} clips) ...", flush=True)
    result["step"] = measure_step(step, batches, args.steps, torch_device, cap)
    result.update(ratios(loader, result["step"], profile.num_workers))

    def forward(group: tuple) -> None:  # the per-epoch evaluation: eval mode, no gradients (train/search.py)
        with torch.no_grad(), config.autocast(torch_device):
            model(group[0][0])

    model.eval()
    eval_batches = [(group[0],) for group in batches]  # the weight half's batches, as they come
    if torch_device.type == "cuda":  # run_search's evaluation batch: max(batch, EVAL_BATCH) clips
        clips = torch.cat([g[0][0] for g in batches] + [g[1][0] for g in batches])[: max(config.batch_size, EVAL_BATCH)]
        eval_batches = [((clips, torch.zeros(len(clips), dtype=torch.long)),)]
    eval_cap = None if torch_device.type == "cuda" else cap
    result["evaluation_forward"] = measure_step(forward, eval_batches, args.steps, torch_device, eval_cap)
    result["evaluation_forward"]["what"] = "forward only, eval mode, no gradients, on in-memory batches"
    model.train()
    return result


def retrain_task(profile: Profile, device: str, data_dir: Path, args) -> dict:
    def make(workers: int):
        config = RetrainConfig.from_profile(profile, "peng", device=device, num_workers=workers)
        data = retrain_data(config, data_dir)
        return (data.train,), lambda epoch: data.start_epoch(epoch, config.seed)

    config = RetrainConfig.from_profile(profile, "peng", device=device)
    loader, batches = measure_loader(make, worker_counts(profile, device), args.batches)
    torch_device = config.torch_device()
    genotype = from_run(REFERENCE_RUN)
    model = build_model(config, genotype, profile.synth_classes).to(torch_device)
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)  # fmt: skip

    def step(group: tuple) -> None:
        ((clips, labels),) = group
        train_step(model, clips, labels, optimizer, config, torch_device)

    result = {"batch_size": config.batch_size, "draws": config.draws, "cache": config.cache,
              "clip": [3, config.num_segments * config.frames_per_segment, config.crop_size, config.crop_size],
              "network": f"derived_net of {REFERENCE_RUN.relative_to(ROOT)} (its last epoch), "
                         f"channels {config.channels}, layers {config.layers}", "loader": loader,
              "loader_epochs": epochs_note(config.cache)}  # fmt: skip
    cap = step_batch(profile, torch_device, config.batch_size, args, result)
    print(f"    retrain step ({cap} clips) ...", flush=True)
    result["step"] = measure_step(step, batches, args.steps, torch_device, cap)
    result.update(ratios(loader, result["step"], profile.num_workers))
    return result


def step_batch(profile: Profile, device: torch.device, batch: int, args, result: dict) -> int:
    """Clips per batch of the step: the profile's, or ``--cpu-step-batch`` for a GPU-sized profile on the CPU."""
    if device.type == "cpu" and profile.device == "cuda" and args.cpu_step_batch < batch:
        result["step_batch"] = args.cpu_step_batch
        result["step_batch_note"] = CPU_STEP_NOTE.format(cap=args.cpu_step_batch, batch=batch)
        return args.cpu_step_batch
    result["step_batch"] = batch
    return batch


def worker_counts(profile: Profile, device: str) -> list[int]:
    """The profile's ``num_workers``; on the CPU also 0 when the profile's differs."""
    return [profile.num_workers] + ([0] if device == "cpu" and profile.num_workers != 0 else [])


def peng_projection(search: dict, device: str, profile_workers: int) -> dict:
    """Peng's protocol (50 epochs x 9537 videos) at this search's rates; what is included is stated."""
    step = search["step"]["clips_per_s"]
    evaluation = search["evaluation_forward"]["clips_per_s"]
    load = search["loader"][f"num_workers={profile_workers}"]["steady_epoch"]["clips_per_s"]
    pipeline = min(step, load) if profile_workers > 0 else 1 / (1 / step + 1 / load)

    def hours(rate: float, with_eval: bool) -> float:
        per_epoch = PENG_VIDEOS / rate + (PENG_VIDEOS / evaluation if with_eval else 0.0)
        return round(PENG_EPOCHS * per_epoch / 3600, 2)

    return {
        "figure": "CPU figure (no CUDA device)" if device == "cpu" else "GPU figure",
        "formula": f"{PENG_EPOCHS} epochs x {PENG_VIDEOS} videos / clips per s (+ {PENG_VIDEOS} evaluation forwards "
                   "per epoch where stated); the search's clips/s count both halves, so an epoch is 9537 clips",
        "hours_steps_only": hours(step, False),
        "hours_steps_and_evaluation": hours(step, True),
        "hours_pipeline_and_evaluation": hours(pipeline, True),
        "pipeline_clips_per_s": sig(pipeline),
        "step_batch": search["step_batch"],
        "pipeline": "min(loader, step) with workers (they overlap); 1/(1/loader + 1/step) with none",
        "not_included": "decoding for the evaluation view, checkpoints and records (seconds per epoch)",
        "paper_hours_v100": PENG_HOURS_V100,
        "batch_size": search["batch_size"],
    }  # fmt: skip


def loader_code() -> dict:
    """Hashes of the loaders' code as timed, and whether it differs from the commit (the loaders are changing)."""
    try:
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *LOADER_FILES],
                                 cwd=ROOT, capture_output=True, text=True).stdout.split()  # fmt: skip
    except OSError:
        changed = []
    sha = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:12] if (ROOT / f).is_file() else None
           for f in LOADER_FILES}  # fmt: skip
    return {"loader_files_sha256_12": sha, "loader_files_modified_since_commit": [f for f in LOADER_FILES
                                                                                   if f in changed]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", nargs="+", default=["ci", "default", "gpu"],
                        help="profiles to measure (embedded-dataset profiles only)")  # fmt: skip
    parser.add_argument("--out", default=str(RESULTS / "loader_step.json"))
    parser.add_argument("--batches", type=non_negative, default=0,
                        help="loader batches timed per epoch (0: the whole epoch; with fewer, a cached "
                        "profile's second epoch still decodes the videos the first did not reach)")  # fmt: skip
    parser.add_argument("--steps", type=positive, default=3, help="timed training steps (after one untimed)")
    parser.add_argument("--cpu-step-batch", type=positive, default=4,
                        help="clips per batch of the step when a GPU-sized profile runs on the CPU")  # fmt: skip
    parser.add_argument("--threads", type=positive, default=None,
                        help="torch threads (default: the profile's cpu_threads, else torch's)")  # fmt: skip
    args = parser.parse_args()
    for name in args.profiles:
        if name not in PROFILES:
            sys.exit(f"error: --profiles: unknown profile {name!r}; expected some of {sorted(PROFILES)}")
        if PROFILES[name].dataset != "embedded":
            sys.exit(f"error: --profiles: {name!r} reads {PROFILES[name].dataset} from disk; "
                     "this benchmark measures the embedded-dataset profiles (ci, default, gpu)")  # fmt: skip
    passive_openmp()
    code = {**code_version(), **loader_code()}
    cuda = torch.cuda.is_available()
    machine = machine_info(torch.device("cuda" if cuda else "cpu"))  # before: its load average is the start's
    began = time.perf_counter()
    profiles, table = {}, []
    for name in args.profiles:
        profile = get_profile(name)
        device = "cuda" if profile.device in ("cuda", "auto") and cuda else "cpu"
        torch.set_num_threads(args.threads or profile.cpu_threads or int(os.environ.get("OMP_NUM_THREADS", 0))
                              or torch.get_num_threads())  # fmt: skip
        print(f"{name}: device {device}, {torch.get_num_threads()} torch threads, num_workers {profile.num_workers}",
              flush=True)  # fmt: skip
        start = time.perf_counter()
        data_dir = ensure_dataset(profile.dataset_dir(), profile.synth_config(), progress=False)
        generated = time.perf_counter() - start
        entry = {
            "profile_device": profile.device, "device": device,
            "device_note": "the profile asks for CUDA; torch sees none, so it ran on the CPU"
            if profile.device == "cuda" and device == "cpu" else "the profile's device",
            "torch_threads": torch.get_num_threads(), "num_workers": profile.num_workers,
            "dataset": {"dir": str(Path(data_dir).relative_to(ROOT)) if Path(data_dir).is_relative_to(ROOT)
                        else str(data_dir), "classes": profile.synth_classes,
                        "videos_per_class": profile.synth_videos_per_class, "frames": profile.synth_frames,
                        "size": profile.synth_size, "ensure_dataset_s": round(generated, 1)},
        }  # fmt: skip
        print("  search", flush=True)
        entry["search"] = search_task(profile, device, data_dir, args)
        print("  retrain", flush=True)
        entry["retrain"] = retrain_task(profile, device, data_dir, args)
        if tuple(entry["search"]["clip"][1:]) == PENG_CLIP:
            entry["peng_protocol"] = peng_projection(entry["search"], device, profile.num_workers)
        entry["seconds"] = round(time.perf_counter() - start, 1)
        profiles[name] = entry
        for task in ("search", "retrain"):
            r = entry[task]
            steady = r["loader"][f"num_workers={profile.num_workers}"]["steady_epoch"]["clips_per_s"]
            table.append({"profile": name, "task": task, "loader_clips_per_s": steady,
                          "step_clips_per_s": r["step"]["clips_per_s"], "ratio": r["steady_profile_workers"],
                          "meets_1_5x": r["meets_1_5x"], "num_workers": profile.num_workers,
                          "device": device})  # fmt: skip
    result = {
        "what": "loader clips/s (the training loaders of search_data / retrain_data, no model) against step clips/s "
        "(search_step first order / train_step on batches in memory), per profile; issue 13 asks loader >= 1.5x step",
        "command": " ".join(["OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1 .venv/bin/python benchmarks/loader_step.py",
                             *sys.argv[1:]]),
        "batches_per_epoch": args.batches or "whole epoch",
        "steps": args.steps,
        "gpu_figures": "measured" if cuda else "open: no CUDA device was available; peak GPU memory, GPU utilisation "
        "and the GPU projection of Peng's protocol are not measured (the gpu profile ran on the CPU)",
        "machine": {
            **machine,
            "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()],
        },
        "code": code,
        "seconds": round(time.perf_counter() - began, 1),
        "table": table,
        "profiles": profiles,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("\n| profile | task | loader clips/s | step clips/s | ratio | meets 1.5x | num_workers | device |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in table:
        print(f"| {row['profile']} | {row['task']} | {row['loader_clips_per_s']} | {row['step_clips_per_s']} "
              f"| {row['ratio']}x | {'yes' if row['meets_1_5x'] else 'no'} | {row['num_workers']} "
              f"| {row['device']} |")  # fmt: skip
    for name, entry in profiles.items():
        if "peng_protocol" in entry:
            p = entry["peng_protocol"]
            print(f"{name}: Peng's protocol ({p['figure']}): {p['hours_steps_only']} h steps only, "
                  f"{p['hours_pipeline_and_evaluation']} h with loader and evaluation (paper: 25 h on one V100)")
    print(f"wrote {out} ({result['seconds']} s)")


if __name__ == "__main__":
    main()
