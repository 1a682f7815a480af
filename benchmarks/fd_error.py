"""Relative error of the finite-difference hypergradient (Peng Eq. 5) against the exact one, for several r.

Both differences of nas/bilevel.py: central (DARTS, two perturbed passes) and forward (one, reusing the
virtual step's gradient).

The networks and batches are those of tests/test_bilevel.py (float64, 2 channels, 2 nodes, 2 clips of
3x3x9x9, alphas drawn from N(0, 1)). Writes benchmarks/results/fd_error.json.
Run: .venv/bin/python benchmarks/fd_error.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_bilevel import STEP, _rel, _setup  # noqa: E402

from videonas_lite.nas import bilevel as B  # noqa: E402
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net  # noqa: E402

RADII = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)


def main() -> None:
    torch.set_num_threads(1)
    results = {}
    for make in (peng_search_net, pvnas_search_net):
        net, train, val, buffers = _setup(make)
        exact = B.exact_second_order(net, train, val, STEP, buffers)
        results[make.__name__] = row = {
            difference: {
                str(r): _rel(B.second_order(net, train, val, STEP, buffers, r=r, difference=difference), exact)
                for r in RADII
            }
            for difference in ("central", "forward")
        }
        for difference, errors in row.items():
            print(make.__name__, difference, {r: f"{e:.1e}" for r, e in errors.items()})
    out = ROOT / "benchmarks" / "results" / "fd_error.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
