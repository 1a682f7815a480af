"""One first-order search step of Peng's search network: the plain port vs the package, side by side.

A DARTS first-order step (Peng Eq. 1 with the Hessian term dropped) on a validation and a training batch
of ``--batch`` clips of 3 x 8 x 32 x 32 (``--frames``, ``--size``), 10 classes:

1. forward and cross-entropy on the validation batch, backward w.r.t. the alphas only
   (``loss.backward(inputs=alphas)``), an Adam step on the alphas (DARTS: lr 3e-4, betas (0.5, 0.999),
   weight decay 1e-3);
2. forward and cross-entropy on the training batch, backward w.r.t. the weights only, gradient norm
   clipped to 5, an SGD step on the weights (lr 0.025, momentum 0.9, weight decay 3e-4).

Variants, all of ``peng_search_net(10, channels=4, layers=3, nodes=4)`` and all started from the same
weights and alphas:

* ``plain_port``: ``benchmarks/plain_port.py``, the port a newcomer would write (the reference);
* ``package_reference``: the package network with ``fused=False`` (its cells' definition, a per-edge loop);
* ``package``: the package network as a user gets it (its default, fast forward and default layout);
* ``package_channels_last``: the same, with the model and the inputs converted to ``torch.channels_last_3d``;
* ``package_channels_last_false``: when the package has the switch, ``peng_search_net(..., channels_last=False)``
  (its fast forward on PyTorch's default contiguous layout);
* on CUDA also ``package_bf16``: the package network under ``torch.autocast(dtype=torch.bfloat16)``.

The variants are timed interleaved: ``--rounds`` rounds, each timing ``--steps`` steps of every variant in
turn (after ``--warmup`` untimed steps of each), so drift of a shared machine hits all of them alike.
Reported per variant: median and min wall seconds per step, median CPU seconds per step (this process's,
all threads), and speedups over the plain port: of the medians, of the minima, paired (the median over
rounds of each round's ratio, which cancels slow drift) and in CPU time (the least sensitive to other
processes on a shared machine, but blind to idle threads). Before timing, the
script checks that the plain port and both package forwards give the same logits and gradients, in
float64 (the maths) and in float32 at the benchmark's batch (the kernels that are timed).
Run: ``make bench`` or ``.venv/bin/python benchmarks/search_step.py [--device cuda]``; writes
``benchmarks/results/search_step.json`` (``search_step_cuda.json`` on CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from plain_port import PlainSearchNet, logits_and_grads

from videonas_lite.nas.networks import SearchNetwork, peng_search_net

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def passive_openmp() -> None:
    """Re-run this script with ``OMP_WAIT_POLICY=PASSIVE`` unless the variable is set.

    OpenMP's default lets idle threads spin; on a machine whose cores are busy with other work (a shared CI
    runner, a laptop running Jupyter) the spinning threads steal the cores the working ones need, and a
    2-thread forward+backward of these networks measured 5-10x slower than with passive waiting. Set
    ``OMP_WAIT_POLICY=ACTIVE`` to measure the default behaviour.
    """
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, *sys.argv])


def machine_info(device: torch.device) -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(device),
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    return info


def code_version() -> dict:
    """The commit and hashes of the search network's code, so a result can be traced to the code it timed."""
    files = [str(f.relative_to(ROOT)) for f in sorted((ROOT / "videonas_lite" / "nas").glob("*.py"))]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *files],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
    except OSError:
        commit, changed = None, []
    sha = {f: hashlib.sha256((ROOT / f).read_bytes()).hexdigest()[:12] for f in files}
    return {"commit": commit, "nas_files_modified_since_commit": bool(changed), "sha256_12": sha}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Variant:
    """A model, its two optimisers and how it runs (memory format, autocast)."""

    def __init__(self, name: str, model, device, channels_last: bool = False, bf16: bool = False, full=False):
        self.name, self.model, self.device = name, model.to(device), device
        self.channels_last, self.bf16, self.full_backward = channels_last, bf16, full
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
        self.model.train()
        self.alphas = list(self.model.arch_parameters())
        self.weights = list(self.model.weight_parameters())
        self.arch_opt = torch.optim.Adam(self.alphas, lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
        self.weight_opt = torch.optim.SGD(self.weights, lr=0.025, momentum=0.9, weight_decay=3e-4)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        return x.contiguous(memory_format=torch.channels_last_3d) if self.channels_last else x.contiguous()

    def loss(self, x, y):
        autocast = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with autocast:
            logits = self.model(x)
        return F.cross_entropy(logits.float(), y)

    def step(self, x_val, y_val, x_train, y_train) -> None:
        """One first-order DARTS step: alphas on the validation batch, then weights on the training batch."""
        self.arch_opt.zero_grad(set_to_none=True)
        self.loss(x_val, y_val).backward(inputs=None if self.full_backward else self.alphas)
        self.arch_opt.step()
        self.weight_opt.zero_grad(set_to_none=True)
        self.arch_opt.zero_grad(set_to_none=True)
        self.loss(x_train, y_train).backward(inputs=None if self.full_backward else self.weights)
        torch.nn.utils.clip_grad_norm_(self.weights, 5.0)
        self.weight_opt.step()


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
    for name, fused in (("package_reference", False), ("package", True)):
        net.fused = fused
        got = run(net)
        report[name] = {
            f"max_rel_diff_{what}": float((a - b).abs().max() / b.abs().max())
            for what, a, b in zip(("logits", "alpha_grads", "weight_grads"), got, expected, strict=True)
        }
    net.fused = True
    report["equal"] = all(v < tolerance for k in ("package_reference", "package") for v in report[k].values())
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
    parser.add_argument(
        "--full-backward", action="store_true", help="backward w.r.t. every parameter in both halves (DARTS's code)"
    )
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
    full = args.full_backward

    def package(**kwargs):
        return peng_search_net(args.classes, channels=4, layers=3, nodes=4, **kwargs)

    variants = [
        Variant("plain_port", PlainSearchNet(args.classes, channels=4).load_from(base), device, full=full),
        Variant("package_reference", package(fused=False), device, full=full),
        Variant("package", package(), device, full=full),
        Variant("package_channels_last", package(), device, channels_last=True, full=full),
    ]
    if "channels_last" in inspect.signature(SearchNetwork).parameters:  # the package's own layout switch
        variants.append(Variant("package_channels_last_false", package(channels_last=False), device, full=full))
    if device.type == "cuda":
        variants.append(Variant("package_bf16", package(), device, bf16=True, full=full))
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
        (x_val, y_val), (x_train, y_train) = data[v.name]
        wall, cpu = [], []
        for _ in range(n):
            sync(device)
            start, start_cpu = time.perf_counter(), time.process_time()
            v.step(x_val, y_val, x_train, y_train)
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
        "what": "one first-order DARTS search step of peng_search_net(C=4, layers=3, nodes=4): forward+backward "
        "(w.r.t. alphas) on a validation batch + Adam on alphas, forward+backward (w.r.t. weights) on a training "
        "batch + SGD on weights",
        "backward": "w.r.t. every parameter" if full else "w.r.t. the stepped parameters only (inputs=...)",
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
    default_name = "search_step" + ("" if device.type == "cpu" else f"_{device.type}") + ("_full" if full else "")
    default_name += ".json"
    out = Path(args.out) if args.out else RESULTS / default_name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\nOne first-order search step, batch {args.batch} x {tuple(shape[1:])}, {device}, "
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
