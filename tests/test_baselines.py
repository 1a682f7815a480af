"""nas/baselines.py: the hand-designed contenders and PV-NAS's random cells."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from videonas_lite.nas.baselines import BASELINES, C3D, FrameAverage2D, build_baseline, random_genotype
from videonas_lite.nas.genotype import PARAMETER_FREE, Genotype, GenotypeError, space_cells
from videonas_lite.train.evaluate import parameter_count


@pytest.mark.parametrize("name", list(BASELINES))
def test_each_baseline_maps_tiny_clips_to_class_scores_and_trains_a_step(name, one_thread):
    torch.manual_seed(0)
    model = build_baseline(name, 5)
    clips, labels = torch.randn(2, 3, 4, 16, 16), torch.tensor([0, 3])
    assert model(clips).shape == (2, 5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    before = [p.detach().clone() for p in model.parameters()]
    loss = F.cross_entropy(model(clips), labels)
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_torchvision_networks_run_down_to_a_single_voxel(one_thread):
    """Their stride-2 convs are padded, so no dimension reaches zero (the module docstring's claim)."""
    for name in ("r3d_18", "r2plus1d_18", "mc3_18"):
        model = build_baseline(name, 3).eval()
        assert model(torch.randn(1, 3, 1, 1, 1)).shape == (1, 3), name
        assert model.fc.out_features == 3
    assert C3D(3, width=2).eval()(torch.randn(1, 3, 1, 1, 1)).shape == (1, 3)  # ceil-mode pools


def test_frame_average_parameters_match_the_formula():
    for w, classes in ((8, 4), (3, 7)):
        assert parameter_count(FrameAverage2D(classes, width=w)) == 90 * w * w + 41 * w + 4 * w * classes + classes
    w, stages, classes = 2, 4, 5  # the general formula of the docstring
    convs = 27 * w + sum(9 * w * w * 2 ** (2 * i - 1) for i in range(1, stages))
    expected = convs + 2 * w * (2**stages - 1) + w * 2 ** (stages - 1) * classes + classes
    assert parameter_count(FrameAverage2D(classes, width=w, stages=stages)) == expected


def test_frame_average_is_tsns_consensus_of_frame_scores(one_thread):
    model = FrameAverage2D(4, width=2).eval()
    clips = torch.randn(2, 3, 3, 8, 8)
    per_frame = torch.stack([model.classifier(model.frames(clips[:, :, t])) for t in range(3)], dim=1)
    assert torch.allclose(model(clips), per_frame.mean(dim=1), atol=1e-6)
    assert torch.allclose(model(clips.flip(2)), model(clips), atol=1e-6)  # order-free: it sees no motion


def test_c3d_has_c3ds_eight_convs_and_five_pools():
    model = C3D(4, width=2)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    pools = [m for m in model.modules() if isinstance(m, torch.nn.MaxPool3d)]
    assert [c.out_channels for c in convs] == [2, 4, 8, 8, 16, 16, 16, 16]
    assert all(c.kernel_size == (3, 3, 3) for c in convs) and len(pools) == 5
    assert pools[0].kernel_size == (1, 2, 2) and all(p.kernel_size == (2, 2, 2) for p in pools[1:])


def test_unknown_names_and_bad_sizes_are_one_line_errors():
    with pytest.raises(ValueError, match=r"^unknown architecture 'resnet' \(expected one of r3d_18, r2plus1d_18"):
        build_baseline("resnet", 4)
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        build_baseline("tsn_2d", 0)
    with pytest.raises(ValueError, match="C3D width must be a positive integer, got 0"):
        C3D(4, width=0)
    with pytest.raises(ValueError, match=r"expected clips \(N, C, T, H, W\), got shape \(2, 3, 8, 8\)"):
        FrameAverage2D(4)(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("space", ["peng", "pvnas"])
def test_random_cells_have_at_least_four_convs_and_are_valid(space):
    kinds = space_cells(space)
    drawn = [random_genotype(space, seed) for seed in range(20)]
    for g in drawn:
        assert isinstance(g, Genotype) and g.space == space and g.nodes == 4 and set(g) == set(kinds)
        assert Genotype.from_dict(g.to_dict()) == g  # passes every check of a genotype file
        for kind, cell in g.items():
            assert len(cell) == 8 and sum(op not in PARAMETER_FREE for op, _, _ in cell) >= 4, (kind, cell)
            assert all(op in kinds[kind][0] and op != "Zero" for op, _, _ in cell)
    assert random_genotype(space, 3) == drawn[3] and random_genotype(space, 3).to_json() == drawn[3].to_json()
    assert len(set(drawn)) == 20  # different seeds, different cells
    assert drawn[0].provenance["random"] == {"seed": 0, "min_convs": 4}


def test_random_cells_obey_any_rule_and_refuse_impossible_ones():
    strict = random_genotype("pvnas", 0, min_convs=8, nodes=4)
    assert all(op not in PARAMETER_FREE for cell in strict.values() for op, _, _ in cell)
    loose = [random_genotype("peng", s, min_convs=0, nodes=2) for s in range(40)]
    assert any(sum(op in PARAMETER_FREE for op, _, _ in g["normal"]) >= 3 for g in loose)  # the rule off: pools too
    with pytest.raises(ValueError, match=r"min_convs must be in \[0, 4\] \(two edges per node, 2 nodes\), got 5"):
        random_genotype("peng", 0, min_convs=5, nodes=2)
    with pytest.raises(GenotypeError, match="unknown search space 'darts'"):
        random_genotype("darts", 0)
