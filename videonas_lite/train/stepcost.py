"""What one search step costs in each mode: time and peak memory on the same batches. Taught by notebook 04.

A profiling harness, not part of a search: notebook 04's section 4 and ``benchmarks/bilevel.py`` run it, and
nothing else in the package imports it. It stays in the package because the notebook imports it.

A *mode* is an architecture step of :func:`~videonas_lite.nas.bilevel.search_step` followed by its weight
step (one full pass):

========================  ==========================================================
mode                      architecture step
========================  ==========================================================
``first``                 grad_alpha L_val(w) (Peng Eq. 5, xi = 0)
``second``                virtual step, grad L_val(w'), central difference (DARTS)
``second-forward``        the same, forward difference reusing the virtual step
``second-exact``          double backward through the virtual step
``one-level``             grad_alpha L_train(w) (PV-NAS Eq. 8)
========================  ==========================================================

:data:`PASSES` counts each mode's forward + backward passes ("full": gradients of every weight; "alpha":
gradients of the alphas only, so the convolutions' weight gradients are skipped), and
:data:`DARTS_FULL_PASSES` the same steps as DARTS's code takes them, every gradient in full;
:func:`pass_costs` times the kinds of pass so that :func:`predicted_seconds` can predict each mode's time.

On CPU the peak is the rise of the process's resident-set high-water mark (``VmHWM``, reset after the
warm-up steps) over its resident set then. glibc keeps freed memory for reuse, which would hide part of
a step's peak, so :func:`measure_modes` reads it in a fresh Python process with glibc's mmap threshold
fixed (:data:`MMAP_THRESHOLD`): large tensors are then mapped and unmapped one by one and the resident
set follows the live tensors, and falls back when a mode's tensors are freed, so one such process reads
every mode's peak in turn. The times come from fresh processes with the usual allocator, one per mode. On
CUDA the peak is ``torch.cuda.max_memory_allocated`` above the memory held after the warm-up.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from videonas_lite.nas.bilevel import search_step
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.train.optim import PAPERS, make_optimizers

MODES: dict[str, tuple[str, str]] = {
    "first": ("first", "central"),
    "second": ("second", "central"),
    "second-forward": ("second", "forward"),
    "second-exact": ("second", "exact"),
    "one-level": ("one-level", "central"),
}
"""mode -> (``search_step`` order, second order's ``difference``)."""

PASSES: dict[str, tuple[int, int] | None] = {
    "first": (1, 1),  # grad_alpha L_val(w): 1 alpha; the weight step: 1 full
    "second": (3, 2),  # virtual step, grad L_val(w'), weight step: 3 full; central difference: 2 alpha
    "second-forward": (3, 1),  # the same, forward difference: g(w) comes with the virtual step's pass
    "second-exact": None,  # double backward: one graph holding two passes, no count of passes
    "one-level": (1, 1),  # grad_alpha L_train(w) (PV-NAS Eq. 8): 1 alpha; the weight step: 1 full
}
"""mode -> (full passes, alpha-only passes) of one search step; the one place these counts are written."""

DARTS_FULL_PASSES: dict[str, int] = {"first": 2, "second": 5, "second-forward": 4, "one-level": 2}
"""mode -> full passes of the same step in DARTS's code, where every backward reaches every weight."""

MMAP_THRESHOLD = 128 * 1024
"""glibc's mmap threshold in the measuring processes, fixed so freed tensors go back to the OS at once."""


@dataclass(frozen=True)
class StepSetup:
    """The network and the batches every mode is timed on (the same for all modes)."""

    space: str = "peng"
    batch: int = 8
    frames: int = 8
    size: int = 32
    channels: int = 4
    classes: int = 10
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self):
        if self.space not in ("peng", "pvnas"):
            raise ValueError(f"space must be 'peng' or 'pvnas', got {self.space!r}")

    def build(self):
        """``(model, sgd, adam, train_batches, val_batches)``, seeded; two batches of each half."""
        if self.threads:
            torch.set_num_threads(self.threads)
        torch.manual_seed(self.seed)
        make = peng_search_net if self.space == "peng" else pvnas_search_net
        model = make(self.classes, channels=self.channels).to(self.device)
        sgd, adam = make_optimizers(model, PAPERS[self.space])
        gen = torch.Generator().manual_seed(self.seed)

        def batch() -> tuple[torch.Tensor, torch.Tensor]:
            clips = torch.randn(self.batch, 3, self.frames, self.size, self.size, generator=gen)
            labels = torch.randint(self.classes, (self.batch,), generator=gen)
            return clips.to(self.device), labels.to(self.device)

        return model, sgd, adam, [batch(), batch()], [batch(), batch()]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def _proc_status_mib(field: str) -> float:
    """``VmRSS`` / ``VmHWM`` of this process in MiB (Linux ``/proc``; the high-water mark is per process image)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}; peak memory on CPU needs Linux")


def _peak_start(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    try:  # reset the high-water mark to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _proc_status_mib("VmRSS")


def _peak_rise(device: str, start: float) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20 - start
    return _proc_status_mib("VmHWM") - start


def measure_mode(setup: StepSetup, mode: str, steps: int = 3, warmup: int = 1) -> dict:
    """Seconds per step (median and all) and the peak memory rise in MiB of ``mode``'s steps after warm-up."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
    order, difference = MODES[mode]
    model, sgd, adam, trains, vals = setup.build()
    times, start = [], 0.0
    for i in range(warmup + steps):
        if i == warmup:
            start = _peak_start(setup.device)
        k = i % len(trains)
        times.append(_timed(lambda k=k: search_step(model, order, trains[k], vals[k], sgd, adam, difference=difference),
                            setup.device))  # fmt: skip
    return {"mode": mode, "seconds": statistics.median(times[warmup:]), "seconds_all": times[warmup:],
            "peak_mib": _peak_rise(setup.device, start)}  # fmt: skip


