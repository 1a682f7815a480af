"""The plain reference port of Peng's search network: what a newcomer writes, used by tests and benchmarks.

Taught by notebook 03 (beside nas/cells.py, which it mirrors). Written straight from the paper (Peng Sec. 2.1,
Table 1, Sec. 3 Implementation) and DARTS, with the op definitions of nas/ops.py (same maths, layer order and
widths), but none of the package's tricks and none of its code:

* every candidate op of every edge is its own ``nn.Module`` of ``nn.Conv3d`` layers with degenerate
  kernels (a 1x3x3 conv, then a 3x1x1 conv, ...), on ordinary contiguous tensors;
* a mixed edge loops over its eight ops and a cell loops over its edges, one op at a time;
* each op applies its own ReLU to its input, even when eight ops on five edges read the same state;
* the ``Zero`` op really computes its zeros (``x[..., ::s, ::s].mul(0.)``) and they are weighted and
  added like every other op's output.

Like ``nn.AvgPool3d``, it needs every feature map to be at least 3 frames and 3 x 3 pixels (a clip of at
least 3 x 9 x 9 for three cells); the package's pools also take smaller maps.

An independent cross-check of the package's maths: :meth:`PlainSearchNet.load_from` copies a
``peng_search_net``'s weights and alphas into it, and tests/test_reference.py checks that both give the
same logits and gradients. benchmarks/search_step.py times the package's search step against it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Peng et al. Table 1, in the table's order (the package's ``PENG_OPS`` keys).
OP_NAMES = ("Conv_1", "Conv_3", "SpeConv_3", "DilConv_3", "MPool_3", "APool_3", "Skip_Con", "Zero")


def batch_norm(channels: int) -> nn.BatchNorm3d:
    """The BN that ends every search op: no scale or shift (the alphas weigh the ops), batch statistics."""
    return nn.BatchNorm3d(channels, affine=False, track_running_stats=False)


class ReLUConvBN(nn.Module):
    """``Conv_1``, and the 1x1x1 preprocessing of a cell's inputs: ReLU - Conv(1x1x1) - BN."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv3d(c_in, c_out, kernel_size=1, stride=(1, stride, stride), bias=False)
        self.bn = batch_norm(c_out)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class Conv3(nn.Module):
    """``Conv_3``, a 3x3x3 conv split in (2+1)D: ReLU - Conv(1x3x3) - Conv(3x1x1) - BN."""

    def __init__(self, c: int, stride: int = 1):
        super().__init__()
        self.spatial = nn.Conv3d(c, c, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
        self.temporal = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), bias=False)
        self.bn = batch_norm(c)

    def forward(self, x):
        return self.bn(self.temporal(self.spatial(F.relu(x))))


class SpeConv3(nn.Module):
    """``SpeConv_3``: three depthwise 1D convs (1x3x1, 1x1x3, 3x1x1), a pointwise conv, BN.

    The stride goes to the first conv that spans each spatial axis: H to the 1x3x1, W to the 1x1x3.
    """

    def __init__(self, c: int, stride: int = 1):
        super().__init__()
        self.along_h = nn.Conv3d(c, c, (1, 3, 1), stride=(1, stride, 1), padding=(0, 1, 0), groups=c, bias=False)
        self.along_w = nn.Conv3d(c, c, (1, 1, 3), stride=(1, 1, stride), padding=(0, 0, 1), groups=c, bias=False)
        self.along_t = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), groups=c, bias=False)
        self.pointwise = nn.Conv3d(c, c, 1, bias=False)
        self.bn = batch_norm(c)

    def forward(self, x):
        x = self.along_t(self.along_w(self.along_h(F.relu(x))))
        return self.bn(self.pointwise(x))


class DilConv3(nn.Module):
    """``DilConv_3``: depthwise 1x3x3 conv with dilation 2 (a 5x5 field), depthwise 3x1x1, pointwise, BN."""

    def __init__(self, c: int, stride: int = 1):
        super().__init__()
        self.spatial = nn.Conv3d(
            c, c, (1, 3, 3), stride=(1, stride, stride), padding=(0, 2, 2), dilation=(1, 2, 2), groups=c, bias=False
        )
        self.temporal = nn.Conv3d(c, c, (3, 1, 1), padding=(1, 0, 0), groups=c, bias=False)
        self.pointwise = nn.Conv3d(c, c, 1, bias=False)
        self.bn = batch_norm(c)

    def forward(self, x):
        return self.bn(self.pointwise(self.temporal(self.spatial(F.relu(x)))))


