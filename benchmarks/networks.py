"""What the two search networks cost at the ci, default and paper sizes: parameters, FLOPs, time, memory.

For Peng's ``peng_search_net(classes, channels=profile.peng_channels)`` and PV-NAS's
``pvnas_search_net(classes, channels=profile.pvnas_channels)`` on clips of
``(3, profile.clip_frames, profile.crop_size, profile.crop_size)`` (classes: the profile's embedded
dataset, 101 for ``paper``), in training mode (batch-statistics BN), the package's default forward:

* parameters: weights and alphas separately;
* FLOPs per clip (``torch.utils.flop_counter``: a multiply-add is 2, only convs and matmuls count),
  counted on the meta device (shapes only, so even the paper sizes cost nothing): forward, and forward +
  backward (w.r.t. every parameter; the input needs no gradient), both by
  ``videonas_lite.nas.cost.count_flops`` (which corrects torch's formula for grouped convs' weight
  gradients);
* forward + backward wall time per clip at ``--batch`` clips (median of ``--repeats`` steps after one
  warm-up step), in a fresh subprocess per configuration;
* peak memory per clip: on CPU the growth of the subprocess's peak resident set
  (``getrusage(RUSAGE_SELF).ru_maxrss``) over its value after imports, model and inputs, divided by the
  batch; on CUDA ``torch.cuda.max_memory_allocated`` over the allocation before the step, per clip;
* the bytes autograd saves for backward per clip, estimated on the meta device (every saved tensor's
  storage once): the guard that skips, with a reason, a configuration that would not fit in memory.

A configuration whose warm-up step takes longer than ``--cap`` seconds gets ``null`` times with the reason;
one whose worker crashes (a signal) is measured again with ``channels_last=False`` where the package has
that switch, and the row says so.
Run: ``make bench`` or ``.venv/bin/python benchmarks/networks.py [--device cuda]``; writes
``benchmarks/results/networks.json`` (``networks_cuda.json`` on CUDA) and prints the README's table.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from harness import RESULTS, code_version, passive_openmp

from videonas_lite.nas.cost import count_flops
from videonas_lite.nas.networks import SearchNetwork, peng_search_net, pvnas_search_net
from videonas_lite.profiles import get_profile

PROFILES = ("ci", "default", "paper")
NETWORKS = ("peng", "pvnas")


def config(network: str, profile_name: str) -> dict:
    profile = get_profile(profile_name)
    return {
        "network": network,
        "profile": profile_name,
        "channels": profile.peng_channels if network == "peng" else profile.pvnas_channels,
        "clip": [3, profile.clip_frames, profile.crop_size, profile.crop_size],
        "classes": profile.synth_classes if profile.dataset == "embedded" else 101,
    }


def build(cfg: dict) -> torch.nn.Module:
    make = peng_search_net if cfg["network"] == "peng" else pvnas_search_net
    layout = {"channels_last": cfg["channels_last"]} if "channels_last" in cfg else {}
    return make(cfg["classes"], channels=cfg["channels"], **layout)


def static_costs(cfg: dict) -> dict:
    """Parameters, FLOPs and autograd's saved bytes per clip, on the meta device."""
    with torch.device("meta"):
        model = build(cfg).train()
    x = torch.empty(1, *cfg["clip"], device="meta")
    alphas = sum(p.numel() for p in model.arch_parameters())
    weights = sum(p.numel() for p in model.weight_parameters())
    forward = count_flops(model, x)
    fwd_bwd = count_flops(model, x, backward=True)
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage._cdata] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return {
        "weights": weights,
        "alphas": alphas,
        "forward_flops_per_clip": forward,
        "fwd_bwd_flops_per_clip": fwd_bwd,
        "saved_for_backward_bytes_per_clip_est": sum(storages.values()),
    }


def measure(cfg: dict, batch: int, repeats: int, cap: float, device: str) -> dict:
    """Forward + backward time and peak memory per clip (run in a fresh process on CPU)."""
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build(cfg).to(dev).train()
    x = torch.randn(batch, *cfg["clip"], device=dev)
    y = torch.randint(0, cfg["classes"], (batch,), device=dev)

    def step() -> float:
        model.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - start

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    warm = step()
    out = {"batch": batch, "warmup_step_s": round(warm, 3)}
    if warm > cap:
        out.update(
            fwd_bwd_ms_per_clip=None, reason=f"one forward+backward of {batch} clips took {warm:.0f} s > {cap} s"
        )
    else:
        times = [step() for _ in range(repeats)]
        out.update(fwd_bwd_ms_per_clip=round(1000 * statistics.median(times) / batch, 2),
                   steps_s=[round(t, 4) for t in times])  # fmt: skip
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) - base
        out["peak_memory_how"] = "torch.cuda.max_memory_allocated over the allocation before the step"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
        out["peak_memory_how"] = "growth of ru_maxrss after imports, model and inputs"
    out["peak_mib_per_clip"] = round(peak / batch / 2**20, 2)
    return out


def has_layout_switch() -> bool:
    """Whether the package's networks take ``channels_last=`` (their layout switch)."""
    return "channels_last" in inspect.signature(SearchNetwork).parameters


