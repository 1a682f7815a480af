"""nas/derived.py: the derived network of a genotype (Peng Sec. 3; PV-NAS Sec. 4.2.2, Fig. 5b)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from videonas_lite.nas import ops
from videonas_lite.nas.derived import DerivedNetwork, derived_net, drop_path, peng_layout, pvnas_layout
from videonas_lite.nas.genotype import Genotype, from_run

REFERENCE_RUN = Path(__file__).parents[1] / "benchmarks" / "results" / "reference-search"

# one node per cell: a parameter-free pool on input 0 and a 1x1x1 conv on input 1
TINY_PENG = Genotype("peng", 1, {"normal": [("MPool_3", 0, 0), ("Conv_1", 1, 0)],
                                 "reduce": [("APool_3", 0, 0), ("Conv_1", 1, 0)]})  # fmt: skip
TINY_PVNAS = Genotype("pvnas", 1, {
    "S-NC": [("1x3x3 max pooling", 0, 0), ("1x3x3 ave pooling", 1, 0)],
    "S-RC": [("1x3x3 max pooling", 0, 0), ("1x3x3 ave pooling", 1, 0)],
    "T-NC": [("1x3x3 max pooling", 0, 0), ("3+1x1 temporal conv", 1, 0)],
    "T-RC": [("1x3x3 max pooling", 0, 0), ("3+1x1 temporal conv", 1, 0)],
})  # fmt: skip


def params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_layouts_follow_the_papers():
    assert peng_layout(6) == ("normal", "normal", "reduce", "normal", "reduce", "normal")  # every two layers
    assert pvnas_layout(1) == ("S-NC", "S-RC", "S-NC", "T-RC", "T-NC", "T-RC", "T-NC")
    assert len(pvnas_layout(2)) == 11  # PV-NAS-M's 11 layers
    with pytest.raises(ValueError, match=r"k .* must be a positive integer, got 0"):
        pvnas_layout(0)


def test_parameter_count_of_a_tiny_peng_network_by_hand():
    """C = 2, one node, depth 6, 3 classes; every BN affine (2 parameters per channel).

    A cell of width c with inputs of a and b channels: preprocessing a c + 2c and b c + 2c (a factorized
    reduce has c/2 + c/2 filters of a weights: also a c), the pool its BN's 2c, Conv_1 c^2 + 2c.
    """
    cell = lambda a, b, c: a * c + 2 * c + b * c + 2 * c + 2 * c + c * c + 2 * c  # noqa: E731
    stem = 3 * 9 * 6 + 2 * 6  # 1x3x3 conv 3 -> 3C, BN
    cells = [cell(6, 6, 2), cell(6, 2, 2), cell(2, 2, 4), cell(2, 4, 4), cell(4, 4, 8), cell(4, 8, 8)]
    assert cells == [44, 36, 64, 72, 192, 224]
    classifier = 8 * 3 + 3
    model = derived_net(TINY_PENG, 3, channels=2)
    assert params(model) == stem + sum(cells) + classifier == 833
    assert all(m.affine and m.track_running_stats for m in model.modules() if isinstance(m, torch.nn.BatchNorm3d))


def test_parameter_count_of_a_tiny_pvnas_network_by_hand():
    """Spatial cells hold two pools (a BN each: 2c); temporal ones a pool and '3+1x1' (1x1x1 then 3x1x1 conv:
    c^2 + 3 c^2 + 2c)."""
    spatial = lambda a, b, c: (a + b) * c + 4 * c + 2 * 2 * c  # noqa: E731
    temporal = lambda a, b, c: (a + b) * c + 4 * c + 2 * c + 4 * c * c + 2 * c  # noqa: E731
    stem = 3 * 9 * 6 + 2 * 6
    # S-NC, S-RC, S-NC, T-RC, T-NC, T-RC, T-NC with C = 2: widths 2, 4, 4, 8, 8, 16, 16
    cells = [spatial(6, 6, 2), spatial(6, 2, 4), spatial(2, 4, 4), temporal(4, 4, 8), temporal(4, 8, 8),
             temporal(8, 8, 16), temporal(8, 16, 16)]  # fmt: skip
    model = derived_net(TINY_PVNAS, 5, channels=2)
    assert params(model) == stem + sum(cells) + 16 * 5 + 5


@pytest.mark.parametrize("space", ["peng", "pvnas"])
def test_output_shapes(space, one_thread):
    genotype = from_run(REFERENCE_RUN) if space == "peng" else TINY_PVNAS
    model = derived_net(genotype, 4, channels=4)
    seen = []
    model.cells[-1].register_forward_hook(lambda m, i, out: seen.append(out.shape))
    assert model(torch.randn(2, 3, 4, 16, 16)).shape == (2, 4)
    nodes, reductions = genotype.nodes, sum(genotype.reduction(k) for k in model.layout)
    assert seen == [(2, nodes * 4 * 2**reductions, 4, 16 // 2**reductions, 16 // 2**reductions)]
    assert model.drop_prob == (0.0 if space == "peng" else 0.1) and model.dropout.p == (0.0 if space == "peng" else 0.4)


def test_drop_path_acts_in_training_mode_only(one_thread):
    x = torch.randn(4, 3, 2, 8, 8)
    torch.manual_seed(0)
    model = derived_net(TINY_PVNAS, 3, channels=2, drop_path=0.5, dropout=0.0)
    plain = derived_net(TINY_PVNAS, 3, channels=2, drop_path=0.0, dropout=0.0)
    plain.load_state_dict(model.state_dict())
    model.eval(), plain.eval()
    assert torch.equal(model(x), plain(x))
    model.train(), plain.train()
    outputs = [model(x) for _ in range(3)]
    assert not all(torch.equal(outputs[0], o) for o in outputs[1:])
    assert torch.equal(plain(x), plain(x))
    torch.manual_seed(0)
    y = drop_path(torch.ones(1000, 2, 1, 1, 1), 0.25)
    assert y.unique().tolist() == [0.0, torch.tensor(4 / 3).item()] and 0.7 < (y[:, 0] > 0).float().mean() < 0.8
    assert all(torch.equal(y[i, 0], y[i, 1]) for i in range(10))  # one draw per sample


def test_a_seed_fixes_weights_and_training_outputs(one_thread):
    x = torch.randn(2, 3, 2, 8, 8)
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = derived_net(TINY_PVNAS, 3, channels=2)
        runs.append((model.state_dict(), model(x)))
    (a, ya), (b, yb) = runs
    assert all(torch.equal(a[k], b[k]) for k in a) and torch.equal(ya, yb)


def test_ops_are_the_searchs_modules_with_affine_bn():
    model = derived_net(TINY_PENG, 3, channels=2)
    conv = model.cells[0].ops[1]
    pool = model.cells[0].ops[0]  # a pool, then an affine BN, as in the search cell (ops.make_edge_op)
    assert isinstance(conv, ops.Conv2Plus1D) and isinstance(pool[0], ops.Pool)
    assert conv[-1].affine and pool[1].affine and pool[1].track_running_stats


def test_bad_layouts_and_knobs_are_one_line_errors():
    with pytest.raises(ValueError, match=r"layout: expected cell kinds of the peng genotype \(normal, reduce\)"):
        DerivedNetwork(TINY_PENG, ["normal", "S-NC"], 3, 2)
    with pytest.raises(ValueError, match="dropout must be a probability in"):
        derived_net(TINY_PENG, 3, dropout=1.0)
    with pytest.raises(ValueError, match="a peng network takes layers"):
        derived_net(TINY_PENG, 3, k=2)
