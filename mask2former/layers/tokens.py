"""Feature maps as token sequences, the layout of the transformer layers: the maps of one or
more levels, (N, C, H_l, W_l), become one (N, S, C) sequence, S = sum of H_l * W_l, level after
level and row-major within a level, and back."""

from typing import List, Sequence, Tuple

import torch


def map_tokens(feature: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> its (N, H*W, C) tokens, a view in either memory format (a channels-last
    map's tokens are its rows of channels, which flattening the NCHW view would copy)."""
    if feature.is_contiguous(memory_format=torch.channels_last):
        return feature.permute(0, 2, 3, 1).flatten(1, 2)
    return feature.flatten(2).transpose(1, 2)


def flatten_maps(maps: Sequence[torch.Tensor]) -> torch.Tensor:
    """(N, C, H_l, W_l) per level -> (N, S, C) (a view for a single level)."""
    tokens = [map_tokens(m) for m in maps]
    return tokens[0] if len(tokens) == 1 else torch.cat(tokens, dim=1)


def unflatten_maps(tokens: torch.Tensor, sizes: Sequence[Tuple[int, int]]) -> List[torch.Tensor]:
    """(N, S, C) -> the (N, C, H_l, W_l) map of each level of ``sizes`` ((H_l, W_l) each)."""
    n = tokens.shape[0]
    levels = tokens.split([h * w for h, w in sizes], dim=1)
    # channels-last views; made by permuting (N, H, W, C) so that even a batch of one has the
    # strides by which PyTorch's kernels recognise channels-last (a transposed reshape gives a
    # single image's batch dimension the stride C, and interpolation then returns a
    # contiguous map, which the next addition mixes with channels-last ones)
    return [level.reshape(n, h, w, -1).permute(0, 3, 1, 2) for level, (h, w) in zip(levels, sizes)]
