"""Relative error of the finite-difference hypergradient (Peng Eq. 5) against the exact one, for several r.

Both differences of nas/bilevel.py: central (DARTS, two perturbed passes) and forward (one, reusing the
virtual step's gradient).

The problem is videonas_lite.nas.tiny_problem's, as in tests/test_bilevel.py (float64, 2 channels, 2 nodes,
2 clips of 3x3x9x9, alphas drawn from N(0, 1)). Writes benchmarks/results/fd_error.json.
Run: .venv/bin/python benchmarks/fd_error.py
"""

from __future__ import annotations

import json

import torch
from harness import RESULTS

from videonas_lite.nas.bilevel import exact_second_order, second_order
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.nas.tiny_problem import STEP, relative_error, tiny_bilevel_problem

RADII = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)


def main() -> None:
    torch.set_num_threads(1)
    results = {}
    for make in (peng_search_net, pvnas_search_net):
        net, train, val, buffers = tiny_bilevel_problem(make)
        exact = exact_second_order(net, train, val, STEP, buffers)
        results[make.__name__] = row = {
            difference: {
                str(r): relative_error(second_order(net, train, val, STEP, buffers, r=r, difference=difference), exact)
                for r in RADII
            }
            for difference in ("central", "forward")
        }
        for difference, errors in row.items():
            print(make.__name__, difference, {r: f"{e:.1e}" for r, e in errors.items()})
    out = RESULTS / "fd_error.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
