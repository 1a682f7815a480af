"""Mixed edges, search cells and search networks (Peng Sec. 2.1; PV-NAS Sec. 3.2, Eq. 2; Sec. 4.2.1).

Tiny sizes throughout (C = 2..4, T = 3..4, H = W = 5..8). The fused forward's equality with the definition is
tests/test_fused.py's.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.cells import MixedOp, SearchCell, edge_list
from videonas_lite.nas.cost import count_parameters
from videonas_lite.nas.genotype import derive
from videonas_lite.nas.networks import SearchNetwork, peng_search_net, pvnas_search_net

OP_SETS = ["peng", "pvnas_spatial", "pvnas_temporal"]
TOL = {"atol": 1e-10, "rtol": 1e-10}


pytestmark = pytest.mark.usefixtures("one_thread")


def _randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


# -- (b) MixedOp is PV-NAS Eq. 2 --------------------------------------------------------------------


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("op_set", OP_SETS)
def test_mixed_op_is_the_softmax_weighted_sum(op_set, stride):
    """PV-NAS Eq. 2: o_bar(x) = sum_o exp(alpha_o) / sum_o' exp(alpha_o') * o(x), built here by hand."""
    torch.manual_seed(stride)
    names = ops.op_names(op_set)
    mixed = MixedOp(3, stride, names).double().train()
    x, alpha = _randn(2, 3, 3, 6, 6), 2 * _randn(len(names))
    weights = alpha.exp() / alpha.exp().sum()
    by_hand = torch.zeros(2, 3, 3, 6 // stride, 6 // stride, dtype=torch.float64)
    for w, op in zip(weights, mixed.ops, strict=True):
        by_hand = by_hand + w * op(x)
    torch.testing.assert_close(mixed(x, alpha.softmax(-1)), by_hand, **TOL)
    zero = mixed.ops[names.index("Zero")](x)
    assert zero.shape == by_hand.shape and not zero.any()


def test_mixed_op_of_zero_only_gives_zeros_of_the_strided_shape():
    out = MixedOp(2, 2, ("Zero",))(torch.randn(1, 2, 3, 5, 5), torch.ones(1))
    assert out.shape == (1, 2, 3, 3, 3) and not out.any()


def test_search_pools_are_followed_by_an_affine_free_bn():
    """DARTS's rule, kept here: a pool's output is normalised like the conv ops' outputs."""
    mixed = MixedOp(2, 1, ops.op_names("peng"))
    for name, op in zip(mixed.op_names, mixed.ops, strict=True):
        if name.endswith("Pool_3"):
            assert isinstance(op[-1], nn.BatchNorm3d) and not op[-1].affine


