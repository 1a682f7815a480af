"""The contenders a searched cell is measured against (Peng Table 2; PV-NAS Table 3). Taught by notebook 07.

Every network here takes clips ``(N, 3, T, H, W)`` and returns logits ``(N, classes)``, its head sized to the
dataset, and is trained from scratch with the searched network's recipe (train/compare.py):

* ``r3d_18``, ``r2plus1d_18``, ``mc3_18``: torchvision's 18-layer video ResNets (3D convs; (2+1)D convs;
  3D convs in the first stages only), ``weights=None``, their ``fc`` replaced by a Linear to the classes.
  Peng Table 2's "3D-ResNet 18". Every stride-2 conv of theirs is padded, so no dimension reaches zero: they
  run on clips of any size down to ``1 x 1 x 1`` (in training mode a BN needs more than one value per channel,
  so batches of at least 2).
* ``c3d``: C3D (Tran et al. 2015; Peng Table 2's "3D-ConvNet"), eight 3x3x3 convs in five stages with
  channels ``w x (1, 2, 4, 4, 8, 8, 8, 8)`` (C3D: ``w = 64``) and five max pools, the first 1x2x2, the others
  2x2x2. Departures, to make it trainable on a CPU with the shared recipe: a width ``w`` (default 8), a BN
  after each conv (C3D has none), pools in ceil mode (so tiny clips never pool to zero), and global average
  pooling and one Linear instead of the two 4096-wide fc layers.
* ``tsn_2d``: a 2D frame-averaging network, TSN's consensus (Wang et al. 2016): a small 2D CNN scores every
  frame alone, the clip's score is the mean of its frames' scores. It sees no motion, only appearance: the
  floor a network that models time has to beat on the motion dataset.
* :func:`random_genotype`: a random cell of the same search space (PV-NAS Sec. 4, Table 3, "Random"), each
  cell with at least four convolutions (parameterised ops), built as the searched genotype's derived network.

:data:`BASELINES` maps each hand-designed network's name to a constructor of ``num_classes``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch
from torch import nn
from torchvision.models import video as tv_video

from videonas_lite.nas import ops
from videonas_lite.nas.genotype import PARAMETER_FREE, Genotype, space_cells

__all__ = ["BASELINES", "C3D", "FrameAverage2D", "build_baseline", "random_genotype", "torchvision_video"]


def torchvision_video(name: str, num_classes: int) -> nn.Module:
    """torchvision's ``r3d_18``, ``r2plus1d_18`` or ``mc3_18``, untrained, with a ``num_classes`` Linear head."""
    if name not in ("r3d_18", "r2plus1d_18", "mc3_18"):
        raise ValueError(f"unknown torchvision video network {name!r} (expected r3d_18, r2plus1d_18 or mc3_18)")
    model = getattr(tv_video, name)(weights=None)
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, dims: int = 3) -> nn.Sequential:
    conv, bn = (nn.Conv3d, nn.BatchNorm3d) if dims == 3 else (nn.Conv2d, nn.BatchNorm2d)
    return nn.Sequential(conv(c_in, c_out, kernel, stride, kernel // 2, bias=False), bn(c_out), nn.ReLU(inplace=True))


class C3D(nn.Module):
    """C3D-style (Tran et al. 2015; Peng Table 2's 3D-ConvNet) at width ``width`` (module docstring)."""

    STAGES = ((1,), (2,), (4, 4), (8, 8), (8, 8))  # channels per conv, in units of width; a pool after each stage

    def __init__(self, num_classes: int, width: int = 8, dropout: float = 0.0):
        super().__init__()
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"C3D width must be a positive integer, got {width!r}")
        layers, c_in = [], 3
        for i, stage in enumerate(self.STAGES):
            for units in stage:
                layers.append(_conv_bn_relu(c_in, units * width, 3))
                c_in = units * width
            pool = (1, 2, 2) if i == 0 else (2, 2, 2)  # C3D keeps time in its first pool
            layers.append(nn.MaxPool3d(pool, pool, ceil_mode=True))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.pool(self.features(x)).flatten(1)))