class MaxPool3(nn.Module):
    """``MPool_3``: 3x3x3 max pooling (stride 1 x s x s), then BN as DARTS does in a search network."""

    def __init__(self, c: int, stride: int = 1):
        super().__init__()
        self.pool = nn.MaxPool3d(3, stride=(1, stride, stride), padding=1)
        self.bn = batch_norm(c)

    def forward(self, x):
        return self.bn(self.pool(x))


class AvgPool3(nn.Module):
    """``APool_3``: 3x3x3 average pooling that ignores the padding, then BN."""

    def __init__(self, c: int, stride: int = 1):
        super().__init__()
        self.pool = nn.AvgPool3d(3, stride=(1, stride, stride), padding=1, count_include_pad=False)
        self.bn = batch_norm(c)

    def forward(self, x):
        return self.bn(self.pool(x))


class FactorizedReduce(nn.Module):
    """``Skip_Con`` at stride 2: ReLU, 1x1x1 convs of stride 2 on the even and the odd pixel grid, concat, BN.

    The odd grid is padded by one pixel at the far edge, so both halves have ``ceil(H / 2)`` rows.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv_even = nn.Conv3d(c_in, c_out // 2, 1, stride=(1, 2, 2), bias=False)
        self.conv_odd = nn.Conv3d(c_in, c_out - c_out // 2, 1, stride=(1, 2, 2), bias=False)
        self.bn = batch_norm(c_out)

    def forward(self, x):
        x = F.relu(x)
        odd = F.pad(x, (0, 1, 0, 1))[:, :, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_even(x), self.conv_odd(odd)], dim=1))


class Identity(nn.Module):
    """``Skip_Con`` at stride 1."""

    def forward(self, x):
        return x


class Zero(nn.Module):
    """``Zero``: no connection. Computed as a naive port does, by multiplying the (strided) input by 0."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, :, :: self.stride, :: self.stride].mul(0.0)


def make_op(name: str, c: int, stride: int) -> nn.Module:
    if name == "Conv_1":
        return ReLUConvBN(c, c, stride)
    if name == "Conv_3":
        return Conv3(c, stride)
    if name == "SpeConv_3":
        return SpeConv3(c, stride)
    if name == "DilConv_3":
        return DilConv3(c, stride)
    if name == "MPool_3":
        return MaxPool3(c, stride)
    if name == "APool_3":
        return AvgPool3(c, stride)
    if name == "Skip_Con":
        return Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "Zero":
        return Zero(stride)
    raise ValueError(f"unknown op {name!r}")


class MixedOp(nn.Module):
    """One edge: ``sum_o softmax(alpha)_o * o(x)`` over the eight ops, one op after the other."""

    def __init__(self, c: int, stride: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, c, stride) for name in OP_NAMES)

    def forward(self, x, weights):
        return sum(w * op(x) for w, op in zip(weights, self.ops, strict=True))


class Cell(nn.Module):
    """Two preprocessed inputs, ``nodes`` intermediate nodes, each the sum of a mixed edge from every earlier state.

    Edges in DARTS order: node 0's two inputs, then node 1's three, ...; with a reduction, the edges that
    read the two cell inputs have stride 2.
    """

    def __init__(self, nodes: int, c_prev_prev: int, c_prev: int, c: int, reduction: bool, reduction_prev: bool):
        super().__init__()
        self.nodes, self.reduction = nodes, reduction
        self.preprocess0 = FactorizedReduce(c_prev_prev, c) if reduction_prev else ReLUConvBN(c_prev_prev, c)
        self.preprocess1 = ReLUConvBN(c_prev, c)
        self.edges = nn.ModuleList()
        for i in range(nodes):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self.edges.append(MixedOp(c, stride))

    def forward(self, s0, s1, weights):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        edge = 0
        for _ in range(self.nodes):
            node = 0
            for state in states:
                node = node + self.edges[edge](state, weights[edge])
                edge += 1
            states.append(node)
        return torch.cat(states[2:], dim=1)


