"""The genotype: the discrete cells a search derives, as a frozen type with a versioned JSON file.

Derivation (Peng Sec. 3, Fig. 2; PV-NAS Sec. 3.2.1; DARTS Sec. 2.4), taught in notebook
06_derive_and_render: on every edge score each op by its mixing weight ``softmax(alpha)`` (PV-NAS Eq. 2)
and take the strongest op other than ``Zero``; every intermediate node keeps the two incoming edges whose
such scores are largest, each with that op. Ties go to the op listed first in the paper's table and to
the edge from the earlier state. A cell is a tuple of ``(op, source state, target node)`` sorted by
target, then source; states ``0, 1`` are the cell inputs ``c_{k-2}, c_{k-1}``, state ``2 + i`` is node ``i``
(:func:`~videonas_lite.nas.cells.edge_list`).

A :class:`Genotype` holds one such cell per cell kind of a search space: Peng's ``normal`` and ``reduce``
(eight ops, Table 1), PV-NAS's ``S-NC``, ``S-RC`` (O_s) and ``T-NC``, ``T-RC`` (O_t). Ops are named as the
papers name them (the keys of :mod:`videonas_lite.nas.ops`; an alias that :func:`~videonas_lite.nas.ops.canonical`
knows, such as ``SepConv_3``, is read as the paper's name). The file ``genotype.json``::

    {"format": "videonas-genotype", "version": 1, "space": "peng", "nodes": 4,
     "cells": {"normal": [["DilConv_3", 0, 0], ["MPool_3", 1, 0], ...], "reduce": [...]},
     "provenance": {...}}                                    # optional, free-form

Search records (``records.json``) store only the ``cells`` object (:meth:`Genotype.to_record`), which
:meth:`Genotype.from_record` reads back; :func:`from_run` derives the genotype of a run folder's epoch.
Every malformed genotype raises :class:`GenotypeError`, one line naming the file and the field.

About 400 lines, over the package's ~300: the type, the rule that derives it and the checks of its file
are one concept, and the checks are most of the length (one branch per error a user can meet).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from videonas_lite.nas import ops
from videonas_lite.nas.cells import edge_list, num_edges

__all__ = [
    "FORMAT", "PARAMETER_FREE", "VERSION", "Cell", "Edge", "Genotype", "GenotypeError", "derive", "derive_cell",
    "derive_genotype", "from_run", "infer_space", "kept_edge_bars", "kept_op_weights", "mixed_op_count",
    "nodes_for_edges", "parameter_free_share", "space_cells",
]  # fmt: skip

FORMAT, VERSION = "videonas-genotype", 1
Edge = tuple[str, int, int]
Cell = list[Edge]
SPACES = ("peng", "pvnas")
FIELDS = ("format", "version", "space", "nodes", "cells", "provenance")


class GenotypeError(ValueError):
    """A genotype that is not one: the message names the file (or ``genotype``) and the field."""


def _parameter_free_ops() -> frozenset[str]:
    """The ops of every registry whose stride-1 module has no parameters (Zero aside: no op at all).

    Read off the modules, not typed: the pools, ``Skip_Con`` and ``Identity``. At stride 2 a skip becomes a
    factorized reduce with 1x1x1 convs; PV-NAS Sec. 3.3 still counts skip connections as parameter-free.
    """
    names = {name for op_set in ops.OP_SETS.values() for name in op_set if name not in ops.ZERO_NAMES}
    return frozenset(n for n in names if not any(True for _ in ops.make_op(n, 4, stride=1, affine=True).parameters()))


PARAMETER_FREE: frozenset[str] = _parameter_free_ops()
"""Ops without parameters (PV-NAS Sec. 3.3: a collapsing search picks mostly these)."""


@functools.cache
def space_cells(space: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    """Cell kind -> (op names, reduces?) of a search space, read off the network builders of nas/networks.py."""
    from videonas_lite.nas.networks import peng_search_net, pvnas_search_net

    builders = {"peng": peng_search_net, "pvnas": pvnas_search_net}
    if space not in builders:
        raise GenotypeError(f"genotype: space: unknown search space {space!r} (expected one of {', '.join(SPACES)})")
    plan = builders[space](2, channels=2, nodes=1).plan
    return {spec.kind: (spec.op_names, spec.reduction) for spec in plan}


def infer_space(kinds: Sequence[str], where: str = "genotype") -> str:
    """The search space whose cell kinds are exactly ``kinds``."""
    for space in SPACES:
        if set(kinds) == set(space_cells(space)):
            return space
    known = "; ".join(f"{s}: {', '.join(space_cells(s))}" for s in SPACES)
    raise GenotypeError(f"{where}: cells: cell kinds {sorted(kinds)} match no search space ({known})")


def nodes_for_edges(edges: int, where: str = "genotype") -> int:
    """The ``n`` with ``M = (n + 1)(n + 2) / 2 - 1 == edges`` (Peng Sec. 2.1)."""
    n = 1
    while num_edges(n) < edges:
        n += 1
    if num_edges(n) != edges:
        raise GenotypeError(f"{where}: {edges} edges is no cell's edge count (M = (n+1)(n+2)/2 - 1: 2, 5, 9, 14, ...)")
    return n


def derive_cell(op_weights: torch.Tensor | Sequence, op_names: Sequence[str], nodes: int, keep: int = 2) -> Cell:
    """The discrete cell of one table of op weights ``softmax(alpha)`` (``M x |O|``, rows in edge_list order).

    Peng Sec. 3 / PV-NAS Sec. 3.2.1: per edge the strongest non-Zero op; per node the ``keep`` edges whose
    strongest op weighs most. Ties: the op listed first, the edge from the earlier state.
    """
    op_weights = torch.as_tensor(op_weights).detach().cpu()
    if tuple(op_weights.shape) != (num_edges(nodes), len(op_names)):
        shape = (num_edges(nodes), len(op_names))
        raise ValueError(f"expected op weights of shape {shape}, got {tuple(op_weights.shape)}")
    nonzero = [k for k, name in enumerate(op_names) if name not in ops.ZERO_NAMES]
    incoming: dict[int, list[tuple[float, str, int]]] = {i: [] for i in range(nodes)}
    for row, (src, node) in zip(op_weights.tolist(), edge_list(nodes), strict=True):
        k = max(nonzero, key=lambda j: row[j])  # max returns the first of equals: the op listed first
        incoming[node].append((row[k], op_names[k], src))
    # sorted() is stable: of equal scores the edge from the earlier state stays first
    kept = {node: sorted(edges, key=lambda t: -t[0])[:keep] for node, edges in incoming.items()}
    cell = [(op, src, node) for node, edges in kept.items() for _, op, src in edges]
    return sorted(cell, key=lambda e: (e[2], e[1]))


def derive_genotype(
    op_weights: Mapping[str, torch.Tensor | Sequence],
    space: str | None = None,
    provenance: Mapping | None = None,
    where: str = "op weights",
) -> Genotype:
    """The genotype of per-kind op weights ``softmax(alpha)`` (a search record's ``alpha_softmax``)."""
    if not isinstance(op_weights, Mapping) or not op_weights:
        raise GenotypeError(f"{where}: expected an object of cell kind -> op weights (edges x ops)")
    space = space or infer_space(list(op_weights), where)
    if space not in SPACES:
        raise GenotypeError(f"{where}: space: unknown search space {space!r} (expected one of {', '.join(SPACES)})")
    cells = space_cells(space)
    if set(op_weights) != set(cells):
        raise GenotypeError(f"{where}: cell kinds {sorted(op_weights)}, but space {space} has {', '.join(cells)}")
    derived, nodes = {}, None
    for kind, w in op_weights.items():
        try:
            table = torch.as_tensor(w, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            table = torch.empty(0)
        if table.dim() != 2 or table.shape[1] != len(cells[kind][0]):
            raise GenotypeError(f"{where}.{kind}: expected an edges x {len(cells[kind][0])} table of op weights "
                                f"(ops {', '.join(cells[kind][0])}), got shape {tuple(table.shape)}")  # fmt: skip
        nodes = nodes or nodes_for_edges(table.shape[0], f"{where}.{kind}")
        if table.shape[0] != num_edges(nodes):
            raise GenotypeError(f"{where}.{kind}: {table.shape[0]} edges, the other kinds have {num_edges(nodes)}")
        derived[kind] = derive_cell(table, cells[kind][0], nodes)
    return Genotype(space, nodes, derived, provenance)


def from_run(run: str | os.PathLike, epoch: int | None = None) -> Genotype:
    """The genotype of a search run's epoch (default: the last, or DARTS-ES's choice when the run was stopped
    early), derived again from its recorded alpha softmax.

    Reads ``RUN/records.json`` as :func:`~videonas_lite.train.search.run_search` writes it (or the
    ``{"provenance": ..., "records": [...]}`` of a reference run), else ``RUN/checkpoint.pt`` (its records; at
    its own epoch the saved alphas themselves). ``provenance`` says which run, file and epoch.
    """
    run = Path(run)
    if not run.is_dir():
        raise GenotypeError(f"{run}: no such run folder")
    alphas, saved_epoch, source = None, None, run / "records.json"
    if source.is_file():
        try:
            data = json.loads(source.read_text())
        except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise GenotypeError(f"{source}: not JSON or not readable ({getattr(err, 'msg', err)})") from None
        if isinstance(data, Mapping) and "records" in data:  # a reference run: {"provenance": ..., "records": [...]}
            data = data["records"]
    elif (run / "checkpoint.pt").is_file():
        source = run / "checkpoint.pt"
        try:
            state = torch.load(source, weights_only=True, map_location="cpu")
            data, saved_epoch = json.loads(state["records"]), state["epoch"]
            alphas = {k.removeprefix("alphas."): v.float().softmax(-1) for k, v in state["model"].items()
                      if k.startswith("alphas.")}  # fmt: skip
        except Exception as err:  # torch.load raises many kinds; all mean the same here
            first = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
            raise GenotypeError(f"{source}: not a checkpoint of a search run ({first})") from None
    else:
        raise GenotypeError(f"{run}: no records.json or checkpoint.pt (train/search.py writes both into a run folder)")
    if not isinstance(data, list) or not data or not all(isinstance(r, Mapping) for r in data):
        raise GenotypeError(f"{source}: records: expected a non-empty array of per-epoch objects")
    epochs = [r.get("epoch", i) for i, r in enumerate(data)]
    stopped = data[-1].get("early_stop")
    if epoch is None and isinstance(stopped, Mapping) and stopped.get("chosen_epoch") in epochs:
        epoch = stopped["chosen_epoch"]  # DARTS-ES stopped the run: its chosen epoch (train/search.py)
    i = len(data) - 1 if epoch is None else epochs.index(epoch) if epoch in epochs else None
    if i is None:
        raise GenotypeError(f"{source}: epoch: no record of epoch {epoch} (epochs {epochs[0]}..{epochs[-1]})")
    op_weights = alphas if alphas is not None and epochs[i] == saved_epoch else data[i].get("alpha_softmax")
    provenance = {"run": str(run), "read": source.name, "epoch": epochs[i]}
    if "val_acc" in data[i]:
        provenance["alpha_half_accuracy"] = data[i]["val_acc"]
    return derive_genotype(op_weights, None, provenance, f"{source}: records[{i}].alpha_softmax")


def derive(model) -> Genotype:
    """The genotype of a search network (nas/networks.py): :func:`derive_cell` on each kind's ``softmax(alpha)``."""
    space = infer_space(list(model.op_names))
    for kind, (names, _) in space_cells(space).items():
        if tuple(model.op_names[kind]) != names:
            raise GenotypeError(f"model: cell kind {kind!r} searches ops {model.op_names[kind]}, not {space}'s {names}")
    return derive_genotype(model.op_weights(), space)


@dataclass(frozen=True, eq=False)
class Genotype(Mapping[str, tuple[Edge, ...]]):
    """One discrete cell per cell kind (kind -> tuple of ``(op, source state, target node)``), validated.

    A read-only mapping: ``genotype["normal"]``, ``genotype.items()``. Two genotypes are equal when their
    space, node count and cells are (``provenance``, where it came from, is not compared).
    """

    space: str
    nodes: int
    cells: Mapping[str, Sequence[Edge]]
    provenance: Mapping[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        cells = _check(self.space, self.nodes, self.cells, "genotype")
        object.__setattr__(self, "cells", MappingProxyType(cells))
        if self.provenance is not None:
            object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    def __getitem__(self, kind: str) -> tuple[Edge, ...]:
        return self.cells[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cells)

    def __len__(self) -> int:
        return len(self.cells)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Genotype):
            return NotImplemented
        return (self.space, self.nodes, dict(self.cells)) == (other.space, other.nodes, dict(other.cells))

    def __hash__(self) -> int:
        return hash((self.space, self.nodes, tuple(self.cells.items())))

    def reduction(self, kind: str) -> bool:
        """Whether cells of ``kind`` halve the resolution (Peng's ``reduce``; PV-NAS's ``S-RC``, ``T-RC``)."""
        return space_cells(self.space)[kind][1]

    def to_record(self) -> dict[str, list[list]]:
        """The ``cells`` object alone, as ``records.json`` stores it: kind -> ``[[op, source, target], ...]``."""
        return {kind: [list(edge) for edge in cell] for kind, cell in self.cells.items()}

    def to_dict(self) -> dict[str, Any]:
        """The versioned JSON object (module docstring)."""
        out = dict(format=FORMAT, version=VERSION, space=self.space, nodes=self.nodes, cells=self.to_record())
        return out if self.provenance is None else {**out, "provenance": dict(self.provenance)}

    def to_json(self) -> str:
        """The JSON text of :meth:`to_dict`, one edge a line."""
        lines = [
            f'    "{kind}": [\n' + ",\n".join(f"      {json.dumps(list(e))}" for e in cell) + "\n    ]"
            for kind, cell in self.cells.items()
        ]
        head = json.dumps({k: v for k, v in self.to_dict().items() if k not in ("cells", "provenance")})[1:-1]
        tail = "" if self.provenance is None else f',\n  "provenance": {json.dumps(dict(self.provenance))}'
        return "{\n  " + head + ',\n  "cells": {\n' + ",\n".join(lines) + "\n  }" + tail + "\n}\n"

    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_json` to ``path``."""
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_dict(cls, data: Any, where: str = "genotype") -> Genotype:
        """Parse the versioned JSON object; ``where`` (a file name) starts every error message."""
        if not isinstance(data, Mapping):
            raise GenotypeError(f"{where}: expected a JSON object ({', '.join(FIELDS[:5])}), got {_kind(data)}")
        extra = [k for k in data if k not in FIELDS]
        if extra:
            raise GenotypeError(f"{where}: unknown field {extra[0]!r} (expected {', '.join(FIELDS)})")
        for key in FIELDS[:5]:
            if key not in data:
                raise GenotypeError(f"{where}: missing field {key!r}")
        if data["format"] != FORMAT:
            raise GenotypeError(f"{where}: format: expected {FORMAT!r}, got {data['format']!r}")
        if not _is_int(data["version"]):
            raise GenotypeError(f"{where}: version: expected an integer, got {_kind(data['version'])}")
        if data["version"] != VERSION:
            raise GenotypeError(f"{where}: version: unsupported format version {data['version']} (expected {VERSION})")
        if not isinstance(data["space"], str):
            raise GenotypeError(f"{where}: space: expected a string, got {_kind(data['space'])}")
        if not _is_int(data["nodes"]):
            raise GenotypeError(f"{where}: nodes: expected an integer, got {_kind(data['nodes'])}")
        provenance = data.get("provenance")
        if provenance is not None and not isinstance(provenance, Mapping):
            raise GenotypeError(f"{where}: provenance: expected an object, got {_kind(provenance)}")
        cells = _check(data["space"], data["nodes"], _parse_cells(data["cells"], where), where)
        return cls(data["space"], data["nodes"], cells, provenance)

    @classmethod
    def from_json(cls, text: str, where: str = "genotype") -> Genotype:
        """Parse JSON text (:meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise GenotypeError(f"{where}: not JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
        return cls.from_dict(data, where)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Genotype:
        """Read a ``genotype.json`` file."""
        try:
            text = Path(path).read_text()
        except UnicodeDecodeError:
            raise GenotypeError(f"{path}: not JSON (not UTF-8 text)") from None
        except OSError as err:
            raise GenotypeError(f"{path}: cannot read the genotype file ({err.strerror or err})") from None
        return cls.from_json(text, str(path))

    @classmethod
    def from_record(cls, record: Any, space: str | None = None, where: str = "record") -> Genotype:
        """A search record's ``genotype`` (kind -> ``[[op, source, target], ...]``), or the versioned object.

        The space comes from the cell kinds unless given; the node count is the largest target plus one.
        """
        if isinstance(record, Mapping) and "format" in record:
            return cls.from_dict(record, where)
        cells = _parse_cells(record, where)
        space = space or infer_space(list(cells), where)
        nodes = 1 + max((t for cell in cells.values() for _, _, t in cell), default=0)
        return cls(space, nodes, _check(space, nodes, cells, where))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _parse_cells(cells: Any, where: str) -> dict[str, list[Edge]]:
    """JSON types of the ``cells`` object: kind -> array of ``[string, integer, integer]``."""
    if not isinstance(cells, Mapping):
        raise GenotypeError(f"{where}: cells: expected an object of cell kind -> edges, got {_kind(cells)}")
    out = {}
    for kind, cell in cells.items():
        if not isinstance(cell, list | tuple):
            raise GenotypeError(f"{where}: cells.{kind}: expected an array of edges, got {_kind(cell)}")
        out[kind] = []
        for i, edge in enumerate(cell):
            if not (isinstance(edge, list | tuple) and len(edge) == 3 and isinstance(edge[0], str)
                    and _is_int(edge[1]) and _is_int(edge[2])):  # fmt: skip
                got = json.dumps(edge, default=str)
                raise GenotypeError(f"{where}: cells.{kind}[{i}]: expected [op, source state, target node] "
                                    f"as [string, integer, integer], got {got}")  # fmt: skip
            out[kind].append((ops.canonical(edge[0]), edge[1], edge[2]))
    return out


def _check(space: str, nodes: int, cells: Mapping[str, Sequence[Edge]], where: str) -> dict[str, tuple[Edge, ...]]:
    """The semantic rules; returns the cells in the space's kind order, each sorted by (target, source)."""
    if space not in SPACES:
        raise GenotypeError(f"{where}: space: unknown search space {space!r} (expected one of {', '.join(SPACES)})")
    if not _is_int(nodes) or nodes < 1:
        raise GenotypeError(f"{where}: nodes: expected an integer >= 1, got {nodes!r}")
    kinds = space_cells(space)
    if not isinstance(cells, Mapping):
        raise GenotypeError(f"{where}: cells: expected a mapping of cell kind -> edges, got {type(cells).__name__}")
    for kind in cells:
        if kind not in kinds:
            raise GenotypeError(f"{where}: cells: extra cell kind {kind!r} (space {space} has {', '.join(kinds)})")
    out = {}
    for kind, (op_names, _) in kinds.items():
        if kind not in cells:
            raise GenotypeError(f"{where}: cells: missing cell kind {kind!r} (space {space} has {', '.join(kinds)})")
        edges = [tuple(e) for e in cells[kind]]
        for i, (op, src, node) in enumerate(edges):
            at = f"{where}: cells.{kind}[{i}]"
            if op in ops.ZERO_NAMES:
                raise GenotypeError(f"{at}: {op!r} is no op of a derived edge (it keeps the strongest non-Zero op)")
            if op not in op_names:
                allowed = ", ".join(n for n in op_names if n not in ops.ZERO_NAMES)
                raise GenotypeError(f"{at}: unknown op {op!r} for a {kind} cell (expected one of {allowed})")
            if not 0 <= node < nodes:
                raise GenotypeError(f"{at}: target node {node} does not exist (nodes 0..{nodes - 1})")
            if not 0 <= src < 2 + node:
                raise GenotypeError(f"{at}: source state {src} does not exist yet at node {node} "
                                    f"(expected 0..{1 + node}: 0, 1 the inputs, 2 + i node i)")  # fmt: skip
        for node in range(nodes):
            sources = [src for _, src, n in edges if n == node]
            if len(sources) != 2:
                raise GenotypeError(f"{where}: cells.{kind}: node {node} has {len(sources)} inputs (expected 2)")
            if sources[0] == sources[1]:
                raise GenotypeError(f"{where}: cells.{kind}: node {node} takes both inputs from state {sources[0]} "
                                    "(expected two different states)")  # fmt: skip
        out[kind] = tuple(sorted(((str(op), int(s), int(t)) for op, s, t in edges), key=lambda e: (e[2], e[1])))
    return out


def mixed_op_count(weights: Sequence[Sequence[float]]) -> int:
    """``|O|`` of one cell kind's ``softmax(alpha)`` rows: the ops that weigh anything on some edge.

    Every op, ``Zero`` included, as the papers search; one fewer in a search with ``zero_op=False``, which holds
    ``Zero``'s weight at exactly 0 (nas/networks.py). The bar of :func:`kept_op_weights` is ``2 / |O|``.
    """
    columns = zip(*weights, strict=True)
    return sum(any(float(w) != 0 for w in column) for column in columns)


def kept_op_weights(
    weights: Mapping[str, Sequence[Sequence[float]]], genotype: Mapping[str, Sequence[Edge]],
    op_names: Mapping[str, Sequence[str]],
) -> dict[str, list[float]]:  # fmt: skip
    """Per cell kind: the softmax weight of the chosen op on every edge the derived cell keeps.

    A search that learned (README) has each of them at least ``2 / |O|``, twice the uniform weight
    (:func:`kept_edge_bars` pairs each with its edge's bar).
    """
    out = {}
    for kind, cell in genotype.items():
        edges = edge_list(max(node for _, _, node in cell) + 1)
        names = list(op_names[kind])
        out[kind] = [float(weights[kind][edges.index((src, node))][names.index(op)]) for op, src, node in cell]
    return out


def kept_edge_bars(
    weights: Mapping[str, Sequence[Sequence[float]]], genotype: Mapping[str, Sequence[Edge]],
    op_names: Mapping[str, Sequence[str]],
) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    """Per cell kind, per kept edge: ``(the chosen op's weight, 2 / |O_e|)``, ``|O_e|`` the ops that edge mixes.

    Twice the uniform weight of the ops the edge's softmax runs over: one fewer than the kind's op set where
    ``Zero`` is held out of the edge (``zero_op=False``, node 0's edges with ``zero_into_node0=False``, a kept edge
    after ``fix_edges``: nas/networks.py), which weighs exactly 0 there.
    """
    edges = {kind: edge_list(max(node for _, _, node in cell) + 1) for kind, cell in genotype.items()}
    return {kind: [(w, 2 / mixed_op_count([weights[kind][edges[kind].index((src, node))]]))
                   for w, (_, src, node) in zip(ws, genotype[kind], strict=True)]
            for kind, ws in kept_op_weights(weights, genotype, op_names).items()}  # fmt: skip


def parameter_free_share(genotype: Mapping[str, Sequence[Edge]]) -> float:
    """The share of parameter-free ops in a genotype (PV-NAS Sec. 3.3: a collapsed search picks mostly these)."""
    chosen = [op for cell in genotype.values() for op, _, _ in cell]
    return sum(op in PARAMETER_FREE for op in chosen) / len(chosen)
