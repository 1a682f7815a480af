"""What every benchmark records beside its figures: the machine, the code it timed, OpenMP's wait policy.

Imported by the benchmark scripts of this folder (run as ``.venv/bin/python benchmarks/<name>.py``, which puts
this folder first on Python's path); not part of the package.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

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
        **cpu_model(),
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


def cpu_model() -> dict:
    """The CPU's model name and whether it has AVX-512 (oneDNN's kernels, hence the speed-ups, differ by both)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    return {"cpu_model": fields.get("model name"), "avx512f": "avx512f" in fields.get("flags", "").split()}


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


def record_result(path: Path, name: str, result: dict) -> None:
    """Add ``result`` to the JSON results file ``path`` under ``name`` (replacing an entry of that name).

    Read, updated and replaced atomically under an exclusive lock (``path`` with ``.lock``), so that runs going in
    parallel, one per core, cannot drop each other's entries: two searches finishing together once did.
    """
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(path.read_text()) if path.is_file() else {}
        results[name] = result
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=1) + "\n")
        tmp.replace(path)
