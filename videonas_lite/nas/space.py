"""How many discrete architectures a search space holds (PV-NAS Sec. 3.1.3; Peng Sec. 2.1). Taught by notebook 03.

A *discrete* cell (what derivation keeps of a search cell) gives each intermediate node ``keep = 2``
incoming edges, each carrying one op that is not ``Zero``. Intermediate node ``k`` (``k = 1 .. n``) can
take its inputs from the ``inputs = 2`` cell inputs and the ``k - 1`` nodes before it, so it chooses

    C(inputs + k - 1, keep) * |O \\ {Zero}| ** keep

ways; with two inputs that is PV-NAS's ``(k + 1) k / 2 * |O \\ {Zero}|^2``, and a cell has the product
over ``k``. A network with one alpha tensor per *cell kind* chooses every kind's cell independently,
so its count is the product over the kinds (PV-NAS: S-NC, S-RC, T-NC, T-RC, from
:data:`~videonas_lite.nas.networks.PVNAS_PLAN`).

Every count here is an exact ``int``, computed from the op registries of :mod:`videonas_lite.nas.ops`
(nothing is typed in). The paper rounds: ``~7e7`` spatial, ``~1e9`` temporal cells, and multiplies the
*rounded* figures, ``(7e7)^2 (1e9)^2 = 4.9e33`` (the paper prints the second factor as ``10^{9^2}``, meaning
``(10^9)^2``). The exact product is larger (about ``5.3e33``); :func:`paper_rounding` reproduces the
paper's one-significant-figure rounding so that a notebook can show both. Graph isomorphism (two
labellings of the same DAG) is not factored out, as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from videonas_lite.nas import ops
from videonas_lite.nas.networks import PVNAS_PLAN

__all__ = [
    "cell_choices",
    "network_choices",
    "node_choices",
    "nonzero_ops",
    "paper_rounding",
    "pvnas_network_choices",
]


def nonzero_ops(op_names: str | Sequence[str]) -> int:
    """``|O \\ {Zero}|``: the ops a discrete edge may carry (an op set name such as ``'peng'``, or names)."""
    names = ops.op_names(op_names if isinstance(op_names, str) else tuple(op_names))
    count = sum(1 for name in names if name not in ops.ZERO_NAMES)
    if count == 0:
        raise ValueError(f"op set {names} has no op besides Zero: a discrete edge could carry nothing")
    return count


def node_choices(k: int, op_names: str | Sequence[str], inputs: int = 2, keep: int = 2) -> int:
    """Ways intermediate node ``k`` (1-based) picks ``keep`` of its ``inputs + k - 1`` predecessors, and their ops.

    PV-NAS Sec. 3.1.3, one factor of the product: ``(k + 1) k / 2 * |O \\ {Zero}|^2`` for two inputs.
    """
    if k < 1:
        raise ValueError(f"node index k is 1-based, got {k}")
    if inputs < 1 or keep < 1:
        raise ValueError(f"inputs and keep must be >= 1, got inputs={inputs}, keep={keep}")
    predecessors = inputs + k - 1
    if keep > predecessors:
        raise ValueError(f"node {k} has {predecessors} predecessors, cannot keep {keep} distinct edges")
    return math.comb(predecessors, keep) * nonzero_ops(op_names) ** keep


def cell_choices(nodes: int, op_names: str | Sequence[str], inputs: int = 2, keep: int = 2) -> int:
    """Discrete cells of ``nodes`` intermediate nodes (PV-NAS Sec. 3.1.3).

    ``prod_{k=1}^{n} C(k + 1, 2) |O \\ {Zero}|^2`` for two inputs and ``keep = 2``; in general the product of
    :func:`node_choices` over the nodes.

    ``keep`` must not exceed a node's predecessors; with two inputs and ``keep = 2`` every node qualifies.
    """
    if nodes < 1:
        raise ValueError(f"a cell needs at least one intermediate node, got nodes={nodes}")
    return math.prod(node_choices(k, op_names, inputs, keep) for k in range(1, nodes + 1))


def network_choices(op_sets: Iterable[str | Sequence[str]], nodes: int = 4, inputs: int = 2, keep: int = 2) -> int:
    """Discrete networks: the product of :func:`cell_choices` over the cell kinds (``op_sets``: one per kind).

    Cells of one kind share one genotype (one alpha tensor), so a kind counts once however many cells of it
    are stacked. PV-NAS Sec. 3.1.3 with its four kinds: ``(7e7)^2 x (1e9)^2`` in rounded
    figures.
    """
    op_sets = list(op_sets)
    if not op_sets:
        raise ValueError("a network needs at least one cell kind")
    return math.prod(cell_choices(nodes, op_set, inputs, keep) for op_set in op_sets)


def pvnas_network_choices(nodes: int = 4) -> int:
    """PV-NAS's whole search space (S-NC, S-RC on O_s; T-NC, T-RC on O_t), exact (PV-NAS Sec. 3.1.3)."""
    return network_choices((op_set for _, op_set, _ in PVNAS_PLAN), nodes)


def paper_rounding(value: int | float) -> float:
    """``value`` rounded to one significant figure, as the paper quotes its counts (``70,312,500 -> 7e7``)."""
    if value <= 0:
        raise ValueError(f"expected a positive count, got {value}")
    exponent = math.floor(math.log10(value))
    mantissa = round(value / 10**exponent)
    return float(mantissa * 10**exponent)
