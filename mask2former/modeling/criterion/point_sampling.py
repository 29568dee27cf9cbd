"""The points of Mask2Former's point-sampled matching costs and losses.

Points are (x, y) in normalized [0, 1] x [0, 1] coordinates of a mask, read by bilinear
interpolation as Detectron2's PointRend ``point_sample`` does (``align_corners=False``), so that
one point addresses the same place in the low-resolution mask logits and the full-resolution
target masks. Random points come from ``torch.rand`` calls of the same shapes and in the same
order as the published implementation's, so that a seed gives the same points.
"""

import torch
from detectron2.projects.point_rend.point_features import point_sample


def sample_at_shared_points(masks: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Every mask at the same points: masks (N, C, H, W), coords (P, 2) -> (N, C, P).

    The N * C masks are the channels of one image for ``point_sample``, which then computes
    the interpolation weights of each point once instead of once per mask (the values are the
    same as sampling each mask on its own)."""
    n, c = masks.shape[:2]
    values = point_sample(masks.reshape(1, n * c, *masks.shape[-2:]), coords[None], align_corners=False)
    return values.view(n, c, -1)


def gather_points(coords: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``coords[i, index[i, j]]``: coords (M, S, 2), index (M, K) int64 -> (M, K, 2)."""
    # A point's (x, y) viewed as one complex number, so that the gather moves whole points: a
    # gather along dim 1 of the (M, S, 2) tensor itself is several times slower on CPU.
    return torch.view_as_real(torch.view_as_complex(coords).gather(1, index))


def importance_sampled_points(
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
        (M, num_points, 2) point coordinates: the same random numbers and the same points as
        Detectron2's function, the uncertain ones in another order (top-k without sorting),
        which sums over the points only see through rounding.
    """
    num_masks = logits.shape[0]
    num_sampled = int(num_points * oversample_ratio)
    coords = torch.rand(num_masks, num_sampled, 2, device=logits.device)
    uncertainty = -point_sample(logits, coords, align_corners=False)[:, 0].abs()  # (M, S)
    num_uncertain = int(importance_sample_ratio * num_points)
    index = uncertainty.topk(num_uncertain, dim=1, sorted=False).indices
    coords = gather_points(coords, index)
    num_random = num_points - num_uncertain
    if num_random > 0:
        random = torch.rand(num_masks, num_random, 2, device=logits.device)
        coords = torch.cat([coords, random], dim=1)
    return coords
