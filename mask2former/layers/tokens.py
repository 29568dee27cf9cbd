"""Feature maps as token sequences, the layout of the transformer layers: the maps of one or
more levels, (N, C, H_l, W_l), become one (N, S, C) sequence, S = sum of H_l * W_l, level after
level and row-major within a level, and back."""

from typing import List, Sequence, Tuple

import torch


def flatten_maps(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """(N, C, H_l, W_l) per level -> (N, S, C) (a view for a single level)."""
    tokens = [m.flatten(2).transpose(1, 2) for m in maps]
    return tokens[0] if len(tokens) == 1 else torch.cat(tokens, dim=1)


def unflatten_maps(tokens: torch.Tensor, sizes: Sequence[Tuple[int, int]]) -> List[torch.Tensor]:
    """(N, S, C) -> the (N, C, H_l, W_l) map of each level of ``sizes`` ((H_l, W_l) each)."""
    n = tokens.shape[0]
    levels = tokens.split([h * w for h, w in sizes], dim=1)
    return [level.transpose(1, 2).reshape(n, -1, h, w) for level, (h, w) in zip(levels, sizes)]
