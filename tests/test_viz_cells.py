"""viz/cells.py: drawings of derived cells (Peng's two, PV-NAS's four), styled by temporal extent, with a legend."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

from videonas_lite.nas.cost import temporal_extent
from videonas_lite.nas.genotype import PARAMETER_FREE, Genotype, derive
from videonas_lite.nas.networks import pvnas_search_net
from videonas_lite.viz.cells import (
    SPATIAL,
    TEMPORAL,
    UNKNOWN,
    WIDTH,
    cell_title,
    draw_cell,
    draw_discrete_cell,
    draw_genotype,
    edge_labels,
    edge_style,
    state_label,
    write_svgs,
)

REFERENCE = Path(__file__).parents[1] / "benchmarks" / "results" / "reference-search" / "records.json"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")


@pytest.fixture(scope="module")
def peng() -> Genotype:
    """The last genotype of the committed reference search (Peng's space)."""
    return Genotype.from_record(json.loads(REFERENCE.read_text())["records"][-1]["genotype"])


@pytest.fixture(scope="module")
def pvnas() -> Genotype:
    torch.manual_seed(1)
    model = pvnas_search_net(4, channels=2)
    with torch.no_grad():
        for alpha in model.alphas.values():
            alpha.normal_()
    return derive(model)


@pytest.mark.parametrize(
    "op, colour, has_params",
    [
        ("Conv_3", TEMPORAL, True),  # (2+1)D: 1x3x3 then 3x1x1
        ("Conv_1", SPATIAL, True),
        ("MPool_3", TEMPORAL, False),  # Peng's pools are 3x3x3
        ("Skip_Con", SPATIAL, False),
        ("3+1x1 temporal conv", TEMPORAL, True),
        ("1x3x3 separable conv", SPATIAL, True),
        ("1x3x3 max pooling", SPATIAL, False),
        ("SepConv_3", TEMPORAL, True),  # an alias of Peng's SpeConv_3
        ("not an op", UNKNOWN, True),
    ],
)
def test_edge_style_by_temporal_extent_and_parameters(op, colour, has_params):
    style = edge_style(op)
    assert style["color"] == colour and style["penwidth"] == WIDTH[has_params]
    if colour != UNKNOWN:
        assert (colour == TEMPORAL) == (temporal_extent(op if op != "SepConv_3" else "SpeConv_3") > 1)
        assert (op in PARAMETER_FREE) == (not has_params)


def _edges(source: str) -> list[tuple[str, str, str]]:
    return re.findall(r"^\s*(\w+) -> (\w+) \[(.*)\]$", source, flags=re.MULTILINE)


def test_peng_cells_have_inputs_nodes_output_labelled_edges_and_legend(peng):
    drawings = draw_genotype(peng)
    assert list(drawings) == ["normal", "reduce"]
    for kind, dot in drawings.items():
        source = dot.source
        assert "c<sub>k-2</sub>" in source and "c<sub>k-1</sub>" in source and "c<sub>k</sub>" in source
        assert all(re.search(rf"\bn{i} \[label={i}\b", source) for i in range(peng.nodes))
        edges = _edges(source)
        ops = [e for e in edges if e[1] != "out"]
        assert len(ops) == 2 * peng.nodes and len(edges) == 3 * peng.nodes  # + one concatenation per node
        for (op, src, node), (tail, head, attrs) in zip(peng[kind], ops, strict=True):
            assert (tail, head) == (f"in{src}" if src < 2 else f"n{src - 2}", f"n{node}")
            assert f"label={op}" in attrs.replace('"', "") and f'color="{edge_style(op)["color"]}"' in attrs
        assert "legend" in source and "temporal: sees 3 frames" in source
    assert cell_title(peng, "normal") == "Peng: normal cell" and cell_title(peng, "reduce") == "Peng: reduction cell"
    assert TEMPORAL in drawings["reduce"].source and SPATIAL in drawings["reduce"].source  # Conv_3 and Skip_Con


def test_pvnas_titles_and_temporal_ops_only_in_temporal_cells(pvnas):
    titles = {kind: cell_title(pvnas, kind) for kind in pvnas}
    assert titles == {
        "S-NC": "PV-NAS: S-NC, spatial normal cell",
        "S-RC": "PV-NAS: S-RC, spatial reduction cell",
        "T-NC": "PV-NAS: T-NC, temporal normal cell",
        "T-RC": "PV-NAS: T-RC, temporal reduction cell",
    }
    for kind in ("S-NC", "S-RC"):
        assert f'color="{TEMPORAL}"' not in draw_cell(pvnas, kind, show_legend=False).source
    with pytest.raises(ValueError, match="has no cell kind 'normal'"):
        draw_cell(pvnas, "normal")


@needs_dot
def test_svgs_of_all_six_cells(tmp_path, peng, pvnas):
    paths = {**write_svgs(peng, tmp_path), **write_svgs(pvnas, tmp_path)}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"cell_{k}.svg" for k in ("normal", "reduce", "S-NC", "S-RC", "T-NC", "T-RC")
    )
    for kind, path in paths.items():
        root = ET.parse(path).getroot()
        assert root.tag.endswith("svg")
        svg = path.read_text()
        genotype = peng if kind in peng else pvnas
        assert svg.count('class="edge"') == 3 * genotype.nodes  # two op edges and one concatenation per node
        assert all(op in svg for op, _, _ in genotype[kind])
    # inline in Jupyter: the Digraph's SVG mime bundle
    assert "<svg" in draw_cell(peng, "normal")._repr_mimebundle_(include=["image/svg+xml"])["image/svg+xml"]


def test_discrete_cell_of_unknown_ops_is_grey_and_legend_optional():
    source = draw_discrete_cell([("A", 0, 0), ("B", 1, 0)]).source
    assert f"color={UNKNOWN}" in source and "legend" not in source
    assert "legend" in draw_discrete_cell([("A", 0, 0), ("B", 1, 0)], show_legend=True).source


def test_states_and_edges_are_named_alike_in_every_markup():
    """One naming of the cell states for heatmap rows (text, mathtext) and drawings (graphviz HTML)."""
    assert [state_label(s) for s in range(4)] == ["c_{k-2}", "c_{k-1}", "0", "1"]
    assert state_label(1, "mathtext") == "$c_{k-1}$" and state_label(0, "html") == "c<sub>k-2</sub>"
    assert state_label(3, "html") == "1"
    assert edge_labels(1) == ["c_{k-2}→0", "c_{k-1}→0"]
    assert edge_labels(2, "mathtext")[2:] == ["$c_{k-2}$→1", "$c_{k-1}$→1", "0→1"]
    with pytest.raises(ValueError, match="markup must be one of"):
        state_label(0, "latex")