def measure_modes(
    setup: StepSetup,
    modes: Sequence[str] = tuple(MODES),
    steps: int = 3,
    warmup: int = 1,
    isolate: bool = True,
    progress: bool = False,
) -> list[dict]:
    """:func:`measure_mode` for each mode; with ``isolate``, in fresh Python processes.

    Each mode is timed in a process of its own, with the usual allocator. On CPU one more process then reads
    every mode's peak memory (a single step after each mode's warm-up) with glibc's mmap threshold fixed,
    which costs page faults (so its steps are not the ones timed). ``progress``: a bar over the modes.
    """
    from tqdm.auto import tqdm

    modes = list(modes)
    if not isolate:
        return [measure_mode(setup, m, steps, warmup) for m in tqdm(modes, desc="modes", disable=not progress)]
    results = [_in_child(setup, [m], steps, warmup, {})[0] for m in tqdm(modes, desc="modes", disable=not progress)]
    if not setup.device.startswith("cuda"):
        peaks = _in_child(setup, modes, 1, warmup, {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD)})
        for timed, peak in zip(results, peaks, strict=True):
            timed["peak_mib"] = peak["peak_mib"]
    return results


def _in_child(setup: StepSetup, modes: Sequence[str], steps: int, warmup: int, env: dict[str, str]) -> list[dict]:
    """:func:`measure_mode` of each of ``modes`` in turn, in one fresh Python process with ``env`` added."""
    cmd = [sys.executable, "-m", __name__, "--setup", json.dumps(asdict(setup)), "--mode", *modes,
           "--steps", str(steps), "--warmup", str(warmup)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode != 0:
        raise RuntimeError(f"measuring modes {list(modes)} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def pass_costs(setup: StepSetup, repeats: int = 3) -> dict[str, float]:
    """Median seconds of one forward pass, one forward + alpha-only backward, one forward + full backward."""
    model, _, _, trains, _ = setup.build()
    weights, alphas = list(model.weight_parameters()), list(model.arch_parameters())
    clips, labels = trains[0]

    def loss() -> torch.Tensor:
        return torch.nn.functional.cross_entropy(model(clips), labels)

    kinds: dict[str, Callable[[], object]] = {
        "forward": lambda: loss().item(),
        "alpha": lambda: torch.autograd.grad(loss(), alphas),
        "full": lambda: torch.autograd.grad(loss(), [*weights, *alphas]),
    }
    for fn in kinds.values():  # warm-up
        fn()
    return {k: statistics.median(_timed(fn, setup.device) for _ in range(repeats)) for k, fn in kinds.items()}


def predicted_seconds(mode: str, costs: dict[str, float]) -> float:
    """``mode``'s step time from :func:`pass_costs`' seconds and :data:`PASSES` (NaN for ``second-exact``)."""
    counts = PASSES[mode]
    return math.nan if counts is None else counts[0] * costs["full"] + counts[1] * costs["alpha"]


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="time modes in turn (a helper process of measure_modes)")
    parser.add_argument("--setup", required=True, help="StepSetup as JSON")
    parser.add_argument("--mode", required=True, nargs="+", choices=sorted(MODES))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    setup = StepSetup(**json.loads(args.setup))
    results = []
    for mode in args.mode:
        results.append(measure_mode(setup, mode, args.steps, args.warmup))
        gc.collect()  # the mode's network, optimisers and graphs are gone before the next one's peak is read
        _release_heap()
    print(json.dumps(results))


def _release_heap() -> None:
    """Give glibc's free heap pages back to the OS, so the next mode's small tensors raise the resident set too."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to release
        pass


if __name__ == "__main__":
    _main()
