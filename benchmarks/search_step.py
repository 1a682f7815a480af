"""One search step of Peng's search network, as a user runs it: the package vs the plain reference port.

Times :func:`videonas_lite.nas.bilevel.search_step` (what ``videonas search`` and notebook 05 run) with the
package's own optimisers (``train.optim.make_optimizers``, Peng's settings), ``--order first`` by default:
an architecture step on a validation batch, then a weight step on a training batch, each of ``--batch`` clips
of 3 x 8 x 32 x 32 (``--frames``, ``--size``), 10 classes.

Variants, all of ``peng_search_net(10, channels=4, layers=3, nodes=4)`` and all started from the same
weights and alphas, all stepped by the same ``search_step``:

* ``plain_port``: :class:`videonas_lite.nas.reference.PlainSearchNet`, the port a newcomer would write
  (the reference);
* ``package_definition``: the package network with ``fused=False`` (its cells' definition, nas/cells.py);
* ``package``: the package network as a user gets it (fused cells, nas/fused.py, and its default layout);
* ``package_channels_last``: the same, with the model and the inputs converted to ``torch.channels_last_3d``;
* ``package_channels_last_false``: ``peng_search_net(..., channels_last=False)`` (fused cells on PyTorch's
  default contiguous layout);
* on CUDA also ``package_bf16``: the package network under ``torch.autocast(dtype=torch.bfloat16)``.

The variants are timed interleaved: ``--rounds`` rounds, each timing ``--steps`` steps of every variant in
turn (after ``--warmup`` untimed steps of each), so drift of a shared machine hits all of them alike.
Reported per variant: median and min wall seconds per step, median CPU seconds per step (this process's,
all threads), and speedups over the plain port: of the medians, of the minima, paired (the median over
rounds of each round's ratio, which cancels slow drift) and in CPU time (the least sensitive to other
processes on a shared machine, but blind to idle threads). Before timing, the
script checks that the plain port and both package forwards give the same logits and gradients, in
float64 (the maths) and in float32 at the benchmark's batch (the kernels that are timed).
Run: ``.venv/bin/python benchmarks/search_step.py [--device cuda]``; writes
``benchmarks/results/search_step.json`` (``search_step_cuda.json`` on CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from harness import RESULTS, code_version, machine_info, passive_openmp, sync

from videonas_lite.nas.bilevel import ORDERS, search_step
from videonas_lite.nas.networks import peng_search_net
from videonas_lite.nas.reference import PlainSearchNet, logits_and_grads
from videonas_lite.train.optim import PAPERS, make_optimizers


class Variant:
    """A model, the package's two optimisers for it (Peng's settings) and how it runs (memory format, autocast)."""

    def __init__(self, name: str, model, device, channels_last: bool = False, bf16: bool = False):
        self.name, self.model, self.device = name, model.to(device), device
        self.channels_last, self.bf16 = channels_last, bf16
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.model.train()
        self.weight_opt, self.arch_opt = make_optimizers(self.model, PAPERS["peng"])

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x.contiguous()

    def step(self, order: str, val: tuple, train: tuple) -> None:
        """One step of the package's :func:`~videonas_lite.nas.bilevel.search_step`."""
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:
            search_step(self.model, order, train, val, self.weight_opt, self.arch_opt)


