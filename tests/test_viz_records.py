"""viz/records.py: a search run's records read, checked and stacked into (epochs, edges, ops) arrays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from videonas_lite.nas import ops
from videonas_lite.viz.records import alpha_history, load_records, parameter_free_mass

PENG = ops.op_names("peng")


def hand_records(epochs: int = 3, edges: int = 14, seed: int = 0) -> list[dict]:
    """Records shaped like train/search.py's, with distinct (not normalised) numbers to trace positions."""
    rng = np.random.default_rng(seed)
    return [
        {
            "epoch": e,
            "train_loss": 2.0 - 0.1 * e,
            "val_loss": 2.2 - 0.05 * e,
            "train_eval_loss": 1.9 - 0.1 * e,
            "val_eval_loss": 2.1 - 0.05 * e,
            "train_acc": 0.15 * e,
            "val_acc": 0.1 * e,
            "alphas_frozen": e == 0,
            "alpha_softmax": {k: rng.random((edges, len(PENG))).tolist() for k in ("normal", "reduce")},
        }
        for e in range(epochs)
    ]


def test_history_has_one_epoch_x_edge_x_op_array_per_kind_in_record_order():
    records = hand_records()
    history = alpha_history(records)
    assert history.kinds == ("normal", "reduce") and history.nodes == 4
    assert all(w.shape == (3, 14, 8) for w in history.weights.values())
    assert history.op_names == {"normal": PENG, "reduce": PENG}
    for e, i, j in [(0, 0, 0), (2, 13, 7), (1, 5, 3), (2, 0, 6)]:
        for kind in history.kinds:
            assert history.weights[kind][e, i, j] == records[e]["alpha_softmax"][kind][i][j]
    assert list(history.epochs) == [0, 1, 2]
    labels = history.edge_labels
    assert labels[:5] == ("c_{k-2}→0", "c_{k-1}→0", "c_{k-2}→1", "c_{k-1}→1", "0→1") and labels[-1] == "2→3"


def test_records_json_file_or_run_folder_read_the_same(tmp_path):
    records = hand_records(epochs=2)
    (tmp_path / "records.json").write_text(json.dumps(records))
    by_file, by_folder = alpha_history(tmp_path / "records.json"), alpha_history(str(tmp_path))
    for kind in ("normal", "reduce"):
        np.testing.assert_array_equal(by_file.weights[kind], by_folder.weights[kind])
    assert load_records(tmp_path) == records


def test_other_op_sets_and_cell_sizes_with_explicit_op_names():
    records = [{"epoch": 7, "alpha_softmax": {"x": [[0.25, 0.75]] * 5}}]
    history = alpha_history(records, op_names={"x": ("a", "b")})
    assert history.nodes == 2 and history.edge_labels == ("c_{k-2}→0", "c_{k-1}→0", "c_{k-2}→1", "c_{k-1}→1", "0→1")
    assert history.weights["x"].shape == (1, 5, 2) and list(history.epochs) == [7]


@pytest.mark.parametrize(
    ("records", "match"),
    [
        ([], "at least one epoch record"),
        ([{"epoch": 0, "train_loss": 1.0}], "no 'alpha_softmax'"),
        ({"epoch": 0}, "list of per-epoch dicts"),
        ([{"alpha_softmax": {"mystery": [[0.5, 0.5]] * 14}}], "no op names"),
        ([{"alpha_softmax": {"normal": [[0.5, 0.5]] * 14}}], "2 weights per edge, but 8 op names"),
        ([{"alpha_softmax": {"normal": [[1 / 8] * 8] * 6}}], "6 edges is no cell's edge count"),
        (
            [{"alpha_softmax": {"normal": [[0.5] * 8] * 14}}, {"alpha_softmax": {"normal": [[0.5] * 8] * 9}}],
            "edges x ops table of numbers",
        ),
    ],
)
def test_bad_records_raise_value_errors_naming_what_was_expected(records, match):
    with pytest.raises(ValueError, match=match):
        alpha_history(records)


def test_missing_records_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"records\.json"):
        load_records(tmp_path)


def test_parameter_free_mass_of_uniform_weights_is_the_share_of_free_ops():
    records = [{"alpha_softmax": {"normal": [[1 / 8] * 8] * 14}}]
    assert parameter_free_mass(records)["normal"] == pytest.approx([3 / 8])  # MPool_3, APool_3, Skip_Con
