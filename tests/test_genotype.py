"""nas/genotype.py: derivation by hand, the Genotype type, its JSON file and every malformed file's error."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from videonas_lite.nas import ops as O
from videonas_lite.nas.cells import edge_list, num_edges
from videonas_lite.nas.genotype import (
    PARAMETER_FREE,
    Genotype,
    GenotypeError,
    derive,
    derive_cell,
    derive_genotype,
    parameter_free_share,
    space_cells,
)
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net

REFERENCE = Path(__file__).parents[1] / "benchmarks" / "results" / "reference-search" / "records.json"
PENG = ("Conv_1", "Conv_3", "SpeConv_3", "DilConv_3", "MPool_3", "APool_3", "Skip_Con", "Zero")


def row(**weights: float) -> list[float]:
    """One edge's mixing weights over Peng's eight ops (Table 1 order), 0.1 for every op not named."""
    return [weights.get(name, 0.1) for name in PENG]


# A cell of n = 2 nodes has M = 5 edges: (0 -> 0), (1 -> 0), (0 -> 1), (1 -> 1), (2 -> 1); states 0, 1 are the
# inputs c_{k-2}, c_{k-1}, state 2 is node 0. Each row sums to 1, so softmax(log(row)) == row.
TIE = row(MPool_3=0.2, Zero=0.2)
HAND = {
    "normal": [
        row(Zero=0.65, Conv_3=0.11, Conv_1=0.04, SpeConv_3=0.04, DilConv_3=0.04, MPool_3=0.04, APool_3=0.04,
            Skip_Con=0.04),  # Zero weighs most; node 0 has only two edges, so it keeps this one with Conv_3
        row(Skip_Con=0.3),  # Skip_Con
        row(Conv_1=0.2, DilConv_3=0.2),  # two ops tie at 0.2: Conv_1, listed first, wins
        row(Zero=0.7, MPool_3=0.06, Conv_1=0.04, Conv_3=0.04, SpeConv_3=0.04, DilConv_3=0.04, APool_3=0.04,
            Skip_Con=0.04),  # Zero weighs most and the best other op only 0.06: node 1 drops this edge
        row(SpeConv_3=0.2, APool_3=0.2),  # SpeConv_3 (listed before APool_3)
    ],
    "reduce": [
        [1 / 8] * 8,  # uniform: every op ties, Conv_1 (first) wins
        row(Zero=0.86, **{n: 0.02 for n in PENG[:7]}),  # Zero dominates; the seven others tie: Conv_1
        row(Conv_3=0.3),  # node 1's strongest edge: Conv_3 at 0.3
        TIE,  # MPool_3 at 0.2 ...
        TIE,  # ... an identical row from a later state: the tie goes to the edge from state 1
    ],
}  # fmt: skip
EXPECTED = {
    "normal": [("Conv_3", 0, 0), ("Skip_Con", 1, 0), ("Conv_1", 0, 1), ("SpeConv_3", 2, 1)],
    "reduce": [("Conv_1", 0, 0), ("Conv_1", 1, 0), ("Conv_3", 0, 1), ("MPool_3", 1, 1)],
}


def test_hand_weights_sum_to_one():
    for cell in HAND.values():
        assert [sum(r) for r in cell] == pytest.approx([1.0] * 5)


def test_derive_cell_by_hand():
    for kind, weights in HAND.items():
        assert derive_cell(torch.tensor(weights), PENG, nodes=2) == EXPECTED[kind]


def test_derive_by_hand_on_a_search_network():
    """Alphas written by hand (log of the weights above): derive's genotype is the one worked out by hand."""
    model = peng_search_net(4, channels=2, nodes=2)
    with torch.no_grad():
        for kind, weights in HAND.items():
            model.alphas[kind].copy_(torch.tensor(weights).log())
    genotype = derive(model)
    assert genotype == Genotype("peng", 2, EXPECTED)
    assert {kind: list(cell) for kind, cell in genotype.items()} == EXPECTED
    assert parameter_free_share(genotype) == 2 / 8  # Skip_Con (normal) and MPool_3 (reduce)


