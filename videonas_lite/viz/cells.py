"""Graphviz drawings of a cell: the search cell's ``M`` mixed edges, or a discrete (derived) cell's labelled edges.

Taught by notebook 03 (the search cell's DAG) and notebook 06 (derived cells); notebook 05 draws derived cells too.

A cell (Peng Sec. 2.1, Fig. 1; PV-NAS Fig. 2) is drawn left to right: the two inputs ``c_{k-2}`` and
``c_{k-1}`` (the previous two cells' outputs), the intermediate nodes ``0 .. n-1``, and the output ``c_{k}``,
which concatenates every intermediate node (dashed arrows: a concatenation, not an edge with ops).

States are numbered as in :func:`videonas_lite.nas.cells.edge_list`: ``0`` and ``1`` are the inputs,
``2 + i`` is intermediate node ``i``. A discrete edge is ``(op_name, source state, target node)``. Every
figure of the package names states and edges with :func:`state_label` and :func:`edge_labels` (plain text,
matplotlib's mathtext or graphviz's HTML), so a heatmap's rows and a drawing's nodes read alike.

A derived cell (:func:`draw_cell`, one per cell kind of a :class:`~videonas_lite.nas.genotype.Genotype`:
Peng's normal and reduction cells, PV-NAS's S-NC, S-RC, T-NC, T-RC; notebook 06_derive_and_render) colours
each edge by what its op sees of time, :func:`~videonas_lite.nas.cost.temporal_extent`: red for ops that
span several frames (Peng's (2+1)D ops and 3x3x3 pools, PV-NAS's temporal convs), blue for ops that see
one frame (1x1x1 and 1xkxk convs, 1x3x3 pools, skips); thick edges carry parameters, thin ones are
parameter-free (:data:`~videonas_lite.nas.genotype.PARAMETER_FREE`). A legend says so. A
:class:`graphviz.Digraph` shows as SVG inline in Jupyter; :func:`write_svgs` writes one file per kind.

Rendering needs graphviz's ``dot`` program; building the :class:`graphviz.Digraph` (and its ``.source``)
does not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import graphviz
import torch

from videonas_lite.nas import ops
from videonas_lite.nas.cells import edge_list, num_edges
from videonas_lite.nas.cost import temporal_extent
from videonas_lite.nas.genotype import PARAMETER_FREE, Genotype, space_cells

__all__ = [
    "INPUT_STATES", "OUTPUT_STATE", "cell_skeleton", "cell_title", "draw_cell", "draw_discrete_cell", "draw_genotype",
    "draw_search_cell", "edge_labels", "edge_style", "legend", "state_id", "state_label", "strongest_ops", "write_svgs",
]  # fmt: skip

INPUT_STATES = ("c_{k-2}", "c_{k-1}")
"""States 0 and 1 as the papers write them: the outputs of the cells two and one before this one."""
OUTPUT_STATE = "c_{k}"
"""The cell's output, the concatenation of its intermediate nodes."""
MARKUPS = ("text", "mathtext", "html")
"""How :func:`state_label` writes a name: ``c_{k-2}``, matplotlib's ``$c_{k-2}$``, graphviz's ``c<sub>k-2</sub>``."""

