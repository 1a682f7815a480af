"""Search networks of both papers: a stem, a stack of search cells, global pooling, a classifier.

* :func:`peng_search_net` (Peng Sec. 3, Implementation): 3 layers of one searched module, 4 initial
  channels, n = 4 nodes, eight (2+1)D ops; resolution halved and channels doubled where a layer
  reduces (layers ``L // 3`` and ``2 L // 3``, DARTS's rule: the 2nd and 3rd of 3). One alpha tensor
  for normal cells and one for reduction cells.
* :func:`pvnas_search_net` (PV-NAS Sec. 4.2.1, Fig. 5a): S-NC -> S-RC -> T-NC -> T-RC, spatial cells on
  O_s and temporal cells on O_t, one alpha tensor per cell kind.

The stem is a 1x3x3 conv and BN to ``3 C`` channels (DARTS's stem multiplier), so all temporal
modelling happens inside the searched cells. Clips are stored ``channels_last_3d`` inside the network
(see nas/kernels.py: the (2+1)D convs then run as 2D convs on views); ``channels_last=False`` keeps
PyTorch's default layout. ``fused`` (default ``True``) picks the cells' fast forward (nas/fused.py), ``False``
their definition (nas/cells.py): the same function. Architecture parameters (``alphas``, a ParameterDict
keyed by cell kind) are kept apart from the weights: :meth:`SearchNetwork.arch_parameters` and
:meth:`SearchNetwork.weight_parameters` partition :meth:`parameters`. Taught by notebook 03.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from videonas_lite.nas import ops
from videonas_lite.nas.cells import SearchCell, edge_list, num_edges


def check_width(num_classes: int, channels: int) -> None:
    """A network needs two classes or more, and ``channels >= 2`` (a factorized reduce halves them)."""
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if channels < 2:
        raise ValueError(f"channels must be >= 2 (a factorized reduce splits them in two), got {channels}")


@dataclass(frozen=True)
class CellSpec:
    """One layer of a search network: which alpha tensor it reads, its op set, whether it reduces."""

    kind: str
    op_names: tuple[str, ...]
    reduction: bool


class SearchNetwork(nn.Module):
    """Stem -> search cells (``plan``) -> global average pool -> linear classifier."""

    def __init__(
        self,
        plan: Sequence[CellSpec],
        num_classes: int,
        channels: int = 4,
        nodes: int = 4,
        stem_multiplier: int = 3,
        in_channels: int = 3,
        alpha_init: float = 1e-3,
        fused: bool = True,
        channels_last: bool = True,
        zero_op: bool = True,
        zero_into_node0: bool = True,
    ):
        super().__init__()
        check_width(num_classes, channels)
        self.plan, self.nodes = tuple(plan), nodes
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        c_stem = stem_multiplier * channels
        self.stem = nn.Sequential(ops.conv(in_channels, c_stem, (1, 3, 3)), nn.BatchNorm3d(c_stem))
        self.cells = nn.ModuleList()
        c_pp, c_p, c, reduction_prev = c_stem, c_stem, channels, False
        for spec in self.plan:
            c = 2 * c if spec.reduction else c
            cell = SearchCell(c_pp, c_p, c, spec.reduction, reduction_prev, spec.op_names, nodes, fused)
            self.cells.append(cell)
            c_pp, c_p, reduction_prev = c_p, cell.out_channels, spec.reduction
        self.classifier = nn.Linear(c_p, num_classes)
        kinds: dict[str, tuple[str, ...]] = {}
        for spec in self.plan:
            if kinds.setdefault(spec.kind, spec.op_names) != spec.op_names:
                raise ValueError(f"cell kind {spec.kind!r} is given two different op sets")
        self.op_names = kinds
        self.zero_op, self.zero_into_node0 = zero_op, zero_into_node0
        self.kept_edges: dict[str, torch.Tensor] | None = None  # set by fix_edges (not saved: run_search re-fixes)
        self.alphas = nn.ParameterDict(
            {
                kind: nn.Parameter(alpha_init * torch.randn(num_edges(nodes), len(names)))
                for kind, names in kinds.items()
            }
        )
        if channels_last:  # the conv weights in the clips' layout too: oneDNN then skips a reorder per conv
            self.to(memory_format=torch.channels_last_3d)  # (benchmarks/search_step.py measures both)

    @property
    def fused(self) -> bool:
        """Whether the cells run nas/fused.py's forward (the default) or their definition; settable."""
        return all(cell.fused for cell in self.cells)

    @fused.setter
    def fused(self, on: bool) -> None:
        for cell in self.cells:
            cell.fused = on

    def arch_parameters(self) -> list[nn.Parameter]:
        """The alphas, one ``(M, |O|)`` tensor per cell kind (the upper level of Peng Eq. 1)."""
        return list(self.alphas.values())

    def weight_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not an alpha (the lower level of Peng Eq. 1)."""
        arch = {id(p) for p in self.arch_parameters()}
        return (p for p in self.parameters() if id(p) not in arch)

    def op_weights(self) -> dict[str, torch.Tensor]:
        """``softmax(alpha)`` over each edge's ops, per cell kind (PV-NAS Eq. 2's mixing weights).

        Teaching departures (not the papers: README, "A search that learns in class time") give ``Zero`` the
        logit ``-inf``, so its weight is exactly 0 and its alpha gets no gradient, while the alpha tensors keep
        their columns: ``zero_op=False`` on every edge; ``zero_into_node0=False`` on the two edges into node 0
        only, which the derivation keeps whatever they weigh (nas/genotype.py), so that ``Zero``'s weight there
        could only turn down an input the derived cell keeps anyway. After :meth:`fix_edges` the same holds for
        every kept edge, and every other edge weighs 0 throughout (its alphas get no gradient).
        """
        out = {}
        for kind, alpha in self.alphas.items():
            held = self._zero_held_out(kind)
            weights = alpha.masked_fill(held, float("-inf")).softmax(dim=-1) if held.any() else alpha.softmax(dim=-1)
            out[kind] = weights if self.kept_edges is None else weights * self.kept_edges[kind][:, None]
        return out

    def fix_edges(self, cells: Mapping[str, Sequence[Sequence]]) -> None:
        """Keep only the edges of a derived cell per kind (``(op, source, node)`` triples; the op is not read).

        The search's second phase (README, "A search that learns in class time"; notebook 08): the topology the
        derivation chose is fixed, the other edges weigh 0, and ``Zero`` is held out of the kept edges (which the
        derivation now keeps whatever they weigh, as node 0's), so the alphas go on choosing only each kept
        edge's op. The DARTS derivation of the network then returns exactly these edges.
        """
        edges = edge_list(self.nodes)
        if set(cells) != set(self.alphas):
            raise ValueError(f"fix_edges needs a cell for every kind {sorted(self.alphas)}, got {sorted(cells)}")
        kept = {}
        for kind, cell in cells.items():
            pairs = {(int(src), int(node)) for _, src, node in cell}
            if not pairs <= set(edges):
                raise ValueError(f"fix_edges: {kind}: edges {sorted(pairs - set(edges))} are not in a "
                                 f"{self.nodes}-node cell")  # fmt: skip
            kept[kind] = torch.tensor([e in pairs for e in edges], device=self.alphas[kind].device)
        self.kept_edges = kept

    def _zero_held_out(self, kind: str) -> torch.Tensor:
        """The ``(M, |O|)`` mask of the logits held at ``-inf``: ``Zero``'s, on every edge, on node 0's, or on
        the edges :meth:`fix_edges` kept."""
        names = self.op_names[kind]
        columns = torch.tensor([name in ops.ZERO_NAMES for name in names])
        fixed = self.kept_edges[kind].cpu().tolist() if self.kept_edges is not None else [False] * num_edges(self.nodes)
        rows = torch.tensor([not self.zero_op or (not self.zero_into_node0 and node == 0) or kept
                             for (_, node), kept in zip(edge_list(self.nodes), fixed, strict=True)])  # fmt: skip
        return (rows[:, None] & columns[None, :]).to(self.alphas[kind].device)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """Logits for ``clips`` of shape ``(N, 3, T, H, W)``."""
        if clips.dim() != 5:
            raise ValueError(f"expected clips of shape (N, C, T, H, W), got {tuple(clips.shape)}")
        op_weights = self.op_weights()
        s0 = s1 = self.stem(clips.contiguous(memory_format=self.memory_format)).contiguous(
            memory_format=self.memory_format
        )  # the stem's BN (running statistics, torch's own) returns the default layout on the CPU
        for spec, cell in zip(self.plan, self.cells, strict=True):
            # a reduction cell's output can leave the layout (its strided ops); restore it, or every later
            # (2+1)D conv falls back to a slow 3D conv (nas/kernels.py)
            s0, s1 = s1, cell(s0, s1, op_weights[spec.kind]).contiguous(memory_format=self.memory_format)
        return self.classifier(s1.mean(dim=(2, 3, 4)))


def peng_search_net(
    num_classes: int, channels: int = 4, layers: int = 3, nodes: int = 4, plan: str | None = None, **kwargs
) -> SearchNetwork:
    """Peng et al.'s search network N(C): ``layers`` cells of the eight-op module, reductions at L/3, 2L/3.

    ``plan`` spells the cells instead, a letter each: ``"n"`` normal, ``"r"`` reduction. Peng's is
    ``"nrr"``; the teaching recipe's ``"rnr"`` halves the resolution before the normal cell, which then
    works on 8 channels at half the size (README, "A search that learns in class time").
    """
    if plan is None:
        reductions = {layers // 3, 2 * layers // 3}
        plan = "".join("r" if i in reductions else "n" for i in range(layers))
    if not plan or set(plan) - {"n", "r"}:
        raise ValueError(f"plan must be a non-empty string of 'n' (normal) and 'r' (reduction), got {plan!r}")
    names = ops.op_names("peng")
    cells = [CellSpec("reduce" if c == "r" else "normal", names, c == "r") for c in plan]
    return SearchNetwork(cells, num_classes, channels, nodes, **kwargs)


PVNAS_PLAN: tuple[tuple[str, str, bool], ...] = (
    ("S-NC", "pvnas_spatial", False),
    ("S-RC", "pvnas_spatial", True),
    ("T-NC", "pvnas_temporal", False),
    ("T-RC", "pvnas_temporal", True),
)
"""PV-NAS Sec. 3.1 / Fig. 5a: the four cell kinds in network order, ``(kind, op set, reduction)``: spatial cells
search O_s, temporal cells O_t. The one definition of PV-NAS's cell kinds (nas/space.py counts them)."""


def pvnas_search_net(num_classes: int, channels: int = 16, nodes: int = 4, **kwargs) -> SearchNetwork:
    """PV-NAS's search network (Fig. 5a): S-NC -> S-RC -> T-NC -> T-RC; the paper uses 64 initial channels."""
    plan = [CellSpec(kind, ops.op_names(op_set), red) for kind, op_set, red in PVNAS_PLAN]
    return SearchNetwork(plan, num_classes, channels, nodes, **kwargs)
