"""A search run's records, read and checked: the per-epoch ``records.json`` as arrays the figures draw.

Taught by notebook 05. :func:`~videonas_lite.train.search.run_search` appends one record per epoch to
``records.json``; each holds the losses, the accuracies and the op weights ``softmax(alpha)`` of every cell
kind (PV-NAS Eq. 2; Peng Eq. 5 is the gradient that moves the alphas), an ``(edges x ops)`` list per kind.
Everything here reads those records only, so a finished run can be replayed without searching again:

* :func:`load_records` reads them (a list, a ``records.json``, its run folder, or a reference run's
  ``{"provenance": ..., "records": [...]}``) and rejects anything else with a message saying what it expected.
* :func:`alpha_history` stacks the op weights into one ``(epochs, edges, ops)`` array per cell kind, an
  :class:`AlphaHistory`, with the op names (column order) and the edge labels (row order,
  :func:`~videonas_lite.nas.cells.edge_list`).
* :func:`op_mass` and :func:`parameter_free_mass` sum the weight a set of ops holds, per kind and epoch.

The figures of these records are in :mod:`videonas_lite.viz.alphas`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from videonas_lite.nas import ops
from videonas_lite.nas.genotype import PARAMETER_FREE, nodes_for_edges
from videonas_lite.nas.networks import PVNAS_PLAN, peng_search_net
from videonas_lite.viz.cells import edge_labels

__all__ = [
    "AlphaHistory", "Records", "alpha_history", "as_history", "known_op_names", "load_records", "op_mass",
    "parameter_free_mass",
]  # fmt: skip


def load_records(records: Sequence[Mapping] | str | os.PathLike) -> list[dict]:
    """The per-epoch records of a search: given as a list, or read from ``records.json`` (or its run folder)."""
    if isinstance(records, str | os.PathLike):
        path = Path(records)
        path = path / "records.json" if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no records.json of a search run (train/search.py writes one per run)")
        records = json.loads(path.read_text())
    if isinstance(records, Mapping) and "records" in records:  # a reference run: {"provenance": ..., "records": [...]}
        records = records["records"]
    if not isinstance(records, Sequence) or not all(isinstance(r, Mapping) for r in records):
        raise ValueError("expected the records of a search run: a list of per-epoch dicts (records.json)")
    if not records:
        raise ValueError("expected at least one epoch record of a search run, got none (did the search run an epoch?)")
    return [dict(r) for r in records]


def known_op_names() -> dict[str, tuple[str, ...]]:
    """The op names (alpha column order) of every cell kind of the package's search networks.

    Peng's ``normal`` / ``reduce`` (eight ops of Table 1) and PV-NAS's ``S-NC``, ``S-RC`` (O_s), ``T-NC``,
    ``T-RC`` (O_t), read off the network builders.
    """
    names = dict(peng_search_net(2, channels=2, nodes=1).op_names)
    names.update({kind: ops.op_names(op_set) for kind, op_set, _ in PVNAS_PLAN})
    return names


@dataclass(frozen=True)
class AlphaHistory:
    """The op weights of a run: ``weights[kind][e, i, j]`` is op ``j``'s weight on edge ``i`` after record ``e``."""

    epochs: np.ndarray  # (E,) the records' epoch numbers
    weights: dict[str, np.ndarray]  # kind -> (E, M, |O|)
    op_names: dict[str, tuple[str, ...]]  # kind -> column names
    edge_labels: tuple[str, ...]  # M row names
    nodes: int

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(self.weights)


def alpha_history(
    records: Sequence[Mapping] | str | os.PathLike, op_names: Mapping[str, Sequence[str]] | None = None
) -> AlphaHistory:
    """Stack each record's ``alpha_softmax`` into one ``(epochs, edges, ops)`` array per cell kind.

    ``op_names`` names the columns of each kind; by default those of :func:`known_op_names`.
    """
    records = load_records(records)
    missing = [i for i, r in enumerate(records) if not isinstance(r.get("alpha_softmax"), Mapping)]
    if missing:
        raise ValueError(
            f"records {missing} have no 'alpha_softmax' (expected {{cell kind: [[weight per op] per edge]}}, "
            "as train/search.py writes each epoch)"
        )
    kinds = list(records[0]["alpha_softmax"])
    if not kinds or any(list(r["alpha_softmax"]) != kinds for r in records):
        raise ValueError(f"expected the same non-empty set of cell kinds in every record, got {kinds} in the first")
    names = dict(op_names) if op_names is not None else known_op_names()
    weights, columns = {}, {}
    for kind in kinds:
        try:
            array = np.asarray([r["alpha_softmax"][kind] for r in records], dtype=np.float64)
        except (ValueError, TypeError):
            array = np.empty(0)
        if array.ndim != 3:
            raise ValueError(
                f"alpha_softmax[{kind!r}]: expected an edges x ops table of numbers, alike in every record"
            )
        if kind not in names:
            raise ValueError(f"cell kind {kind!r} has no op names; pass op_names={{{kind!r}: [...]}}")
        if len(names[kind]) != array.shape[2]:
            raise ValueError(f"cell kind {kind!r}: {array.shape[2]} weights per edge, but {len(names[kind])} op names")
        weights[kind], columns[kind] = array, tuple(names[kind])
    edges = {a.shape[1] for a in weights.values()}
    if len(edges) != 1:
        raise ValueError(f"expected one edge count for all cell kinds, got {sorted(edges)}")
    nodes = nodes_for_edges(edges.pop(), "alpha_softmax")
    epochs = np.asarray([r.get("epoch", i) for i, r in enumerate(records)])
    return AlphaHistory(epochs, weights, columns, tuple(edge_labels(nodes)), nodes)


Records = Sequence[Mapping] | str | os.PathLike | AlphaHistory
"""What the figures accept: records (a list, a records.json, its run folder) or their history."""


def as_history(records: Records) -> AlphaHistory:
    """``records`` as an :class:`AlphaHistory` (read and stacked by :func:`alpha_history` unless it is one)."""
    return records if isinstance(records, AlphaHistory) else alpha_history(records)


def op_mass(records: Records, chosen: Callable[[str], bool]) -> dict[str, np.ndarray]:
    """Per cell kind and epoch, the op weight on the ops for which ``chosen(name)`` holds, averaged over edges."""
    history = as_history(records)
    out = {}
    for kind, w in history.weights.items():
        cols = [j for j, name in enumerate(history.op_names[kind]) if chosen(name)]
        out[kind] = w[:, :, cols].sum(axis=2).mean(axis=1)
    return out


def parameter_free_mass(records: Records) -> dict[str, np.ndarray]:
    """Per cell kind and epoch, the op weight on parameter-free ops (pools, skips), averaged over edges.

    The continuous counterpart of the genotype's ``parameter_free_share``: the drift PV-NAS Sec. 3.3 (Fig. 4)
    warns of shows here before it shows in the derived cell. Uniform weights give ``#free ops / |O|``.
    """
    return op_mass(records, lambda name: name in PARAMETER_FREE)
