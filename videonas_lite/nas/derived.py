"""The derived network: the genotype's discrete cells stacked deep and trained from scratch. Taught by notebook 07.

After the search, each cell kind's genotype (nas/genotype.py) becomes a discrete cell: the cell's two
inputs are preprocessed to ``C`` channels as in the search cell, intermediate node ``i`` sums the two ops the
genotype keeps for it, and the output concatenates the ``n`` nodes (``n C`` channels). The ops are the search's
own modules (:func:`videonas_lite.nas.ops.make_op`) built with ``affine=True``: affine BN with running
statistics, as DARTS retrains. A pool is followed by an affine BN, as in the search cell
(:func:`~videonas_lite.nas.ops.make_edge_op`). DARTS's derived cells keep the pool bare; here a cell whose
normal cell fed max pools into each other then stayed at chance when retrained (test top-1 0.244, 0.256, 0.244
over 3 epochs of the ``ci`` recipe), and reached 0.52, 1.00, 1.00 with the BN (README, "Retraining").

* **Peng** (Sec. 3, "we build a network with six layers by repeating this neural module"): the derived cell
  repeated to depth 6, 8 initial channels; resolution halved and channels doubled every two layers, realised
  as DARTS's NetworkCIFAR places reductions: the ``reduce`` cell at layers ``L // 3`` and ``2 L // 3``
  (:func:`peng_layout`: normal, normal, reduce, normal, reduce, normal). No drop-path, no dropout (the paper
  names neither).
* **PV-NAS** (Sec. 3.2.1, 4.2.2, Fig. 5b): the four derived cells with ``K`` normal cells between reductions
  (``K = 1`` PV-NAS-L, ``K = 2`` PV-NAS-M), 64 initial channels for PV-NAS-L (100 for -M), drop-path 0.1,
  dropout 0.4 before the classifier. Fig. 5b is a picture the text does not spell out; :func:`pvnas_layout`
  reads it as SlowFast's slow path, whose meta-architecture the paper says it shares (Sec. 4.3): two spatial
  stages then two temporal stages, ``S-NC x K, S-RC, S-NC x K, T-RC, T-NC x K, T-RC, T-NC x K``, ``4 K + 3``
  cells: 11 for ``K = 2``, the layer count the paper gives PV-NAS-M. Any other stacking is a ``layout``.

Drop-path (DARTS, after FractalNet): in training, every op output except a skip's is zeroed per sample with
probability ``p`` and scaled by ``1 / (1 - p)``; in eval mode it does nothing. The stem is the search
network's (a 1x3x3 conv and BN to ``3 C`` channels), so every temporal op of the network is one the search
chose.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.genotype import Edge, Genotype
from videonas_lite.nas.networks import check_width

__all__ = ["PAPER_NETWORKS", "DerivedCell", "DerivedNetwork", "derived_net", "drop_path", "peng_layout",
           "pvnas_layout"]  # fmt: skip

PAPER_NETWORKS: dict[str, dict[str, float | int]] = {
    "peng": dict(channels=8, layers=6, drop_path=0.0, dropout=0.0),
    "pvnas": dict(channels=64, k=1, drop_path=0.1, dropout=0.4),
}
"""Each paper's derived network: initial channels, depth (Peng) or ``K`` (PV-NAS), drop-path, dropout."""