class FrameAverage2D(nn.Module):
    """TSN's consensus: a 2D CNN's per-frame scores averaged over the clip's frames (module docstring).

    The CNN: a 3x3 conv to ``width`` channels, then ``stages - 1`` stride-2 3x3 convs doubling the channels,
    each conv without bias and followed by BN and ReLU; global average pooling; a Linear to the classes.
    Parameters: ``27 w + sum_{i>=1} 9 w^2 2^(2i-1) + 2 w (2^stages - 1) + w 2^(stages-1) classes + classes``
    (with 3 stages: ``90 w^2 + 41 w + 4 w classes + classes``).
    """

    def __init__(self, num_classes: int, width: int = 8, stages: int = 3):
        super().__init__()
        if not isinstance(width, int) or width < 1 or not isinstance(stages, int) or stages < 1:
            raise ValueError(f"expected a positive integer width and stages, got width={width!r}, stages={stages!r}")
        layers, c_in = [_conv_bn_relu(3, width, 3, dims=2)], width
        for _ in range(stages - 1):
            layers.append(_conv_bn_relu(c_in, 2 * c_in, 3, stride=2, dims=2))
            c_in *= 2
        self.frames = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c_in, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"expected clips (N, C, T, H, W), got shape {tuple(x.shape)}")
        n, c, t, h, w = x.shape
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        return self.classifier(self.frames(frames)).view(n, t, -1).mean(dim=1)  # consensus: the mean score


BASELINES: dict[str, Callable[[int], nn.Module]] = {
    "r3d_18": lambda n: torchvision_video("r3d_18", n),
    "r2plus1d_18": lambda n: torchvision_video("r2plus1d_18", n),
    "mc3_18": lambda n: torchvision_video("mc3_18", n),
    "c3d": lambda n: C3D(n),
    "tsn_2d": lambda n: FrameAverage2D(n),
}
"""Name -> constructor of ``num_classes`` of each hand-designed network (module docstring), at its defaults."""


def build_baseline(name: str, num_classes: int) -> nn.Module:
    """The hand-designed network ``name`` of :data:`BASELINES` with a ``num_classes`` head (untrained)."""
    if name not in BASELINES:
        raise ValueError(f"unknown architecture {name!r} (expected one of {', '.join(BASELINES)})")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    return BASELINES[name](num_classes)


def random_genotype(space: str, seed: int, min_convs: int = 4, nodes: int = 4) -> Genotype:
    """A random discrete cell per cell kind of ``space``, each with at least ``min_convs`` convolutions.

    PV-NAS Sec. 4 (Table 3, "Random"): "we ensure that each cell has at least four convolution operations".
    A convolution is an op with parameters (not in :data:`~videonas_lite.nas.genotype.PARAMETER_FREE`). Every
    node draws two different earlier states and an op of the kind's set (Zero aside) for each, uniformly; a cell
    with too few convolutions is drawn again, so the result is uniform over the cells that obey the rule. The
    same ``(space, seed)`` gives the same genotype; ``provenance`` records the draw.
    """
    cells = space_cells(space)  # raises GenotypeError on an unknown space
    if not isinstance(nodes, int) or nodes < 1:
        raise ValueError(f"nodes must be a positive integer, got {nodes!r}")
    if not isinstance(min_convs, int) or not 0 <= min_convs <= 2 * nodes:
        raise ValueError(
            f"min_convs must be in [0, {2 * nodes}] (two edges per node, {nodes} nodes), got {min_convs!r}"
        )
    rng, drawn = random.Random(f"{space}:{seed}"), {}
    for kind, (op_names, _) in cells.items():
        choices = [op for op in op_names if op not in ops.ZERO_NAMES]
        if min_convs and all(op in PARAMETER_FREE for op in choices):
            raise ValueError(f"{kind} cells have no convolution among {choices}; min_convs must be 0")
        while True:
            picked = [rng.choice(choices) for _ in range(2 * nodes)]
            if sum(op not in PARAMETER_FREE for op in picked) >= min_convs:
                break
        sources = [src for node in range(nodes) for src in sorted(rng.sample(range(2 + node), 2))]
        drawn[kind] = [(op, src, i // 2) for i, (op, src) in enumerate(zip(picked, sources, strict=True))]
    return Genotype(space, nodes, drawn, {"random": {"seed": seed, "min_convs": min_convs}})
