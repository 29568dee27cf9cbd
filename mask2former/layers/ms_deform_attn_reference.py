"""Pure-PyTorch multi-scale deformable attention (the oracle for the compiled op)."""
from typing import List, Sequence

import torch
import torch.nn.functional as F


def ms_deform_attn_reference(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Bilinear sampling with zero padding, ``align_corners=False``.

    A location (x, y) in [0, 1] addresses the continuous image plane of each level, so that
    pixel i of a level of width W has its centre at x = (i + 0.5) / W (the published op's
    convention).

    Args:
        value: (N, S, M, D), S = sum of H_l * W_l over levels, M heads, D channels per head.
        spatial_shapes: (L, 2) int64, (H_l, W_l) of each level.
        level_start_index: (L,) int64, offset of each level in S (unused here, kept for the
            common signature).
        sampling_locations: (N, Q, M, L, P, 2), normalized (x, y).
        attention_weights: (N, Q, M, L, P), weights of the L * P samples of a query and head.
    Returns:
        (N, Q, M * D)
    """
    n, _, m, d = value.shape
    _, q, _, num_levels, p, _ = sampling_locations.shape
    shapes: List[Sequence[int]] = spatial_shapes.tolist()
    values_per_level = value.split([h * w for h, w in shapes], dim=1)
    # grid_sample expects coordinates in [-1, 1]
    grids = 2.0 * sampling_locations - 1.0
    sampled = []
    for level, (h, w) in enumerate(shapes):
        # (N, H*W, M, D) -> (N*M, D, H, W)
        v = values_per_level[level].permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        # (N, Q, M, P, 2) -> (N*M, Q, P, 2)
        g = grids[:, :, :, level].transpose(1, 2).reshape(n * m, q, p, 2)
        sampled.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    # (N*M, D, Q, L, P) weighted by (N*M, 1, Q, L, P), summed over levels and points
    samples = torch.stack(sampled, dim=3)
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, q, num_levels, p)
    out = (samples * weights).sum(dim=(3, 4))  # (N*M, D, Q)
    return out.view(n, m * d, q).transpose(1, 2).contiguous()
