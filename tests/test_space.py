"""Search-space sizes (PV-NAS Sec. 3.1.3), the edge count M (Peng Sec. 2.1) and the cell drawings."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import torch

from videonas_lite.nas import ops
from videonas_lite.nas.cells import SearchCell, edge_list, num_edges
from videonas_lite.nas.networks import PVNAS_PLAN
from videonas_lite.nas.space import (
    cell_choices,
    network_choices,
    node_choices,
    nonzero_ops,
    paper_rounding,
    pvnas_network_choices,
)
from videonas_lite.viz.cells import draw_discrete_cell, draw_search_cell, state_id, strongest_ops

# -- the counting formula -------------------------------------------------------------------------


def test_nonzero_ops_are_read_from_the_registries():
    assert nonzero_ops("peng") == len(ops.PENG_OPS) - 1 == 7
    assert nonzero_ops("pvnas_spatial") == len(ops.PVNAS_SPATIAL_OPS) - 1 == 5
    assert nonzero_ops("pvnas_temporal") == len(ops.PVNAS_TEMPORAL_OPS) - 1 == 7
    assert nonzero_ops(("Conv_1", "none", "Zero")) == 1  # 'none' is an alias of Zero


@pytest.mark.parametrize("nodes", range(1, 7))
@pytest.mark.parametrize("op_set", ["peng", "pvnas_spatial", "pvnas_temporal"])
def test_cell_choices_is_the_papers_product(nodes, op_set):
    """PV-NAS Sec. 3.1.3: prod_{k=1}^{n} (k+1)k/2 * |O \\ {Zero}|^2, as an exact int."""
    o = len(ops.op_names(op_set)) - 1
    expected = 1
    for k in range(1, nodes + 1):
        expected *= (k + 1) * k // 2 * o**2
    got = cell_choices(nodes, op_set)
    assert isinstance(got, int) and got == expected


def test_cell_choices_by_brute_force_enumeration():
    """Give every one of the M edges any op of O (Zero = no edge); count those where each node keeps 2 edges."""
    op_set = ("Conv_1", "Conv_3", "Zero")
    nodes = 3
    targets = [t for _, t in edge_list(nodes)]
    count = 0
    for assignment in itertools.product(op_set, repeat=num_edges(nodes)):
        kept = [sum(1 for op, t in zip(assignment, targets, strict=True) if t == node and op != "Zero")
                for node in range(nodes)]  # fmt: skip
        count += all(k == 2 for k in kept)
    assert count == cell_choices(nodes, op_set) == (1 * 4) * (3 * 4) * (6 * 4)


def test_node_choices_generalise_inputs_and_keep():
    assert node_choices(1, "peng") == 1 * 49
    assert node_choices(4, "peng", inputs=2, keep=2) == math.comb(5, 2) * 49
    assert node_choices(3, "peng", inputs=1, keep=1) == 3 * 7
    with pytest.raises(ValueError, match="cannot keep 3"):
        node_choices(1, "peng", keep=3)
    with pytest.raises(ValueError, match="1-based"):
        node_choices(0, "peng")


def test_bad_op_sets_and_sizes_are_rejected():
    with pytest.raises(ValueError, match="no op besides Zero"):
        cell_choices(4, ("Zero",))
    with pytest.raises(ValueError, match="at least one intermediate node"):
        cell_choices(0, "peng")
    with pytest.raises(KeyError, match="unknown op set"):
        cell_choices(4, "darts")
    with pytest.raises(ValueError, match="at least one cell kind"):
        network_choices([])


# -- the papers' figures --------------------------------------------------------------------------


def test_pvnas_spatial_cells_are_about_7e7():
    spatial = cell_choices(4, "pvnas_spatial")
    assert 6.5e7 <= spatial < 7.5e7
    assert spatial == 180 * 25**4  # (1*3*6*10) * (5^2)^4
    assert paper_rounding(spatial) == 7e7


def test_pvnas_temporal_cells_are_about_1e9():
    temporal = cell_choices(4, "pvnas_temporal")
    assert 0.95e9 <= temporal < 1.5e9
    assert temporal == 180 * 49**4
    assert paper_rounding(temporal) == 1e9


def test_pvnas_network_exact_and_as_the_paper_rounds_it():
    """The paper's 4.9e33 is (7e7)^2 (1e9)^2 of its ROUNDED cell counts; the exact product is ~5.32e33."""
    spatial, temporal = cell_choices(4, "pvnas_spatial"), cell_choices(4, "pvnas_temporal")
    exact = pvnas_network_choices()
    assert exact == spatial**2 * temporal**2 == network_choices([s for _, s, _ in PVNAS_PLAN])
    assert [k for k, _, _ in PVNAS_PLAN] == ["S-NC", "S-RC", "T-NC", "T-RC"]
    assert math.isclose(paper_rounding(spatial) ** 2 * paper_rounding(temporal) ** 2, 4.9e33, rel_tol=1e-12)
    assert 5.3e33 < exact < 5.35e33  # documented: the exact count is ~8.6% above the paper's figure
    assert paper_rounding(exact) == 5e33


