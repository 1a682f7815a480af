"""The course map and the course's timetable, for notebook 00 (overview).

:func:`course_map` draws the pipeline of a differentiable architecture search for video, top to bottom, each
stage naming the notebook that teaches it. :func:`notebook_times` reads how long each notebook took on each
profile (``benchmarks/results/notebook_times.json``) and :func:`live_or_homework` turns those seconds into a
plan for a class: what runs live, what is homework.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import graphviz
import pandas as pd

__all__ = [
    "LIVE_LIMIT_S",
    "NOT_MEASURED",
    "PIPELINE",
    "TIMES_PATH",
    "course_map",
    "live_or_homework",
    "notebook_times",
]

# (stage, what it does, the notebooks that teach it)
PIPELINE: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("video", "mp4 files in UCF101's layout", ("01_segment_sampling",)),
    ("TSN sampler", "Ns segments x Nr frames, in order", ("01_segment_sampling",)),
    ("supernet of mixed edges", "(2+1)D ops mixed by softmax(α) on every edge",
     ("02_2plus1d_operators", "03_mixed_edges_and_cells")),
    ("bilevel updates", "w on L_train, α on L_val (Peng Eqs. 1-5)", ("04_bilevel_second_order", "05_search")),
    ("alphas α", "one softmax per edge, after the search", ("05_search",)),
    ("derived cell", "top-2 edges per node, strongest non-Zero op", ("06_derive_and_render",)),
    ("retrain", "the derived network from scratch", ("07_retrain_and_evaluate", "08_pvnas")),
    ("evaluation", "accuracy against baselines (Peng Tab. 2, PV-NAS Tab. 3)", ("07_retrain_and_evaluate", "08_pvnas")),
)  # fmt: skip
"""The stages of the pipeline, top to bottom, each with a line on what it does and the notebook(s) teaching it."""

TIMES_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "notebook_times.json"
"""Where ``make reproduce`` records how long each notebook took, per profile."""
NOT_MEASURED = "not measured yet"
"""What a cell of the timetable says where a profile, or the file, has no time for a notebook."""
LIVE_LIMIT_S = 120.0
"""A notebook that runs in at most this many seconds can run live in class; a longer one is homework."""


def course_map(size: str = "6.5,9") -> graphviz.Digraph:
    """The pipeline of :data:`PIPELINE` drawn top to bottom; ``size`` (inches, graphviz's ``size``) caps the drawing."""
    dot = graphviz.Digraph(
        "course",
        graph_attr={"rankdir": "TB", "size": size, "nodesep": "0.3", "ranksep": "0.3"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "white", "fontname": "Helvetica"},
        edge_attr={"arrowsize": "0.7"},
    )
    for i, (stage, does, notebooks) in enumerate(PIPELINE):
        names = "<br/>".join(f"<i>{nb}</i>" for nb in notebooks)
        label = f'<<b>{stage}</b><br/><font point-size="11">{does}</font><br/><font point-size="11">{names}</font>>'
        dot.node(str(i), label, fillcolor="lightblue" if i in (0, len(PIPELINE) - 1) else "white")
        if i:
            dot.edge(str(i - 1), str(i))
    return dot


def notebook_times(
    notebooks: Sequence[str], profiles: Sequence[str] = ("ci", "default"), path: str | os.PathLike | None = None
) -> pd.DataFrame:
    """Seconds each notebook took on each profile, as recorded in ``path`` (default :data:`TIMES_PATH`).

    The file holds ``{profile: {"notebooks": {name: seconds, ...}, "total_s": ..., ...} or null, ...}``. A
    missing file, a profile that is absent or ``null``, or a notebook without a time gives :data:`NOT_MEASURED`
    in its cell (never an error): the overview must run before anything has been measured. A row ``total``
    sums each profile's measured notebooks (its ``total_s`` when the file gives one). ``attrs["machine"]`` maps
    each profile to the machine its times were measured on (``None`` where the file does not say).
    """
    path = Path(path) if path is not None else TIMES_PATH
    try:
        recorded = json.loads(path.read_text())
    except FileNotFoundError:
        recorded = {}
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); expected {{profile: {{'notebooks': {{...}}}}}}") from err
    if not isinstance(recorded, Mapping):
        raise ValueError(f"{path}: expected a JSON object keyed by profile, got {type(recorded).__name__}")
    table: dict[str, list] = {}
    machines: dict[str, str | None] = {}
    for profile in profiles:
        entry = recorded.get(profile) or {}
        machines[profile] = entry.get("machine")
        times = entry.get("notebooks") or {}
        column = [_seconds(times.get(nb)) for nb in notebooks]
        measured = [s for s in column if s != NOT_MEASURED]
        total = _seconds(entry.get("total_s")) if entry.get("total_s") is not None else None
        if total is None or total == NOT_MEASURED:
            total = round(sum(measured), 1) if measured and len(measured) == len(column) else NOT_MEASURED
        table[f"{profile} (s)"] = [*column, total]
    frame = pd.DataFrame(table, index=pd.Index([*notebooks, "total"], name="notebook"))
    frame.attrs["machine"] = machines
    return frame


def _seconds(value) -> float | str:
    if value is None:
        return NOT_MEASURED
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return NOT_MEASURED
    return round(seconds, 1) if math.isfinite(seconds) and seconds >= 0 else NOT_MEASURED


def live_or_homework(times: pd.DataFrame, limit_s: float = LIVE_LIMIT_S) -> pd.DataFrame:
    """Per notebook and profile of :func:`notebook_times`: ``live`` (at most ``limit_s`` seconds), ``homework``
    (longer), or :data:`NOT_MEASURED`. The ``total`` row is dropped."""
    if limit_s <= 0:
        raise ValueError(f"limit_s must be a positive number of seconds, got {limit_s}")

    def plan(value) -> str:
        if value == NOT_MEASURED:
            return NOT_MEASURED
        return "live" if float(value) <= limit_s else "homework"

    rows = times.drop(index="total", errors="ignore")
    return rows.apply(lambda column: column.map(plan)).rename(columns=lambda c: c.replace(" (s)", ""))
