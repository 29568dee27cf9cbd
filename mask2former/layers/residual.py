"""The residual sub-layer of the transformer layers, with its LayerNorm before the branch
(pre-norm) or after the sum (post-norm), and the sum of tokens and their position encodings."""

from typing import Callable, Optional

import torch
from torch import nn


def with_pos(x: torch.Tensor, pos: Optional[torch.Tensor]) -> torch.Tensor:
    """``x + pos``, or ``x`` when there is no position encoding."""
    return x if pos is None else x + pos


def residual(
    x: torch.Tensor,
    norm: nn.Module,
    branch: Callable[[torch.Tensor], torch.Tensor],
    normalize_before: bool,
) -> torch.Tensor:
    """``x + branch(norm(x))`` when ``normalize_before`` (pre-norm), else
    ``norm(x + branch(x))`` (post-norm). Shapes are those of ``x``."""
    if normalize_before:
        return x + branch(norm(x))
    return norm(x + branch(x))