def test_peng_cell_count_for_comparison():
    """Peng's eight ops (seven non-zero) at n = 4: the same count as a PV-NAS temporal cell."""
    assert cell_choices(4, "peng") == cell_choices(4, "pvnas_temporal")
    assert network_choices(["peng", "peng"]) == cell_choices(4, "peng") ** 2  # normal and reduction cells


def test_paper_rounding():
    assert paper_rounding(70_312_500) == 7e7
    assert paper_rounding(1_037_664_180) == 1e9
    assert paper_rounding(96) == 100.0
    assert paper_rounding(0.034) == pytest.approx(0.03)
    with pytest.raises(ValueError):
        paper_rounding(0)


# -- the edge count M -----------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", range(1, 7))
def test_edge_count_formula_matches_edge_list_and_cell(nodes):
    """Peng Sec. 2.1: M = (n+1)(n+2)/2 - 1 = len(edge_list(n)) = the MixedOps of a SearchCell."""
    m = (nodes + 1) * (nodes + 2) // 2 - 1
    assert num_edges(nodes) == m == len(edge_list(nodes)) == sum(2 + i for i in range(nodes))
    cell = SearchCell(3, 3, 2, reduction=False, reduction_prev=False, op_names=("Skip_Con", "Zero"), nodes=nodes)
    assert len(cell.mixed) == m
    assert len(set(edge_list(nodes))) == m
    assert all(0 <= src < 2 + node for src, node in edge_list(nodes))


# -- drawings -------------------------------------------------------------------------------------


def _arrows(source: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+)(.*)$", source, flags=re.MULTILINE)


def _nodes(source: str) -> list[str]:
    return re.findall(r"^\s*(\w+) \[label=", source, flags=re.MULTILINE)


@pytest.mark.parametrize("nodes", [1, 2, 4, 6])
def test_search_cell_drawing_has_every_edge(nodes):
    dot = draw_search_cell(nodes)
    arrows = _arrows(dot.source)
    assert len(_nodes(dot.source)) == 2 + nodes + 1
    op_edges = [a for a in arrows if a[1] != "out"]
    concat = [a for a in arrows if a[1] == "out"]
    assert len(op_edges) == num_edges(nodes) and len(concat) == nodes
    assert sorted((s, t) for s, t, _ in op_edges) == sorted((state_id(s), state_id(2 + t)) for s, t in edge_list(nodes))


def test_search_cell_drawing_weighted_by_the_strongest_non_zero_op():
    names = ops.op_names("peng")
    alpha = torch.zeros(num_edges(2), len(names))
    alpha[:, names.index("Zero")] = 10.0  # Zero dominates every edge, but is never the drawn op
    alpha[0, names.index("Conv_3")] = 5.0
    arrows = _arrows(draw_search_cell(2, alpha, names).source)
    first = next(a for a in arrows if (a[0], a[1]) == ("in0", "n0"))
    assert "Conv_3" in first[2]
    assert not any("Zero" in a[2] for a in arrows)
    best = strongest_ops(alpha.softmax(-1), names)
    assert best[0][0] == "Conv_3" and len(best) == num_edges(2)
    with pytest.raises(ValueError, match="has 5 edges"):
        draw_search_cell(2, torch.zeros(14, len(names)), names)
    with pytest.raises(ValueError, match="op_names"):
        draw_search_cell(2, alpha)


def test_discrete_cell_drawing_labels_each_edge():
    edges = [("Conv_3", 0, 0), ("Skip_Con", 1, 0), ("MPool_3", 2, 1), ("Conv_1", 1, 1)]
    source = draw_discrete_cell(edges).source
    arrows = _arrows(source)
    assert len(_nodes(source)) == 2 + 2 + 1
    labelled = [a for a in arrows if a[1] != "out"]
    assert len(labelled) == 4 and len(arrows) == 4 + 2
    assert ("n0", "n1") in {(s, t) for s, t, _ in labelled}
    assert all(op in source for op, _, _ in edges)
    with pytest.raises(ValueError, match="a DAG"):
        draw_discrete_cell([("Conv_1", 3, 1)])
    with pytest.raises(ValueError, match="target node"):
        draw_discrete_cell([("Conv_1", 0, 2)], nodes=2)


def test_drawing_renders_with_dot(tmp_path):
    """The system ``dot`` turns the drawing into an SVG (skipped where graphviz's binary is missing)."""
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed")
    svg = draw_search_cell(3).pipe(format="svg").decode()
    assert svg.count('class="edge"') == num_edges(3) + 3
