"""A longer reference search of the default recipe, committed so a class without time can replay it.

    .venv/bin/python benchmarks/reference_search.py --epochs 40

writes ``benchmarks/results/reference-search/`` (``checkpoint.pt`` and ``records.json``). Its
``records.json`` is ``{"provenance": {command, commit, wall_s, machine, config}, "records": [...]}``;
``viz.alphas.load_records`` reads either form. Replay it in notebook 05 with
``RUN_DIR = "benchmarks/results/reference-search"``, ``RESUME = True`` and ``EPOCHS`` as recorded.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

from videonas_lite.data.synthetic import ensure_dataset
from videonas_lite.profiles import get_profile
from videonas_lite.train.search import SearchConfig, run_search

OUT = Path(__file__).resolve().parent / "results" / "reference-search"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--space", default="peng")
    parser.add_argument("--order", default="first")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    profile = get_profile(args.profile)
    config = SearchConfig.from_profile(profile, args.space, args.order, epochs=args.epochs)
    if profile.cpu_threads and config.torch_device().type == "cpu":
        torch.set_num_threads(profile.cpu_threads)
    path = args.out / "records.json"
    if path.is_file() and "provenance" in json.loads(path.read_text()):
        print(f"{path} holds a finished reference search; delete the folder to make a new one")
        return 0
    root = ensure_dataset(profile.dataset_dir(), profile.synth_config())
    start = time.perf_counter()
    records = run_search(config, root, args.out, resume=True)
    wall = time.perf_counter() - start
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip()  # fmt: skip
    provenance = {
        "command": "python benchmarks/reference_search.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "commit": commit, "wall_s": round(wall, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "profile": profile.name, "config": dataclasses.asdict(config),
    }  # fmt: skip
    path.write_text(json.dumps({"provenance": provenance, "records": records}, indent=1) + "\n")
    last = records[-1]
    print(f"{len(records)} epochs in {wall / 60:.1f} min; alpha-half accuracy {last['val_acc']:.3f}; {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
