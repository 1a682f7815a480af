"""What a module costs: parameters and FLOPs (counted by ``torch.utils.flop_counter``).

FLOPs follow ``FlopCounterMode``'s convention: a multiply-add counts 2, and only matmuls and
convolutions are counted (pools, BN and ReLU are memory-bound and add nothing here).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def count_flops(module: nn.Module, *inputs: torch.Tensor, backward: bool = False) -> int:
    """FLOPs of one forward pass of ``module(*inputs)`` (plus its backward when ``backward``)."""
    with FlopCounterMode(display=False) as counter:
        out = module(*inputs)
        if backward:
            out.float().sum().backward()
    return counter.get_total_flops()
