"""nas/fused.py computes the search cell of nas/cells.py: same outputs, same gradients; unknown layers are refused.

Tiny sizes throughout (C = 2..4, T = 3, H = W = 5..10) and float64, so that the fused forward and the
definition can be compared to ~1e-10 in a few seconds on 2 CPU cores.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.cells import SearchCell, num_edges
from videonas_lite.nas.networks import SearchNetwork, peng_search_net, pvnas_search_net

OP_SETS = ["peng", "pvnas_spatial", "pvnas_temporal"]
TOL = {"atol": 1e-10, "rtol": 1e-10}


pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def _grads(module: nn.Module) -> dict[str, torch.Tensor]:
    missing = [n for n, p in module.named_parameters() if p.grad is None]
    assert not missing, f"parameters without a gradient: {missing}"
    return {n: p.grad.detach().clone() for n, p in module.named_parameters()}


# -- the fused forward equals the definition ---------------------------------------------------------


CELL_CASES = [
    (op_set, reduction, reduction_prev, nodes)
    for op_set, (reduction, reduction_prev), nodes in itertools.product(
        OP_SETS, itertools.product([False, True], repeat=2), range(1, 5)
    )
]


@pytest.mark.parametrize(("op_set", "reduction", "reduction_prev", "nodes"), CELL_CASES)
def test_fused_cell_forward_equals_the_definition(op_set, reduction, reduction_prev, nodes):
    """Outputs and every gradient (cell parameters, both inputs, the op weights) agree to ~1e-10.

    The spatial size alternates odd / even with ``nodes``, so every cell configuration meets both.
    """
    torch.manual_seed(nodes + 10 * reduction + 100 * reduction_prev)
    names = ops.op_names(op_set)
    c_pp, c_p, c, size, frames = 4, 5, 3, 5 + nodes % 2, 3
    cell = SearchCell(c_pp, c_p, c, reduction, reduction_prev, names, nodes).double().train()
    assert cell.fused, "the fast path is the default"
    s0 = _randn(2, c_pp, frames, 2 * size if reduction_prev else size, 2 * size if reduction_prev else size)
    s1 = _randn(2, c_p, frames, size, size)
    op_weights = (2 * _randn(num_edges(nodes), len(names))).softmax(-1)
    results = []
    for fused in (False, True):
        cell.fused = fused
        inputs = [t.clone().requires_grad_() for t in (s0, s1, op_weights)]
        cell.zero_grad(set_to_none=True)
        out = cell(*inputs)
        torch.manual_seed(0)
        (out * torch.randn_like(out)).sum().backward()
        results.append((out.detach(), [t.grad for t in inputs], _grads(cell)))
    (ref, ref_in, ref_p), (fast, fast_in, fast_p) = results
    out_size = (size + 1) // 2 if reduction else size
    assert ref.shape == (2, nodes * c, frames, out_size, out_size)
    torch.testing.assert_close(fast, ref, **TOL)
    for name, a, b in zip(["s0", "s1", "op_weights"], fast_in, ref_in, strict=True):
        torch.testing.assert_close(a, b, **TOL, msg=lambda m, name=name: f"grad of {name}: {m}")
    assert fast_p.keys() == ref_p.keys()
    for name in ref_p:
        torch.testing.assert_close(fast_p[name], ref_p[name], **TOL, msg=lambda m, name=name: f"grad of {name}: {m}")


def _network_pass(net: SearchNetwork, clips: torch.Tensor, labels: torch.Tensor, fused: bool):
    net.fused = fused
    net.zero_grad(set_to_none=True)
    logits = net(clips)
    F.cross_entropy(logits, labels).backward()
    return logits.detach(), _grads(net)


@pytest.mark.parametrize(("builder", "nodes"), [(peng_search_net, 2), (peng_search_net, 4), (pvnas_search_net, 3)])
def test_network_fused_and_definition_agree_including_alpha_gradients(builder, nodes):
    """A SearchNetwork with ``fused=False`` and ``True``: same logits, same gradients for weights AND alphas."""
    torch.manual_seed(1)
    net = builder(3, channels=2, nodes=nodes, alpha_init=1.0).double().train()
    clips, labels = _randn(3, 3, 3, 9, 9), torch.tensor([0, 1, 2])  # 9 -> 5 -> 3
    ref_logits, ref_grads = _network_pass(net, clips, labels, fused=False)
    logits, grads = _network_pass(net, clips, labels, fused=True)
    torch.testing.assert_close(logits, ref_logits, **TOL)
    assert grads.keys() == ref_grads.keys()
    assert any(k.startswith("alphas.") for k in grads)
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], **TOL, msg=lambda m, name=name: f"{name}: {m}")


def test_the_network_flag_reaches_every_cell():
    net = pvnas_search_net(3, channels=2, nodes=1)
    assert net.fused and all(cell.fused for cell in net.cells)
    net.fused = False
    assert not net.fused and not any(cell.fused for cell in net.cells)
    assert not any(c.fused for c in pvnas_search_net(3, channels=2, nodes=1, fused=False).cells)


# -- the fast path refuses what it cannot batch --------------------------------------------------------


def _cell_with(replace) -> tuple[SearchCell, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """A two-node Peng cell whose every ``Conv_3`` is passed through ``replace`` (the op, in place)."""
    names = ops.op_names("peng")
    cell = SearchCell(4, 4, 2, False, False, names, nodes=2).double()
    for mixed in cell.mixed:
        replace(mixed.ops[names.index("Conv_3")])
    op_weights = torch.full((num_edges(2), len(names)), 1 / len(names), dtype=torch.float64)
    return cell, (_randn(2, 4, 3, 5, 5), _randn(2, 4, 3, 5, 5), op_weights)


class Scale(nn.Module):
    """A layer with a parameter that the fast path has no rule for (it must not be taken for a pool)."""

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.gain * x


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        (lambda op: op.append(Scale()), "cannot batch a Scale layer"),
        (lambda op: op.__setitem__(0, nn.Softplus()), "cannot batch a Softplus layer"),
        (lambda op: setattr(op[1], "bias", nn.Parameter(torch.zeros(2, dtype=torch.float64))), "bias-free"),
        (lambda op: op.__setitem__(-1, ops.bn(2, affine=True).double()), "affine-free batch-statistics BN"),
    ],
)
def test_the_fused_forward_refuses_layers_it_cannot_batch(replace, message):
    cell, inputs = _cell_with(replace)
    with pytest.raises(NotImplementedError, match=message):
        cell(*inputs)
    cell.fused = False
    assert cell(*inputs).shape == (2, 4, 3, 5, 5), "the definition computes any op"


def test_the_fused_forward_refuses_edges_with_different_ops():
    cell, inputs = _cell_with(lambda op: None)
    cell.mixed[0].op_names = cell.mixed[0].op_names[::-1]  # edges 0 and 2 leave state 0
    with pytest.raises(ValueError, match="same ops at the same stride"):
        cell(*inputs)
