"""Time and peak memory of one search step per architecture-step mode, on the same batches (Peng Eq. 5).

Modes (videonas_lite/train/stepcost.py): ``first``, ``second`` (central difference, DARTS), ``second-forward``
(forward difference, reusing the virtual step's pass), ``second-exact`` (double backward), ``one-level``
(PV-NAS Eqs. 8-9); each step is the architecture step plus the weight step. Every mode runs in its own
process (a clean peak-memory reading), ``--rounds`` times in turn so drift of a shared machine hits all
modes alike; the median over rounds of each mode's median step time is reported, with the ratios to
``first``. The costs of the three kinds of pass (forward; forward + alpha-only backward; forward + full
backward) and each mode's count of them (``stepcost.PASSES``; DARTS's code: ``stepcost.DARTS_FULL_PASSES``)
predict the ratios.
Run: ``make bench`` or ``.venv/bin/python benchmarks/bilevel.py [--device cuda]``; writes
``benchmarks/results/bilevel.json`` (``bilevel_cuda.json`` on CUDA).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import asdict

import torch
from harness import RESULTS, code_version, machine_info, passive_openmp

from videonas_lite.train.stepcost import (
    DARTS_FULL_PASSES,
    MODES,
    PASSES,
    StepSetup,
    measure_modes,
    pass_costs,
    predicted_seconds,
)

SETUPS = {  # the search_step benchmark's batch for Peng; PV-NAS's four cell kinds at the ci width
    "peng": dict(space="peng", batch=8, frames=8, size=32, channels=4, classes=10),
    "pvnas": dict(space="pvnas", batch=8, frames=8, size=32, channels=4, classes=10),
}


def predicted(costs: dict[str, float]) -> dict[str, float]:
    """Ratios to first order from the pass costs (optimiser steps and copies neglected)."""
    first = predicted_seconds("first", costs)
    ratios = {mode: predicted_seconds(mode, costs) / first for mode in PASSES if mode != "first" and PASSES[mode]}
    darts = DARTS_FULL_PASSES
    return {
        **ratios,
        "darts_second_over_darts_first": darts["second"] / darts["first"],
        "second_over_darts_first": predicted_seconds("second", costs) / (darts["first"] * costs["full"]),
    }


def run(setup: StepSetup, modes: list[str], rounds: int, steps: int) -> dict:
    per_round = [measure_modes(setup, modes, steps=steps, warmup=1) for _ in range(rounds)]
    rows = {}
    for k, mode in enumerate(modes):
        seconds = [r[k]["seconds"] for r in per_round]
        rows[mode] = {"seconds": statistics.median(seconds), "seconds_per_round": seconds,
                      "peak_mib": statistics.median(r[k]["peak_mib"] for r in per_round)}  # fmt: skip
    first = rows["first"]["seconds"]
    for row in rows.values():
        row["ratio_to_first"] = row["seconds"] / first
    costs = pass_costs(setup, repeats=5)
    return {"setup": asdict(setup), "modes": rows, "pass_seconds": costs, "predicted_ratio": predicted(costs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--spaces", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    passive_openmp()
    modes = list(MODES)
    results = {"machine": machine_info(torch.device(args.device)), "code": code_version(), "spaces": {}}
    for space in args.spaces:
        setup = StepSetup(**SETUPS[space], device=args.device, threads=args.threads)
        results["spaces"][space] = res = run(setup, modes, args.rounds, args.steps)
        print(f"{space}: batch {setup.batch} x 3x{setup.frames}x{setup.size}x{setup.size}, C={setup.channels}")
        print("  passes (s): " + ", ".join(f"{k} {v:.3f}" for k, v in res["pass_seconds"].items()))
        for mode, row in res["modes"].items():
            seconds, ratio, peak = row["seconds"], row["ratio_to_first"], row["peak_mib"]
            print(f"  {mode:15s} {seconds:7.3f} s/step  x{ratio:.2f}  peak {peak:7.1f} MiB")
        print("  predicted ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in res["predicted_ratio"].items()))
    suffix = "" if args.device == "cpu" else f"_{args.device.split(':')[0]}"
    out = RESULTS / f"bilevel{suffix}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