def available_bytes(device: str) -> int:
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def run_worker(cfg: dict, batch: int, args) -> dict:
    """``measure`` in a fresh interpreter, so that each configuration's peak RSS is its own."""
    cmd = [sys.executable, __file__, "--worker", json.dumps(cfg), "--batch", str(batch),
           "--repeats", str(args.repeats), "--cap", str(args.cap), "--threads", str(args.threads)]  # fmt: skip
    timeout = 4 * args.cap + 120
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"fwd_bwd_ms_per_clip": None, "peak_mib_per_clip": None,
                "reason": f"no result within {timeout:.0f} s (killed)"}  # fmt: skip
    if proc.returncode < 0:
        return {"fwd_bwd_ms_per_clip": None, "peak_mib_per_clip": None,
                "reason": f"forward+backward crashed ({signal.Signals(-proc.returncode).name})"}  # fmt: skip
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return {"fwd_bwd_ms_per_clip": None, "peak_mib_per_clip": None,
                "reason": f"worker failed (exit {proc.returncode}): {tail[0]}"}  # fmt: skip
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict], device: str, batch: int) -> str:
    lines = [
        f"| network | profile | C | clip | classes | weights | alphas | GFLOPs fwd / clip | GFLOPs fwd+bwd / clip "
        f"| ms fwd+bwd / clip ({device}, batch {batch}) | peak MiB / clip |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ms = r["fwd_bwd_ms_per_clip"]
        mem = r["peak_mib_per_clip"]
        note = f" ({r['reason']})" if r.get("reason") else ""
        lines.append(
            f"| {'Peng' if r['network'] == 'peng' else 'PV-NAS'} | {r['profile']} | {r['channels']} "
            f"| {'x'.join(map(str, r['clip']))} | {r['classes']} | {r['weights']:,} | {r['alphas']} "
            f"| {r['forward_flops_per_clip'] / 1e9:.2f} | {r['fwd_bwd_flops_per_clip'] / 1e9:.2f} "
            f"| {'n/a' if ms is None else f'{ms:.1f}'}{note} | {'n/a' if mem is None else f'{mem:.0f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cap", type=float, default=60.0, help="skip timing when one warm-up step takes longer (s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--memory-fraction", type=float, default=0.6, help="skip when the estimated saved bytes exceed this share"
    )
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES))
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    passive_openmp()
    torch.set_num_threads(args.threads)

    if args.worker:
        print(json.dumps(measure(json.loads(args.worker), args.batch, args.repeats, args.cap, "cpu")))
        return
    code = code_version()  # the package's modules are already imported
    if args.device.startswith("cuda"):
        if not torch.cuda.is_available():
            sys.exit("error: --device cuda but torch.cuda.is_available() is False")
        torch.backends.cudnn.benchmark = True

    rows = []
    for profile in args.profiles:
        for network in NETWORKS:
            cfg = config(network, profile)
            row = {**cfg, **static_costs(cfg)}
            per_clip = row["saved_for_backward_bytes_per_clip_est"]
            free = available_bytes(args.device)
            batch = min(args.batch, int(args.memory_fraction * free // max(per_clip, 1)))
            if batch < 1:
                row.update(fwd_bwd_ms_per_clip=None, peak_mib_per_clip=None,
                           reason=f"autograd would keep about {per_clip / 2**30:.1f} GiB per clip, "
                                  f"{free / 2**30:.0f} GiB free")  # fmt: skip
            elif args.device == "cpu":
                row.update(run_worker(cfg, batch, args))
                if row["fwd_bwd_ms_per_clip"] is None and "crashed" in row["reason"] and has_layout_switch():
                    crash = row.pop("reason")  # e.g. a oneDNN bug on channels-last: measure the other layout
                    row.update(
                        run_worker({**cfg, "channels_last": False}, batch, args), measured_with="channels_last=False"
                    )
                    row["reason"] = "; ".join(filter(None, [f"default layout: {crash}, row measured with "
                                                            "channels_last=False", row.get("reason")]))  # fmt: skip
            else:
                try:
                    row.update(measure(cfg, batch, args.repeats, args.cap, args.device))
                except torch.cuda.OutOfMemoryError:
                    row.update(
                        fwd_bwd_ms_per_clip=None, peak_mib_per_clip=None, reason=f"out of memory at batch {batch}"
                    )
                torch.cuda.empty_cache()
            if 1 <= batch < args.batch:
                row["reason"] = "; ".join(filter(None, [f"measured at batch {batch} to fit memory", row.get("reason")]))
            rows.append(row)
            print(f"{network} {profile}: {row.get('fwd_bwd_ms_per_clip')} ms/clip, "
                  f"{row.get('peak_mib_per_clip')} MiB/clip {row.get('reason', '')}", flush=True)  # fmt: skip

    device = torch.device(args.device)
    machine = {"cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
               "torch_threads": args.threads, "python": platform.python_version(), "torch": torch.__version__,
               "device": str(device), "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY")}  # fmt: skip
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    result = {
        "what": "search networks in training mode, package forward; FLOPs per clip on the meta device "
        "(cost.count_flops); time and peak memory per clip of forward+backward at the given batch",
        "batch": args.batch,
        "repeats": args.repeats,
        "machine": machine,
        "code": code,
        "rows": rows,
    }
    name = "networks.json" if device.type == "cpu" else f"networks_{device.type}.json"
    out = Path(args.out) if args.out else RESULTS / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(rows, str(device), args.batch))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
