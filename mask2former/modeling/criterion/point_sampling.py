"""The points of Mask2Former's point-sampled matching costs and losses.

A point is read from a mask by bilinear interpolation at normalized coordinates, so that one
point addresses the same place in the low-resolution mask logits and in the full-resolution
target masks. Points are kept as ``grid_sample`` grids: (x, y) in [-1, 1] (``align_corners=False``),
drawn as Detectron2's PointRend ``point_sample`` maps its [0, 1] coordinates, ``2 c - 1``, here
computed in place, once per point. Random points come from ``torch.rand`` calls of the same
shapes and in the same order as the published implementation's, so that a seed gives the same
points and the same values.
"""

import torch
import torch.nn.functional as F


def random_grid(*size: int, device: torch.device) -> torch.Tensor:
    """``point_sample``'s grid of ``torch.rand(*size, 2)`` uniformly random points:
    (*size, 2) in [-1, 1]."""
    return torch.rand(*size, 2, device=device).mul_(2).sub_(1)


def sample_points(masks: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Mask n at its own points: masks (N, C, H, W), grid (N, P, 2) -> (N, C, P)."""
    return F.grid_sample(masks, grid[:, :, None], align_corners=False)[..., 0]


def gather_points(grid: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``grid[i, index[i, j]]``: grid (M, S, 2), index (M, K) int64 -> (M, K, 2)."""
    # A point's (x, y) viewed as one complex number, so that the gather moves whole points: a
    # gather along dim 1 of the (M, S, 2) tensor itself is several times slower on CPU.
    return torch.view_as_real(torch.view_as_complex(grid).gather(1, index))


def importance_sampled_grid(
    logits: torch.Tensor, num_points: int, oversample_ratio: float, importance_sample_ratio: float
) -> torch.Tensor:
    """PointRend's importance sampling of the points of each mask (Detectron2's
    ``get_uncertain_point_coords_with_randomness`` with uncertainty ``-|logit|``): of
    ``num_points * oversample_ratio`` uniformly random points, the
    ``num_points * importance_sample_ratio`` whose interpolated logit is closest to 0, then
    uniformly random points up to ``num_points``.

    Args:
        logits: (M, 1, h, w) mask logits.
    Returns:
        (M, num_points, 2) grid of the points: the same random numbers and the same points as
        Detectron2's function, the uncertain ones in another order (top-k without sorting),
        which sums over the points only see through rounding.
    """
    num_masks = logits.shape[0]
    grid = random_grid(num_masks, int(num_points * oversample_ratio), device=logits.device)
    uncertainty = -sample_points(logits, grid)[:, 0].abs()  # (M, S)
    num_uncertain = int(importance_sample_ratio * num_points)
    grid = gather_points(grid, uncertainty.topk(num_uncertain, dim=1, sorted=False).indices)
    num_random = num_points - num_uncertain
    if num_random > 0:
        grid = torch.cat([grid, random_grid(num_masks, num_random, device=logits.device)], dim=1)
    return grid