# -- (c) gradients reach every alpha ----------------------------------------------------------------


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_every_alpha_entry_gets_a_nonzero_gradient(builder):
    """Through the softmax even the Zero column moves: d softmax_z / d alpha_o != 0 for every o."""
    torch.manual_seed(2)
    net = builder(4, channels=2, nodes=2).double().train()
    F.cross_entropy(net(_randn(3, 3, 3, 9, 9)), torch.tensor([0, 1, 3])).backward()
    for kind, alpha in net.alphas.items():
        assert alpha.grad is not None, kind
        assert (alpha.grad != 0).all(), f"{kind}: zero gradient at {(alpha.grad == 0).nonzero().tolist()}"
        zero_col = net.op_names[kind].index("Zero")
        assert alpha.grad[:, zero_col].abs().min() > 0


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_zero_op_false_holds_zero_at_weight_0_and_mixes_the_rest(builder):
    """``zero_op=False``: Zero's weight is exactly 0, its alpha gets no gradient, every other alpha does, and the
    other ops' weights are the softmax over their own alphas."""
    torch.manual_seed(2)
    net = builder(4, channels=2, nodes=2, zero_op=False).double().train()
    for alpha in net.alphas.values():
        alpha.data.normal_()
    F.cross_entropy(net(_randn(3, 3, 3, 9, 9)), torch.tensor([0, 1, 3])).backward()
    for kind, w in net.op_weights().items():
        z = net.op_names[kind].index("Zero")
        rest = [i for i in range(w.shape[1]) if i != z]
        assert (w[:, z] == 0).all()
        torch.testing.assert_close(w[:, rest], net.alphas[kind][:, rest].softmax(dim=-1))
        grad = net.alphas[kind].grad
        assert (grad[:, z] == 0).all() and (grad[:, rest] != 0).all(), kind


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_zero_into_node0_false_holds_zero_at_0_on_node0s_two_edges_only(builder):
    """``zero_into_node0=False``: on the two edges into node 0 (rows 0 and 1 of edge_list) Zero weighs exactly 0 and
    its alpha gets no gradient, the rest of those rows is the softmax of their own alphas; every later edge keeps
    Zero in its mixture, with a gradient."""
    torch.manual_seed(3)
    net = builder(4, channels=2, nodes=2, zero_into_node0=False).double().train()
    for alpha in net.alphas.values():
        alpha.data.normal_()
    F.cross_entropy(net(_randn(3, 3, 3, 9, 9)), torch.tensor([0, 1, 3])).backward()
    assert [node for _, node in edge_list(2)][:2] == [0, 0] and 0 not in [node for _, node in edge_list(2)][2:]
    for kind, w in net.op_weights().items():
        z = net.op_names[kind].index("Zero")
        rest = [i for i in range(w.shape[1]) if i != z]
        grad, alpha = net.alphas[kind].grad, net.alphas[kind]
        assert (w[:2, z] == 0).all() and (grad[:2, z] == 0).all(), kind
        torch.testing.assert_close(w[:2, rest], alpha[:2, rest].softmax(dim=-1))
        torch.testing.assert_close(w[2:], alpha[2:].softmax(dim=-1))  # later edges: the papers' mixture, Zero in it
        assert (w[2:, z] > 0).all() and (grad[2:, z] != 0).all(), kind


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_fix_edges_weighs_the_other_edges_0_holds_zero_out_of_the_kept_and_derives_them(builder):
    """``fix_edges``: a hand-picked topology (not the one the alphas would derive) is what the derivation returns;
    edges outside it weigh exactly 0 with no alpha gradient; on kept edges Zero weighs 0 with no gradient and the
    other ops are the softmax of their own alphas, with a gradient."""
    torch.manual_seed(4)
    net = builder(4, channels=2, nodes=3).double().train()
    for alpha in net.alphas.values():
        alpha.data.normal_()
    chosen = [(0, 0), (1, 0), (0, 1), (2, 1), (2, 2), (3, 2)]  # (source, node): node 1 skips c_{k-1}, node 2 reads 0..1
    net.fix_edges({kind: [("any", src, node) for src, node in chosen] for kind in net.alphas})
    assert {kind: [(src, node) for _, src, node in cell] for kind, cell in derive(net).items()} == {
        kind: chosen for kind in net.alphas}
    F.cross_entropy(net(_randn(3, 3, 3, 9, 9)), torch.tensor([0, 1, 3])).backward()
    kept = torch.tensor([e in chosen for e in edge_list(3)])
    for kind, w in net.op_weights().items():
        z = net.op_names[kind].index("Zero")
        rest = [i for i in range(w.shape[1]) if i != z]
        grad, alpha = net.alphas[kind].grad, net.alphas[kind]
        assert (w[~kept] == 0).all() and (grad[~kept] == 0).all(), kind
        assert (w[kept, z] == 0).all() and (grad[kept, z] == 0).all(), kind
        torch.testing.assert_close(w[kept][:, rest], alpha[kept][:, rest].softmax(dim=-1))
        assert (grad[kept][:, rest] != 0).all(), kind
    with pytest.raises(ValueError, match=r"edges \[\(5, 0\)\] are not in a 3-node cell"):
        net.fix_edges({kind: [("any", 5, 0)] for kind in net.alphas})


# -- (d) architecture and weight parameters partition the parameters -------------------------------


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_arch_and_weight_parameters_partition_parameters(builder):
    net = builder(3, channels=2, nodes=2)
    arch = {id(p) for p in net.arch_parameters()}
    weights = [id(p) for p in net.weight_parameters()]
    everything = {id(p) for p in net.parameters()}
    assert len(weights) == len(set(weights))
    assert arch.isdisjoint(weights)
    assert arch | set(weights) == everything
    assert arch == {id(a) for a in net.alphas.values()}
    assert len(arch) == len(net.alphas) == len({s.kind for s in net.plan})