def test_parameter_free_ops_come_from_the_modules():
    assert PARAMETER_FREE == {"MPool_3", "APool_3", "Skip_Con", "Identity", "1x3x3 ave pooling", "1x3x3 max pooling"}
    for ops in O.OP_SETS.values():
        for name in ops:
            has_params = any(True for _ in O.make_op(name, 4).parameters())
            assert (name in PARAMETER_FREE) == (not has_params and name not in O.ZERO_NAMES)


def test_pvnas_genotype_round_trips_through_json(tmp_path):
    torch.manual_seed(0)
    model = pvnas_search_net(4, channels=2, nodes=3)
    genotype = derive(model)
    assert genotype.space == "pvnas" and list(genotype) == ["S-NC", "S-RC", "T-NC", "T-RC"] and genotype.nodes == 3
    assert [genotype.reduction(k) for k in genotype] == [False, True, False, True]
    path = genotype.save(tmp_path / "g.json")
    assert Genotype.load(path) == genotype and hash(Genotype.load(path)) == hash(genotype)
    assert Genotype.from_record(json.loads(json.dumps(genotype.to_record()))) == genotype


def test_genotype_is_frozen_and_sorted():
    genotype = Genotype("peng", 2, {k: list(reversed(v)) for k, v in EXPECTED.items()}, provenance={"epoch": 3})
    assert genotype == Genotype("peng", 2, EXPECTED)  # edges sorted by (target, source); provenance not compared
    with pytest.raises(dataclasses.FrozenInstanceError):
        genotype.space = "pvnas"
    with pytest.raises(TypeError):
        genotype.cells["normal"] = ()
    assert json.loads(genotype.to_json())["provenance"] == {"epoch": 3}


def test_reference_run_records_rederive_their_genotypes():
    """Every epoch of the committed reference search: its recorded genotype (old record shape) reads back and
    equals the genotype derived again from its alpha softmax."""
    records = json.loads(REFERENCE.read_text())["records"]
    for record in records:
        recorded = Genotype.from_record(record["genotype"])
        assert recorded == derive_genotype(record["alpha_softmax"])
        assert recorded.to_record() == record["genotype"]
        assert parameter_free_share(recorded) == record["parameter_free_share"]


# --- validation on load: one line, naming the file and the field -------------------------------------------

VALID = {"format": "videonas-genotype", "version": 1, "space": "peng", "nodes": 2,
         "cells": {k: [list(e) for e in v] for k, v in EXPECTED.items()}}  # fmt: skip


def _set(path: list, value):
    def mutate(data: dict) -> None:
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return mutate