class PlainSearchNet(nn.Module):
    """Peng's N(C): stem (1x3x3 conv + BN to 3C), ``layers`` cells (reductions at L/3 and 2L/3), pool, linear."""

    def __init__(self, num_classes: int, channels: int = 4, layers: int = 3, nodes: int = 4):
        super().__init__()
        self.nodes = nodes
        c_stem = 3 * channels
        self.stem = nn.Sequential(
            nn.Conv3d(3, c_stem, (1, 3, 3), padding=(0, 1, 1), bias=False), nn.BatchNorm3d(c_stem)
        )
        c_prev_prev, c_prev, c, reduction_prev = c_stem, c_stem, channels, False
        self.cells = nn.ModuleList()
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c = 2 * c
            self.cells.append(Cell(nodes, c_prev_prev, c_prev, c, reduction, reduction_prev))
            c_prev_prev, c_prev, reduction_prev = c_prev, nodes * c, reduction
        self.classifier = nn.Linear(c_prev, num_classes)
        edges = (nodes + 1) * (nodes + 2) // 2 - 1
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(OP_NAMES)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(OP_NAMES)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alphas_")]

    def forward(self, clips):
        weights_normal = F.softmax(self.alphas_normal, dim=-1)
        weights_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(clips)
        for cell in self.cells:
            weights = weights_reduce if cell.reduction else weights_normal
            s0, s1 = s1, cell(s0, s1, weights)
        return self.classifier(s1.mean(dim=(2, 3, 4)))

    @torch.no_grad()
    def load_from(self, net) -> PlainSearchNet:
        """Copy the weights and alphas of a package ``peng_search_net(...)`` of the same size, module by module.

        The package keeps each op's parameters in the same order as this port (spatial conv before
        temporal, depthwise convs before the pointwise one, even grid before odd); every shape is checked.
        """
        if len(net.cells) != len(self.cells):
            raise ValueError(f"{len(net.cells)} cells in the package network, {len(self.cells)} here")
        _copy(self.stem, net.stem, "stem")
        for k, (mine, theirs) in enumerate(zip(self.cells, net.cells, strict=True)):
            if tuple(theirs.op_names) != OP_NAMES or mine.reduction != theirs.reduction:
                raise ValueError(f"cell {k}: not Peng's op set, or reduction differs")
            _copy(mine.preprocess0, theirs.preprocess0, f"cells.{k}.preprocess0")
            _copy(mine.preprocess1, theirs.preprocess1, f"cells.{k}.preprocess1")
            for e, (edge, mixed) in enumerate(zip(mine.edges, theirs.mixed, strict=True)):
                for o, (op, their_op) in enumerate(zip(edge.ops, mixed.ops, strict=True)):
                    _copy(op, their_op, f"cells.{k}.edges.{e}.{OP_NAMES[o]}")
        _copy(self.classifier, net.classifier, "classifier")
        for kind in net.alphas:  # "normal" and "reduce" (a 1- or 2-layer network lacks one of them)
            getattr(self, f"alphas_{kind}").copy_(net.alphas[kind])
        return self


def _copy(mine: nn.Module, theirs: nn.Module, where: str) -> None:
    ours, others = list(mine.parameters()), list(theirs.parameters())
    if len(ours) != len(others) or any(a.shape != b.shape for a, b in zip(ours, others, strict=False)):
        raise ValueError(
            f"{where}: parameter shapes differ: {[tuple(p.shape) for p in ours]} vs {[tuple(p.shape) for p in others]}"
        )
    for a, b in zip(ours, others, strict=True):
        a.copy_(b)
    for a, b in zip(mine.buffers(), theirs.buffers(), strict=True):  # the stem BN's running statistics
        a.copy_(b)


def logits_and_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Logits, then the flattened gradients of the alphas and of the weights of one cross-entropy backward.

    The quantities tests/test_reference.py and the benchmark's check compare between port and package.
    """
    model.zero_grad(set_to_none=True)
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    alphas = torch.cat([p.grad.flatten() for p in model.arch_parameters()])
    weights = torch.cat([p.grad.flatten() for p in model.weight_parameters()])
    return logits.detach(), alphas, weights