# -- (e) shapes: logits, per-cell channels and resolution ----------------------------------------


def _cell_outputs(net: SearchNetwork, clips: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, ...]]]:
    shapes: list[tuple[int, ...]] = []
    hooks = [cell.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape))) for cell in net.cells]
    try:
        logits = net(clips)
    finally:
        for h in hooks:
            h.remove()
    return logits, shapes


@pytest.mark.parametrize("size", [9, 12])
def test_peng_network_shapes(size):
    """Peng: 3 cells, reductions at cells 1 and 2, cell widths C, 2C, 4C (n C channels out), T kept."""
    c, nodes, frames = 2, 4, 4
    net = peng_search_net(5, channels=c, nodes=nodes)
    logits, shapes = _cell_outputs(net, torch.randn(2, 3, frames, size, size))
    assert logits.shape == (2, 5)
    assert [cell.reduction for cell in net.cells] == [False, True, True]
    h1 = (size + 1) // 2
    h2 = (h1 + 1) // 2
    assert shapes == [(2, nodes * c, frames, size, size), (2, nodes * 2 * c, frames, h1, h1),
                      (2, nodes * 4 * c, frames, h2, h2)]  # fmt: skip
    assert {k: tuple(a.shape) for k, a in net.alphas.items()} == {"normal": (14, 8), "reduce": (14, 8)}
    assert net.classifier.in_features == nodes * 4 * c


@pytest.mark.parametrize("size", [9, 12])
def test_pvnas_network_shapes(size):
    """PV-NAS Fig. 5a: S-NC -> S-RC -> T-NC -> T-RC; alphas (14, 6) on O_s and (14, 8) on O_t."""
    c, nodes, frames = 2, 4, 3
    net = pvnas_search_net(4, channels=c, nodes=nodes)
    logits, shapes = _cell_outputs(net, torch.randn(2, 3, frames, size, size))
    assert logits.shape == (2, 4)
    assert [s.kind for s in net.plan] == ["S-NC", "S-RC", "T-NC", "T-RC"]
    assert [cell.reduction for cell in net.cells] == [False, True, False, True]
    h1 = (size + 1) // 2
    h2 = (h1 + 1) // 2
    assert shapes == [(2, nodes * c, frames, size, size), (2, nodes * 2 * c, frames, h1, h1),
                      (2, nodes * 2 * c, frames, h1, h1), (2, nodes * 4 * c, frames, h2, h2)]  # fmt: skip
    assert {k: tuple(a.shape) for k, a in net.alphas.items()} == {
        "S-NC": (14, 6), "S-RC": (14, 6), "T-NC": (14, 8), "T-RC": (14, 8)
    }  # fmt: skip
    assert net.op_names["S-NC"] == ops.op_names("pvnas_spatial")
    assert net.op_names["T-RC"] == ops.op_names("pvnas_temporal")


@pytest.mark.parametrize(("name", "shape"), [("APool_3", (1, 2, 3, 2, 2)), ("APool_3", (1, 2, 2, 8, 8)),
                                             ("1x3x3 ave pooling", (1, 2, 3, 2, 2))])  # fmt: skip
def test_average_pools_accept_inputs_smaller_than_the_kernel(name, shape):
    """Like the max pools (checked first): 'same' padding keeps (T, H, W) for any size >= 1."""
    x = torch.randn(*shape)
    assert ops.make_op(name.replace("ave", "max").replace("APool", "MPool"), 2, 1, False)(x).shape == shape
    assert ops.make_op(name, 2, 1, False)(x).shape == shape


def test_pvnas_network_accepts_8x8_clips():
    """Two reductions take 8x8 to 2x2, where the T-RC cell's intermediate nodes average-pool."""
    assert pvnas_search_net(3, channels=2, nodes=2)(torch.randn(2, 3, 3, 8, 8)).shape == (2, 3)


# -- (f) parameter count of a search cell, in closed form -------------------------------------------