def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero each sample of ``x`` with probability ``p``, scale the kept ones by ``1 / (1 - p)`` (DARTS's drop-path)."""
    if p <= 0.0:
        return x
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * (mask / keep)


def peng_layout(layers: int = 6) -> tuple[str, ...]:
    """Peng Sec. 3: ``layers`` cells, ``reduce`` at ``L // 3`` and ``2 L // 3`` (every two layers for ``L = 6``)."""
    if not isinstance(layers, int) or layers < 3:
        raise ValueError(f"layers must be an integer >= 3 (two reductions and a normal cell), got {layers!r}")
    reductions = {layers // 3, 2 * layers // 3}
    return tuple("reduce" if i in reductions else "normal" for i in range(layers))


def pvnas_layout(k: int = 1) -> tuple[str, ...]:
    """PV-NAS Fig. 5b as read here (module docstring): ``K`` normal cells before and after each reduction."""
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (normal cells between reductions) must be a positive integer, got {k!r}")
    stages = (("S-NC",) * k, ("S-RC",), ("S-NC",) * k, ("T-RC",), ("T-NC",) * k, ("T-RC",), ("T-NC",) * k)
    return tuple(kind for stage in stages for kind in stage)


class DerivedCell(nn.Module):
    """One discrete cell: preprocessing, the genotype's two ops per node, concat of the nodes (Peng Fig. 2)."""

    def __init__(
        self, edges: Sequence[Edge], nodes: int, c_prev_prev: int, c_prev: int, channels: int, reduction: bool,
        reduction_prev: bool,
    ):  # fmt: skip
        super().__init__()
        self.reduction, self.nodes = reduction, nodes
        self.preprocess0 = (
            ops.FactorizedReduce(c_prev_prev, channels, affine=True)
            if reduction_prev
            else ops.relu_conv_bn(c_prev_prev, channels, affine=True)
        )
        self.preprocess1 = ops.relu_conv_bn(c_prev, channels, affine=True)
        self.edges = tuple(sorted(edges, key=lambda e: (e[2], e[1])))
        self.ops = nn.ModuleList(
            ops.make_edge_op(op, channels, 2 if reduction and src < 2 else 1, affine=True) for op, src, _ in self.edges
        )
        self.out_channels = nodes * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        """Node ``i = sum`` of its two kept ops on their source states; drop-path on each (skips aside) in training."""
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(self.nodes):
            terms = []
            for (_, src, node), op in zip(self.edges, self.ops, strict=True):
                if node == i:
                    h = op(states[src])
                    if self.training and drop_prob > 0 and not isinstance(op, ops.Identity):
                        h = drop_path(h, drop_prob)
                    terms.append(h)
            states.append(sum(terms[1:], terms[0]))
        return torch.cat(states[2:], dim=1)


class DerivedNetwork(nn.Module):
    """Stem -> derived cells in ``layout`` order -> global average pool -> dropout -> linear classifier.

    ``layout``: the cell kind of every layer (kinds of ``genotype``); channels double at each reduction cell.
    ``drop_prob`` (drop-path) and the dropout act in training mode only.
    """

    def __init__(
        self,
        genotype: Genotype,
        layout: Sequence[str],
        num_classes: int,
        channels: int,
        drop_path: float = 0.0,
        dropout: float = 0.0,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        channels_last: bool = True,
    ):
        super().__init__()
        check_width(num_classes, channels)
        for name, p in (("drop_path", drop_path), ("dropout", dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1), got {p!r}")
        unknown = [kind for kind in layout if kind not in genotype]
        if not layout or unknown:
            raise ValueError(f"layout: expected cell kinds of the {genotype.space} genotype ({', '.join(genotype)}), "
                             f"got {list(layout)}")  # fmt: skip
        self.genotype, self.layout, self.drop_prob = genotype, tuple(layout), float(drop_path)
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(ops.conv(in_channels, c_stem, (1, 3, 3)), nn.BatchNorm3d(c_stem))
        self.cells = nn.ModuleList()
        c_pp, c_p, c, reduction_prev = c_stem, c_stem, channels, False
        for kind in self.layout:
            reduction = genotype.reduction(kind)
            c = 2 * c if reduction else c
            cell = DerivedCell(genotype[kind], genotype.nodes, c_pp, c_p, c, reduction, reduction_prev)
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, cell.out_channels, reduction
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Logits for ``clips`` of shape ``(N, 3, T, H, W)``."""
        if clips.dim() != 5:
            raise ValueError(f"expected clips of shape (N, C, T, H, W), got {tuple(clips.shape)}")
        s0 = s1 = self.stem(clips.contiguous(memory_format=self.memory_format)).contiguous(
            memory_format=self.memory_format
        )
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_prob).contiguous(memory_format=self.memory_format)
        return self.classifier(self.dropout(s1.mean(dim=(2, 3, 4))))


def derived_net(
    genotype: Genotype,
    num_classes: int,
    channels: int | None = None,
    layers: int | None = None,
    k: int | None = None,
    drop_path: float | None = None,
    dropout: float | None = None,
    layout: Sequence[str] | None = None,
    **kwargs,
) -> DerivedNetwork:
    """The paper's derived network for ``genotype.space`` (:data:`PAPER_NETWORKS`); ``None`` keeps the paper's value.

    Peng: :func:`peng_layout` of ``layers`` cells (``k`` must be ``None``); PV-NAS: :func:`pvnas_layout` of ``k``
    (``layers`` must be ``None``). ``layout`` replaces either.
    """
    paper = PAPER_NETWORKS[genotype.space]
    if genotype.space == "peng" and k is not None:
        raise ValueError(f"k is PV-NAS's normal cells between reductions; a peng network takes layers, got k={k}")
    if genotype.space == "pvnas" and layers is not None:
        raise ValueError(f"a pvnas network's depth is 4 k + 3 (k normal cells per stage), got layers={layers}")
    if layout is None:
        layout = (
            peng_layout(paper["layers"] if layers is None else layers)
            if genotype.space == "peng"
            else pvnas_layout(paper["k"] if k is None else k)
        )
    return DerivedNetwork(
        genotype, layout, num_classes, int(paper["channels"]) if channels is None else channels,
        paper["drop_path"] if drop_path is None else drop_path, paper["dropout"] if dropout is None else dropout,
        **kwargs,
    )  # fmt: skip