BAD = {
    "unknown op": (_set(["cells", "normal", 1, 0], "Conv_5"), "cells.normal[1]: unknown op 'Conv_5' for a normal cell"),
    "op of the other paper": (_set(["cells", "reduce", 0, 0], "3+3x3 temporal conv"),
                              "cells.reduce[0]: unknown op '3+3x3 temporal conv' for a reduce cell"),
    "Zero": (_set(["cells", "normal", 0, 0], "Zero"), "cells.normal[0]: 'Zero' is no op of a derived edge"),
    "source not yet": (_set(["cells", "normal", 2, 1], 3), "normal[2]: source state 3 does not exist yet at node 1"),
    "no such target": (_set(["cells", "normal", 3, 2], 2), "normal[3]: target node 2 does not exist (nodes 0..1)"),
    "three inputs": (_set(["cells", "normal", 2], ["Conv_3", 1, 0]), "cells.normal: node 0 has 3 inputs (expected 2)"),
    "one input": (lambda d: d["cells"]["normal"].pop(), "cells.normal: node 1 has 1 inputs (expected 2)"),
    "same state twice": (_set(["cells", "normal", 1, 1], 0), "cells.normal: node 0 takes both inputs from state 0"),
    "missing kind": (_set(["cells", "reduce"], KeyError), "cells: missing cell kind 'reduce'"),
    "extra kind": (_set(["cells", "T-NC"], []), "cells: extra cell kind 'T-NC' (space peng has normal, reduce)"),
    "unknown space": (_set(["space"], "darts"), "space: unknown search space 'darts'"),
    "version string": (_set(["version"], "1"), "version: expected an integer, got a string"),
    "version 2": (_set(["version"], 2), "version: unsupported format version 2 (expected 1)"),
    "no version": (_set(["version"], KeyError), "missing field 'version'"),
    "other format": (_set(["format"], "darts-genotype"), "format: expected 'videonas-genotype'"),
    "nodes float": (_set(["nodes"], 2.0), "nodes: expected an integer, got a number"),
    "cells array": (_set(["cells"], []), "cells: expected an object of cell kind -> edges, got an array"),
    "cell object": (_set(["cells", "normal"], {}), "cells.normal: expected an array of edges, got an object"),
    "source string": (_set(["cells", "normal", 1, 1], "1"),
                      'cells.normal[1]: expected [op, source state, target node] as [string, integer, integer], '
                      'got ["Skip_Con", "1", 0]'),
    "edge of two": (_set(["cells", "normal", 1], ["Skip_Con", 1]), "cells.normal[1]: expected [op, source state"),
    "unknown field": (_set(["genes"], {}), "unknown field 'genes'"),
    "provenance string": (_set(["provenance"], "run 3"), "provenance: expected an object, got a string"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_genotype_files_fail_with_one_line(tmp_path, case):
    mutate, message = BAD[case]
    data = copy.deepcopy(VALID)
    mutate(data)
    path = tmp_path / "genotype.json"
    path.write_text(json.dumps(data))
    with pytest.raises(GenotypeError) as err:
        Genotype.load(path)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert message in text


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"format": ', "not JSON (Expecting value at line 1 column 12)"),
        ("", "not JSON (Expecting value at line 1 column 1)"),
        ("[1, 2]", "expected a JSON object (format, version, space, nodes, cells), got an array"),
        (b"\xff\xfe{", "not JSON (not UTF-8 text)"),
    ],
)
def test_files_that_are_not_a_genotype_object(tmp_path, content, message):
    path = tmp_path / "genotype.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(GenotypeError) as err:
        Genotype.load(path)
    assert str(err.value) == f"{path}: {message}"


def test_missing_file_and_valid_file(tmp_path):
    with pytest.raises(GenotypeError, match="cannot read the genotype file"):
        Genotype.load(tmp_path / "nope.json")
    (tmp_path / "ok.json").write_text(json.dumps(VALID))
    assert Genotype.load(tmp_path / "ok.json") == Genotype("peng", 2, EXPECTED)
    assert isinstance(GenotypeError("x"), ValueError)


def test_records_with_kinds_of_no_space_and_bad_weights():
    with pytest.raises(GenotypeError, match=r"record: cells: cell kinds \['normal'\] match no search space"):
        Genotype.from_record({"normal": VALID["cells"]["normal"]})
    with pytest.raises(GenotypeError, match="7 edges is no cell's edge count"):
        derive_genotype({k: [[0.125] * 8] * 7 for k in ("normal", "reduce")})
    assert set(space_cells("pvnas")["T-NC"][0]) - set(space_cells("pvnas")["S-NC"][0]) == {
        "3+3x3 temporal conv", "3+1x1 temporal conv"}  # fmt: skip


@given(
    nodes=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    scale=st.sampled_from([0.01, 1.0, 5.0]),
)
def test_derived_cells_are_valid_and_keep_the_strongest_edges(nodes, seed, scale):
    """For any alphas: a valid genotype (two distinct inputs per node, no Zero), and every kept edge's best
    non-Zero weight at least that of every dropped edge into the same node (Peng Sec. 3)."""
    g = torch.Generator().manual_seed(seed)
    weights = {
        kind: (scale * torch.randn(num_edges(nodes), 8, generator=g)).softmax(-1) for kind in ("normal", "reduce")
    }
    genotype = derive_genotype(weights)
    assert genotype.nodes == nodes and Genotype.from_json(genotype.to_json()) == genotype
    for kind, w in weights.items():
        best = {edge: w[e, :7].max().item() for e, edge in enumerate(edge_list(nodes))}  # column 7 is Zero
        for op, src, node in genotype[kind]:
            assert w[edge_list(nodes).index((src, node)), PENG.index(op)].item() == best[src, node]
            dropped = [
                b for (s, n), b in best.items() if n == node and (s, n) not in {(e[1], e[2]) for e in genotype[kind]}
            ]
            assert all(best[src, node] >= b for b in dropped)