INPUT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "lightblue"}
NODE_STYLE = {"shape": "circle", "style": "filled", "fillcolor": "lightyellow", "fixedsize": "true", "width": "0.45"}
OUTPUT_STYLE = {"shape": "box", "style": "rounded,filled", "fillcolor": "palegoldenrod"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
"""One colour per op index of an op set (matplotlib's tab10, so a bar chart and a drawing agree)."""
TEMPORAL, SPATIAL, UNKNOWN = "#d62728", "#1f77b4", "gray40"
"""Edge colours of a derived cell: op spans several frames, one frame, or is no registry op."""
WIDTH = {True: "2.4", False: "1.0"}
"""Edge widths of a derived cell: op with parameters, parameter-free op."""


def _markup(name: str, markup: str) -> str:
    if markup not in MARKUPS:
        raise ValueError(f"markup must be one of {MARKUPS}, got {markup!r}")
    if markup == "mathtext":
        return f"${name}$"
    return name.replace("_{", "<sub>").replace("}", "</sub>") if markup == "html" else name


def state_label(state: int, markup: str = "text") -> str:
    """The name of cell state ``state``: ``c_{k-2}``, ``c_{k-1}`` for the inputs, ``i`` for node ``2 + i``."""
    if state < 0:
        raise ValueError(f"a state index is >= 0, got {state}")
    return _markup(INPUT_STATES[state], markup) if state < 2 else str(state - 2)


def edge_labels(nodes: int, markup: str = "text") -> list[str]:
    """``"source→target"`` per edge, in the alpha rows' order (``c_{k-2}→0``, ``c_{k-1}→0``, ``c_{k-2}→1``, ...)."""
    return [f"{state_label(src, markup)}→{node}" for src, node in edge_list(nodes)]


def state_id(state: int) -> str:
    """The graph node id of cell state ``state`` (0, 1: inputs; ``2 + i``: intermediate node ``i``)."""
    if state < 0:
        raise ValueError(f"a state index is >= 0, got {state}")
    return f"in{state}" if state < 2 else f"n{state - 2}"


def cell_skeleton(nodes: int, name: str = "cell", title: str | None = None) -> graphviz.Digraph:
    """The nodes of a cell and the dashed concatenation arrows into ``c_{k}``; no op edges yet."""
    if nodes < 1:
        raise ValueError(f"a cell needs at least one intermediate node, got nodes={nodes}")
    dot = graphviz.Digraph(name, graph_attr={"rankdir": "LR", "nodesep": "0.25", "ranksep": "0.6"})
    if title:
        dot.attr(label=title, labelloc="t", fontsize="14")
    for state in (0, 1):
        dot.node(state_id(state), f"<{state_label(state, 'html')}>", **INPUT_STYLE)
    for i in range(nodes):
        dot.node(state_id(2 + i), state_label(2 + i), **NODE_STYLE)
    dot.node("out", f"<{_markup(OUTPUT_STATE, 'html')}>", **OUTPUT_STYLE)
    for i in range(nodes):
        dot.edge(state_id(2 + i), "out", style="dashed", color="gray50", arrowsize="0.6")
    return dot


def strongest_ops(weights: torch.Tensor, op_names: Sequence[str], exclude_zero: bool = True) -> list[tuple[str, float]]:
    """Per edge (row of ``weights``), the op with the largest mixing weight and that weight.

    ``Zero`` is skipped when ``exclude_zero`` (DARTS's derivation rule: the strongest *non-zero* op).
    """
    names = ops.op_names(tuple(op_names))
    if weights.dim() != 2 or weights.shape[1] != len(names):
        raise ValueError(f"expected weights of shape (M, {len(names)}) for ops {names}, got {tuple(weights.shape)}")
    allowed = [i for i, n in enumerate(names) if not (exclude_zero and n in ops.ZERO_NAMES)]
    if not allowed:
        raise ValueError(f"op set {names} has no op besides Zero")
    sub = weights.detach().float().cpu()[:, allowed]
    best = sub.argmax(dim=1)
    return [(names[allowed[b]], float(sub[e, b])) for e, b in enumerate(best.tolist())]


def draw_search_cell(
    nodes: int,
    alpha: torch.Tensor | None = None,
    op_names: Sequence[str] | None = None,
    *,
    softmax: bool = True,
    labels: bool = True,
    name: str = "search_cell",
    title: str | None = None,
) -> graphviz.Digraph:
    """A search cell: all ``M = (n + 1)(n + 2) / 2 - 1`` mixed edges (Peng Sec. 2.1).

    Without ``alpha`` every edge is drawn alike. With ``alpha`` (``(M, |O|)``; its row-wise softmax,
    PV-NAS Eq. 2, is taken unless ``softmax=False`` says it already holds mixing weights) each edge is
    coloured by its strongest non-zero op, its width grows with that op's weight, and (``labels``) it
    is labelled ``op  w``.
    """
    m = num_edges(nodes)
    dot = cell_skeleton(nodes, name, title)
    strongest = None
    if alpha is not None:
        if op_names is None:
            raise ValueError("op_names are needed to name the strongest op of each edge")
        weights = alpha.detach().float().softmax(dim=-1) if softmax else alpha.detach().float()
        if weights.shape[0] != m:
            raise ValueError(f"a cell of {nodes} nodes has {m} edges, got alpha/weights with {weights.shape[0]} rows")
        strongest = strongest_ops(weights, op_names)
        index = {n: i for i, n in enumerate(ops.op_names(tuple(op_names)))}
    for e, (src, node) in enumerate(edge_list(nodes)):
        if strongest is None:
            dot.edge(state_id(src), state_id(2 + node), color="gray30")
            continue
        op, w = strongest[e]
        attrs = {"color": PALETTE[index[op] % len(PALETTE)], "penwidth": f"{0.5 + 4.5 * w:.2f}"}
        if labels:
            attrs["label"] = f"{op}  {w:.2f}"
            attrs["fontsize"] = "9"
        dot.edge(state_id(src), state_id(2 + node), **attrs)
    return dot


def edge_style(op: str) -> dict[str, str]:
    """Graphviz attributes of a derived edge carrying ``op``: colour by temporal extent, width by parameters."""
    try:
        frames = temporal_extent(ops.canonical(op))
    except KeyError:  # not a registry op (a hand-made cell): drawn grey
        frames = None
    colour = UNKNOWN if frames is None else TEMPORAL if frames > 1 else SPATIAL
    return {"color": colour, "fontcolor": colour, "penwidth": WIDTH[ops.canonical(op) not in PARAMETER_FREE]}


def legend() -> str:
    """The HTML-like label of a derived cell's legend node: what colours, widths and dashes mean."""
    rows = [
        (TEMPORAL, WIDTH[True], "temporal: sees 3 frames, has parameters"),
        (TEMPORAL, WIDTH[False], "temporal: sees 3 frames, parameter-free"),
        (SPATIAL, WIDTH[True], "spatial: sees 1 frame, has parameters"),
        (SPATIAL, WIDTH[False], "spatial: sees 1 frame, parameter-free"),
        ("gray50", "dashed", f"concatenation into {_markup(OUTPUT_STATE, 'html')}"),
    ]
    cells = []
    for colour, width, text in rows:
        bar = f'<td width="30" height="{3 if width != WIDTH[False] else 1}" fixedsize="true" bgcolor="{colour}"></td>'
        if width == "dashed":
            bar = f'<td width="30"><font color="{colour}">- - -</font></td>'
        cells.append(f'<tr>{bar}<td align="left"><font point-size="9">{text}</font></td></tr>')
    return f'<<table border="0" cellspacing="3" cellpadding="0">{"".join(cells)}</table>>'


def draw_discrete_cell(
    edges: Sequence[tuple[str, int, int]],
    nodes: int | None = None,
    *,
    name: str = "discrete_cell",
    title: str | None = None,
    show_legend: bool = False,
) -> graphviz.Digraph:
    """A discrete cell: each ``(op_name, source state, target node)`` edge drawn with its op as label.

    Edges are styled by :func:`edge_style`; ``show_legend`` adds the legend that :func:`draw_cell` shows.
    ``nodes`` defaults to one more than the largest target. A source must come before its target
    (``source < 2 + target``), as in the search cell's DAG.
    """
    if not edges:
        raise ValueError("a discrete cell needs at least one edge")
    nodes = nodes if nodes is not None else 1 + max(t for _, _, t in edges)
    dot = cell_skeleton(nodes, name, title)
    for op, src, target in edges:
        if not 0 <= target < nodes:
            raise ValueError(f"edge {(op, src, target)}: target node must be in 0..{nodes - 1}")
        if not 0 <= src < 2 + target:
            raise ValueError(f"edge {(op, src, target)}: source state must be in 0..{1 + target} (a DAG)")
        dot.edge(state_id(src), state_id(2 + target), label=op, fontsize="10", **edge_style(op))
    if show_legend:
        with dot.subgraph(name=f"{name}_legend", graph_attr={"rank": "sink"}) as key:
            key.node("legend", legend(), shape="plaintext")
    return dot


def cell_title(genotype: Genotype, kind: str) -> str:
    """``"Peng: reduction cell"``, ``"PV-NAS: T-NC, temporal normal cell"``, ... (Peng Fig. 2; PV-NAS Fig. 5)."""
    role = "reduction cell" if genotype.reduction(kind) else "normal cell"
    if genotype.space == "peng":
        return f"Peng: {role}"
    op_set = space_cells(genotype.space)[kind][0]
    temporal = any(temporal_extent(op) > 1 for op in op_set if op not in ops.ZERO_NAMES)
    return f"PV-NAS: {kind}, {'temporal' if temporal else 'spatial'} {role}"


def draw_cell(genotype: Genotype, kind: str, *, title: str | None = None, show_legend: bool = True) -> graphviz.Digraph:
    """The derived cell of ``kind``: inputs c_{k-2}, c_{k-1}, the nodes, c_k, op-labelled edges, a legend."""
    if kind not in genotype:
        raise ValueError(f"genotype has no cell kind {kind!r} (it has {', '.join(genotype)})")
    title = cell_title(genotype, kind) if title is None else title
    return draw_discrete_cell(genotype[kind], genotype.nodes, name=kind, title=title, show_legend=show_legend)


def draw_genotype(genotype: Genotype, show_legend: bool = True) -> dict[str, graphviz.Digraph]:
    """One drawing per cell kind of ``genotype`` (Peng: normal, reduce; PV-NAS: S-NC, S-RC, T-NC, T-RC)."""
    return {kind: draw_cell(genotype, kind, show_legend=show_legend) for kind in genotype}


def write_svgs(genotype: Genotype, out_dir: str | os.PathLike, prefix: str = "cell_") -> dict[str, Path]:
    """Render every cell of ``genotype`` to ``out_dir/<prefix><kind>.svg`` (needs graphviz's ``dot``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, dot in draw_genotype(genotype).items():
        paths[kind] = out / f"{prefix}{kind}.svg"
        paths[kind].write_bytes(dot.pipe(format="svg"))
    return paths
