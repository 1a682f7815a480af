"""The environment check of notebook 00: what is installed, and whether the course can run."""

from __future__ import annotations

import importlib
import platform
import shutil
import subprocess
from dataclasses import dataclass

__all__ = ["Check", "environment_report"]

REQUIRED_MODULES = ("torch", "torchvision", "decord", "av", "papermill", "ipywidgets", "graphviz", "matplotlib")


@dataclass(frozen=True)
class Check:
    name: str
    found: str  # a version, or what is missing
    ok: bool
    required: bool = True


def _module(name: str) -> Check:
    try:
        module = importlib.import_module(name)
    except Exception as err:  # an import can fail in many ways (missing libs, ABI)
        return Check(name, f"import failed: {err}", False)
    return Check(name, str(getattr(module, "__version__", "installed")), True)


def _dot() -> Check:
    path = shutil.which("dot")
    if path is None:
        return Check(
            "graphviz dot", "missing: apt-get install graphviz (or conda install -c conda-forge graphviz)", False
        )
    out = subprocess.run([path, "-V"], capture_output=True, text=True, check=False)
    return Check("graphviz dot", (out.stderr or out.stdout).strip(), out.returncode == 0)


def _cuda() -> Check:
    import torch

    if torch.cuda.is_available():
        return Check("CUDA", f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})", True, required=False)
    return Check("CUDA", "not available: the CPU profiles (ci, default) run everywhere", True, required=False)


def _kernel(name: str) -> Check:
    from jupyter_client.kernelspec import KernelSpecManager

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except Exception:
        return Check(f"kernel {name!r}", "not registered: run `make venv`", False)
    return Check(f"kernel {name!r}", spec.argv[0], True)


def environment_report() -> list[Check]:
    """One :class:`Check` per requirement; CUDA is reported but optional."""
    from videonas_lite.runner import KERNEL_NAME

    checks = [Check("python", platform.python_version(), platform.python_version().startswith("3.11"))]
    checks += [_module(m) for m in REQUIRED_MODULES]
    checks += [_cuda(), _dot(), _kernel(KERNEL_NAME)]
    return checks
