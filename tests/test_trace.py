"""nas/trace.py: one row per layer of a search network, shapes and weights that add up, hooks removed."""

from __future__ import annotations

import pytest
import torch

from videonas_lite.nas.cost import count_parameters
from videonas_lite.nas.networks import peng_search_net, pvnas_search_net
from videonas_lite.nas.trace import trace_cells


@pytest.mark.parametrize("make", [lambda: peng_search_net(3, channels=2, nodes=2),
                                  lambda: pvnas_search_net(3, channels=2, nodes=2)])
def test_rows_follow_the_plan_and_weights_add_up(make, one_thread):
    torch.manual_seed(0)
    net = make().eval()
    clips = torch.randn(2, 3, 4, 16, 16)
    logits, rows = trace_cells(net, clips)
    assert logits.shape == (2, 3)
    with torch.no_grad():
        torch.testing.assert_close(logits, net(clips))
    assert [r["layer"] for r in rows] == ["stem", *[f"cell {k}" for k in range(len(net.cells))], "classifier"]
    assert [r["kind"] for r in rows[1:-1]] == [spec.kind for spec in net.plan]
    alphas = sum(a.numel() for a in net.arch_parameters())
    assert sum(r["weights"] for r in rows) + alphas == count_parameters(net)
    side = 16
    for row, spec, cell in zip(rows[1:-1], net.plan, net.cells, strict=True):
        side = -(-side // 2) if spec.reduction else side
        n, c, t, h, w = row["output (N, C, T, H, W)"]
        assert (n, t, h, w) == (2, 4, side, side), row  # time is never strided
        assert c == cell.out_channels == row["C (per node)"] * net.nodes
    assert rows[-1]["output (N, C, T, H, W)"] == (2, 3)
    assert not net.stem._forward_hooks and not any(cell._forward_hooks for cell in net.cells)


def test_hooks_are_removed_when_the_pass_fails_and_bad_clips_are_named(one_thread):
    net = peng_search_net(3, channels=2, nodes=2)
    with pytest.raises(RuntimeError):
        trace_cells(net, torch.randn(1, 5, 4, 16, 16))  # 5 colour channels: the stem's conv refuses
    assert not net.stem._forward_hooks and not any(cell._forward_hooks for cell in net.cells)
    with pytest.raises(ValueError, match=r"expected clips of shape \(N, C, T, H, W\)"):
        trace_cells(net, torch.randn(3, 4, 16, 16))
