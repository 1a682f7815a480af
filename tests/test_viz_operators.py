"""viz/operators.py: the op cost table, the 3D vs (2+1)D cost figure, receptive fields grouped by footprint."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from videonas_lite.nas.cost import impulse_footprint, op_table
from videonas_lite.nas.ops import PENG_OPS, make_op
from videonas_lite.viz.operators import group_footprints, op_cost_frame, plot_conv_costs, plot_receptive_fields


def test_op_cost_frame_holds_op_table_side_by_side():
    frame = op_cost_frame(4, (4, 8, 8))
    normal, reduction = op_table(4, (4, 8, 8), stride=1), op_table(4, (4, 8, 8), stride=2)
    assert frame.index.names == ["paper", "set", "op"]
    assert list(frame.columns) == ["params, normal", "params, reduction", "MFLOPs, normal", "MFLOPs, reduction"]
    assert len(frame) == len(normal)
    conv3 = frame.xs("Conv_3", level="op").iloc[0]
    n3 = next(r for r in normal if r.op == "Conv_3")
    r3 = next(r for r in reduction if r.op == "Conv_3")
    assert conv3["params, normal"] == n3.params and conv3["MFLOPs, reduction"] == round(r3.flops / 1e6, 3)
    with pytest.raises(ValueError, match="clip shape"):
        op_cost_frame(4, (4, 8))


def test_conv_cost_figure_keeps_coinciding_curves_apart():
    widths = [1, 2, 4, 8]
    params = {"3D": [27 * c * c for c in widths], "R(2+1)D": [27 * c * c for c in widths],
              "ours": [12 * c * c for c in widths]}
    flops = {k: [2 * 100 * p for p in v] for k, v in params.items()}
    fig = plot_conv_costs(widths, params, flops)
    ax_p, ax_f, ax_r = fig.axes
    assert ax_p.get_yscale() == ax_f.get_yscale() == "log"
    styles = {(line.get_marker(), line.get_linestyle()) for line in ax_p.get_lines()}
    assert len(styles) == 3  # every curve has its own marker and line style
    ratios = {line.get_label(): line.get_ydata() for line in ax_r.get_lines() if not line.get_label().startswith("_")}
    np.testing.assert_allclose(ratios["ours"], 12 / 27)
    np.testing.assert_allclose(ratios["3D"], 1.0)
    assert fig.get_size_inches()[0] <= 10
    plt.close(fig)
    with pytest.raises(ValueError, match="same labels"):
        plot_conv_costs(widths, params, {"3D": flops["3D"]})


def test_identical_footprints_share_one_panel():
    torch.manual_seed(0)
    footprints = {name: impulse_footprint(make_op(name, 2, 1), 2, (5, 9, 9)) for name in PENG_OPS}
    groups = group_footprints(footprints)
    names = dict((n, tuple(g)) for g, _ in groups for n in g)
    assert names["Conv_1"] == names["Skip_Con"]  # both see one pixel of one frame
    assert names["MPool_3"] == names["APool_3"]
    assert names["DilConv_3"] != names["Conv_3"]
    assert sum(len(g) for g, _ in groups) == len(PENG_OPS)
    fig = plot_receptive_fields(footprints)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert len(titled) == len(groups)
    assert all(ax.title.get_fontsize() >= 9 for ax in titled) and fig.get_size_inches()[0] <= 10
    plt.close(fig)
    with pytest.raises(ValueError, match="too small"):
        plot_receptive_fields({"Conv_1": torch.ones(1, 3, 3, dtype=torch.bool)})