def check_equal(num_classes: int, frames: int, size: int, dtype: torch.dtype, batch: int, seed: int = 0) -> dict:
    """The plain port and the package (both forwards) give the same logits and gradients.

    In float64 this checks the maths (PyTorch's float64 convs are plain loops); in float32 the package runs
    the oneDNN kernels and layouts it runs in the benchmark, so a kernel bug would show there. Differences
    are relative to the largest magnitude of each quantity.
    """
    torch.manual_seed(seed)
    net = peng_search_net(num_classes, channels=4).to(dtype)
    with torch.no_grad():
        for alpha in net.alphas.values():
            alpha.normal_()  # far from uniform, so a wrong op weight would show
    plain = PlainSearchNet(num_classes, channels=4).to(dtype).load_from(net)
    x = torch.randn(batch, 3, frames, size, size, dtype=dtype)
    y = torch.randint(0, num_classes, (batch,))

    def run(model):
        return logits_and_grads(model, x, y)

    expected = run(plain)
    tolerance = 1e-9 if dtype == torch.float64 else 1e-3
    report = {"dtype": str(dtype).removeprefix("torch."), "clips": list(x.shape), "tolerance": tolerance}
    for name, fused in (("package_definition", False), ("package", True)):
        net.fused = fused
        got = run(net)
        report[name] = {
            f"max_rel_diff_{what}": float((a - b).abs().max() / b.abs().max())
            for what, a, b in zip(("logits", "alpha_grads", "weight_grads"), got, expected, strict=True)
        }
    net.fused = True
    report["equal"] = all(v < tolerance for k in ("package_definition", "package") for v in report[k].values())
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--order", default="first", choices=ORDERS, help="search_step's architecture step")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    passive_openmp()

    code = code_version()  # before any timing: the package's modules are already imported
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.benchmark = True
    torch.set_num_threads(args.threads)

    checks = {
        "float64": check_equal(args.classes, args.frames, args.size, torch.float64, batch=2),
        "float32": check_equal(args.classes, args.frames, args.size, torch.float32, batch=args.batch),
    }
    for name, check in checks.items():
        print(f"{name} check, plain port vs package: {'equal' if check['equal'] else 'DIFFERENT'} {check}")
    if not all(check["equal"] for check in checks.values()):
        sys.exit("error: the plain port and the package network disagree; timings would compare different maths")

    torch.manual_seed(0)
    base = peng_search_net(args.classes, channels=4, layers=3, nodes=4)

    def package(**kwargs):
        return peng_search_net(args.classes, channels=4, layers=3, nodes=4, **kwargs)

    variants = [
        Variant("plain_port", PlainSearchNet(args.classes, channels=4).load_from(base), device),
        Variant("package_definition", package(fused=False), device),
        Variant("package", package(), device),
        Variant("package_channels_last", package(), device, channels_last=True),
        Variant("package_channels_last_false", package(channels_last=False), device),
    ]
    if device.type == "cuda":
        variants.append(Variant("package_bf16", package(), device, bf16=True))
    for v in variants[1:]:
        v.model.load_state_dict(base.state_dict())

    shape = (args.batch, 3, args.frames, args.size, args.size)
    gen = torch.Generator().manual_seed(1)
    batches = [
        (torch.randn(shape, generator=gen), torch.randint(0, args.classes, (args.batch,), generator=gen))
        for _ in range(2)
    ]
    data = {
        v.name: [(v.prepare(x), y.to(device)) for x, y in batches] for v in variants
    }  # [validation, training] per variant

    def run_steps(v: Variant, n: int) -> tuple[list[float], list[float]]:
        """``n`` steps of ``v``: wall-clock seconds and this process's CPU seconds of each."""
        val, train = data[v.name]
        wall, cpu = [], []
        for _ in range(n):
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            v.step(args.order, val, train)
            sync(device)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        return wall, cpu

    machine = machine_info(device)
    for v in variants:
        run_steps(v, args.warmup)
    rounds: dict[str, list[list[float]]] = {v.name: [] for v in variants}  # wall seconds, per round
    cpu: dict[str, list[float]] = {v.name: [] for v in variants}
    for r in range(args.rounds):
        for v in variants:
            wall, cpu_s = run_steps(v, args.steps)
            rounds[v.name].append(wall)
            cpu[v.name] += cpu_s
        print(f"round {r + 1}/{args.rounds} (median s/step): "
              + ", ".join(f"{k} {statistics.median(t[-1]):.3f}" for k, t in rounds.items()), flush=True)  # fmt: skip

    def summary(name: str) -> dict:
        wall = [s for round_ in rounds[name] for s in round_]
        plain = [s for round_ in rounds["plain_port"] for s in round_]
        paired = [
            statistics.median(p) / statistics.median(t) for p, t in zip(rounds["plain_port"], rounds[name], strict=True)
        ]
        return {
            "median_s": round(statistics.median(wall), 4),
            "min_s": round(min(wall), 4),
            "cpu_median_s": round(statistics.median(cpu[name]), 4),
            "speedup_vs_plain_port_median": round(statistics.median(plain) / statistics.median(wall), 2),
            "speedup_vs_plain_port_min": round(min(plain) / min(wall), 2),
            "speedup_vs_plain_port_paired": round(statistics.median(paired), 2),
            "speedup_vs_plain_port_cpu": round(statistics.median(cpu["plain_port"]) / statistics.median(cpu[name]), 2),
            "steps_s_per_round": [[round(s, 4) for s in round_] for round_ in rounds[name]],
            "cpu_steps_s": [round(s, 4) for s in cpu[name]],
        }

    load_before = machine["loadavg_1_5_15"]
    per_variant = {name: summary(name) for name in rounds}
    result = {
        "what": "one step of videonas_lite.nas.bilevel.search_step on peng_search_net(C=4, layers=3, nodes=4) and "
        "on the plain reference port: architecture step (Adam on the alphas) on a validation batch, weight step "
        "(SGD on the weights) on a training batch, the package's optimisers with Peng's settings",
        "order": args.order,
        "batch": args.batch,
        "clip": [3, args.frames, args.size, args.size],
        "classes": args.classes,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "warmup_steps": args.warmup,
        "machine": {**machine, "loadavg_1_5_15_after": [round(v, 2) for v in os.getloadavg()]},
        "code": code,
        "checks": checks,
        "variants": per_variant,
    }
    default_name = "search_step" + ("" if device.type == "cpu" else f"_{device.type}")
    default_name += ("" if args.order == "first" else f"_{args.order}") + ".json"
    out = Path(args.out) if args.out else RESULTS / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nOne search step (order {args.order!r}), batch {args.batch} x {tuple(shape[1:])}, {device}, "
          f"{torch.get_num_threads()} threads (median / min of {args.rounds} x {args.steps} steps):\n")  # fmt: skip
    print("| variant | median s/step | min s/step | CPU s/step | speedup vs plain port: median | min | paired by round "
          "| CPU time |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in per_variant.items():
        print(f"| {name} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['cpu_median_s']:.3f} "
              f"| {r['speedup_vs_plain_port_median']:.2f}x | {r['speedup_vs_plain_port_min']:.2f}x "
              f"| {r['speedup_vs_plain_port_paired']:.2f}x | {r['speedup_vs_plain_port_cpu']:.2f}x |")  # fmt: skip
    print(f"load average (1 min) before / after: {load_before[0]} / {result['machine']['loadavg_1_5_15_after'][0]}")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
