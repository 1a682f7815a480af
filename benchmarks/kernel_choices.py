"""Does each kernel choice of nas/kernels.py pay, in a whole search step? Each switched off in turn, side by side.

``nas/kernels.py`` picks, per call, between two computations of the same function: batch norm on a channels-last
clip in place from ``CL_BN_MIN_CHANNELS`` channels (else copied to the default layout and back), and a large
average pool as two depthwise convs of ones from ``AVG_CONV_MIN_ELEMENTS`` elements (else PyTorch's pools). This
script times one first-order :func:`~videonas_lite.nas.bilevel.search_step` of ``peng_search_net`` (the shape of
benchmarks/search_step.py) with both choices as shipped, with each switched off (its threshold set to infinity),
and with both off, interleaved over rounds from the same weights, and reports each variant's median and its
speed-up paired by round against "both off".

    .venv/bin/python benchmarks/kernel_choices.py [--threads 2] [--rounds 9] [--batch 8]
    .venv/bin/python benchmarks/kernel_choices.py --pools [--threads 1]

Writes ``benchmarks/results/kernel_choices[_tN].json`` (``_tN`` for a thread count other than 2). ``--pools``
instead times the average pool alone, forward and backward, both ways, at the shapes the search networks meet
(where ``AVG_CONV_MIN_ELEMENTS`` comes from): ``kernel_choices_pools[_tN].json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import time

import torch
from harness import RESULTS, code_version, machine_info, passive_openmp

from videonas_lite.nas import kernels
from videonas_lite.nas.bilevel import search_step
from videonas_lite.nas.networks import peng_search_net
from videonas_lite.train.optim import PAPERS, make_optimizers

SHIPPED = {"CL_BN_MIN_CHANNELS": kernels.CL_BN_MIN_CHANNELS, "AVG_CONV_MIN_ELEMENTS": kernels.AVG_CONV_MIN_ELEMENTS}
VARIANTS = {
    "both_off": {name: math.inf for name in SHIPPED},
    "bn_in_place_only": {"AVG_CONV_MIN_ELEMENTS": math.inf},
    "avg_pool_as_convs_only": {"CL_BN_MIN_CHANNELS": math.inf},
    "shipped": {},
}


POOL_SHAPES = [(8, 4, 8, 32, 32), (8, 8, 8, 16, 16), (8, 16, 8, 8, 8), (32, 8, 4, 16, 16), (32, 8, 4, 8, 8),
               (16, 8, 4, 8, 8), (16, 16, 4, 4, 4)]  # fmt: skip


def time_pools(repeats: int = 30) -> list[dict]:
    """Median ms of a 3x3x3 average pool's forward and backward, by PyTorch's pools and as convs, per shape."""

    def median_ms(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return round(1000 * statistics.median(times), 3)

    rows = []
    for shape in POOL_SHAPES:
        for stride in (1, 2):
            x = torch.randn(shape).contiguous(memory_format=torch.channels_last_3d).requires_grad_()
            ms = {}
            kernels.AVG_CONV_MIN_ELEMENTS = math.inf  # pool3d: PyTorch's pools
            ways = {"pools": functools.partial(kernels.pool3d, x, "avg", (3, 3, 3), (1, stride, stride)),
                    "convs": functools.partial(kernels.avg_pool_as_convs, x, (3, 3, 3), stride)}  # fmt: skip
            for way, pool in ways.items():
                g = torch.randn_like(pool())
                ms[way] = median_ms(lambda pool=pool, g=g: pool().backward(g))
            kernels.AVG_CONV_MIN_ELEMENTS = SHIPPED["AVG_CONV_MIN_ELEMENTS"]
            rows.append({"shape": list(shape), "elements": math.prod(shape), "stride": stride, "ms_pools": ms["pools"],
                         "ms_convs": ms["convs"], "convs_speedup": round(ms["pools"] / ms["convs"], 2),
                         "shipped_picks": "convs" if kernels.pool3d_runs_as_convs(x, (3, 3, 3), (1, stride, stride))
                         else "pools"})  # fmt: skip
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    passive_openmp()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--pools", action="store_true", help="time the average pool alone, per shape")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    suffix = "" if args.threads == 2 else f"_t{args.threads}"
    if args.pools:
        rows = time_pools()
        path = RESULTS / f"kernel_choices_pools{suffix}.json"
        path.write_text(json.dumps({"what": time_pools.__doc__, "rows": rows, "machine": machine_info(
            torch.device("cpu")), "code": code_version()}, indent=1) + "\n")  # fmt: skip
        print(f"wrote {path}")
        return
    cl = torch.channels_last_3d
    val, train = ((torch.randn(args.batch, 3, 8, 32, 32).contiguous(memory_format=cl),
                   torch.randint(0, 10, (args.batch,))) for _ in range(2))  # fmt: skip
    runs = {}
    for name in VARIANTS:
        torch.manual_seed(0)  # every variant from the same weights and alphas, built as a user builds it
        model = peng_search_net(10, channels=4, layers=3, nodes=4).train()
        runs[name] = (model, *make_optimizers(model, PAPERS["peng"]))

    def timed(name: str, steps: int) -> float:
        for constant, value in {**SHIPPED, **VARIANTS[name]}.items():
            setattr(kernels, constant, value)
        model, sgd, adam = runs[name]
        start = time.perf_counter()
        for _ in range(steps):
            search_step(model, "first", train, val, sgd, adam)
        return (time.perf_counter() - start) / steps

    try:
        for name in VARIANTS:
            timed(name, 2)  # warm-up
        seconds = {name: [] for name in VARIANTS}
        for r in range(args.rounds):
            for name in VARIANTS:
                seconds[name].append(round(timed(name, args.steps), 4))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{n} {s[-1]:.3f}" for n, s in seconds.items()),
                  flush=True)  # fmt: skip
    finally:
        for constant, value in SHIPPED.items():
            setattr(kernels, constant, value)
    base = seconds["both_off"]

    def paired(s: list[float]) -> float:
        return round(statistics.median(b / x for b, x in zip(base, s, strict=True)), 3)

    result = {
        "what": __doc__.splitlines()[0], "batch": args.batch, "clip": [3, 8, 32, 32], "rounds": args.rounds,
        "steps_per_round": args.steps, "shipped": SHIPPED, "machine": machine_info(torch.device("cpu")),
        "code": code_version(),
        "variants": {name: {"median_s": statistics.median(s),
                            "speedup_vs_both_off_paired": paired(s),
                            "s_per_round": s} for name, s in seconds.items()},
    }  # fmt: skip
    path = RESULTS / f"kernel_choices{suffix}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    for name, v in result["variants"].items():
        print(f"{name:24s} median {v['median_s']:.3f} s/step, paired vs both off {v['speedup_vs_both_off_paired']}x")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