def _skip(c: int, s: int) -> int:
    return 0 if s == 1 else c * c  # a factorized reduce: two 1x1x1 convs to C/2 and C - C/2 channels


OP_PARAMS = {  # weights of one op with C channels at stride s (search BNs are affine-free: no parameters)
    "Conv_1": lambda c, s: c * c,
    "Conv_3": lambda c, s: 9 * c * c + 3 * c * c,  # 1x3x3 then 3x1x1
    "SpeConv_3": lambda c, s: 3 * c + 3 * c + 3 * c + c * c,  # depthwise 1x3x1, 1x1x3, 3x1x1; pointwise
    "DilConv_3": lambda c, s: 9 * c + 3 * c + c * c,  # depthwise 1x3x3 (dilated), 3x1x1; pointwise
    "MPool_3": lambda c, s: 0,
    "APool_3": lambda c, s: 0,
    "Skip_Con": _skip,
    "Zero": lambda c, s: 0,
    "Identity": _skip,
    "1x3x3 ave pooling": lambda c, s: 0,
    "1x3x3 max pooling": lambda c, s: 0,
    "1x3x3 separable conv": lambda c, s: 2 * (9 * c + c * c),  # DARTS sep_conv: the block twice
    "1x3x3 dilated separable conv": lambda c, s: 9 * c + c * c,
    "3+3x3 temporal conv": lambda c, s: 9 * c * c + 3 * c * c,
    "3+1x1 temporal conv": lambda c, s: c * c + 3 * c * c,
}


def cell_params_closed_form(c_pp: int, c_p: int, c: int, reduction: bool, op_set: str, nodes: int) -> int:
    """Preprocessing (C_pp C + C_p C, also as a factorized reduce) + sum over the M edges of every op's weights."""
    names = ops.op_names(op_set)
    edges = sum(OP_PARAMS[n](c, 2 if reduction and src < 2 else 1) for src, _ in edge_list(nodes) for n in names)
    return c_pp * c + c_p * c + edges


@pytest.mark.parametrize("c", [2, 3, 4])
@pytest.mark.parametrize(("op_set", "reduction", "reduction_prev"), [
    ("peng", False, False), ("peng", True, False), ("peng", False, True),
    ("pvnas_spatial", False, False), ("pvnas_spatial", True, True), ("pvnas_temporal", True, False),
])  # fmt: skip
def test_search_cell_parameter_count_closed_form(op_set, reduction, reduction_prev, c):
    assert set(ops.op_names(op_set)) <= set(OP_PARAMS)
    for nodes in (1, 4):
        cell = SearchCell(5, 7, c, reduction, reduction_prev, ops.op_names(op_set), nodes)
        assert count_parameters(cell) == cell_params_closed_form(5, 7, c, reduction, op_set, nodes)


def test_closed_form_example_peng_normal_cell():
    """One number written out: Peng's normal cell, C = 4, n = 4, inputs of 12 channels (the stem's 3C)."""
    per_edge = 16 + 12 * 16 + (9 * 4 + 16) + (12 * 4 + 16)  # Conv_1, Conv_3, SpeConv_3, DilConv_3
    cell = SearchCell(12, 12, 4, False, False, ops.op_names("peng"), 4)
    assert count_parameters(cell) == 2 * 12 * 4 + 14 * per_edge == 4632


# -- (g) bad inputs give clear errors ---------------------------------------------------------------


def test_network_rejects_a_4d_input():
    net = peng_search_net(3, channels=2, nodes=1)
    with pytest.raises(ValueError, match=r"expected clips of shape \(N, C, T, H, W\)"):
        net(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("builder", [peng_search_net, pvnas_search_net])
def test_network_rejects_fewer_than_two_classes(builder):
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        builder(1, channels=2)


def test_network_rejects_one_channel():
    with pytest.raises(ValueError, match="channels must be >= 2"):
        peng_search_net(3, channels=1)


def test_unknown_op_and_bad_stride_are_named():
    with pytest.raises(KeyError, match="unknown op 'Conv_5'"):
        MixedOp(2, 1, ("Conv_5", "Zero"))
    with pytest.raises(ValueError, match="stride must be 1 or 2"):
        MixedOp(2, 3, ("Conv_1",))
