"""Per-mask binary losses shared by the Hungarian matcher (as pairwise costs) and the set
criterion (on matched pairs).

Shapes: predictions are mask logits ``(N, P)`` and targets are ``(M, P)`` values in [0, 1], where
``P`` is the number of pixels or sampled points of each mask.

Pairwise costs of N predictions against M targets are written as matrix products instead of an
``(N, M, P)`` tensor. The focal loss is expressed through its value for a positive and for a
negative target at every pixel, mixed as ``t * pos + (1 - t) * neg``: exact for binary targets,
which is what MaskFormer trains with.
"""

from typing import Tuple

import torch
import torch.nn.functional as F


def sigmoid_focal_terms(
    logits: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid focal loss (RetinaNet) of every element for target 1 and for target 0, shaped like
    ``logits``. ``alpha`` weights positives (``1 - alpha`` negatives); a negative ``alpha``
    disables it."""
    prob = logits.sigmoid()
    pos = (1 - prob) ** gamma * F.softplus(-logits)  # softplus(-x) = -log(sigmoid(x))
    neg = prob**gamma * F.softplus(logits)  # softplus(x) = -log(1 - sigmoid(x))
    if alpha >= 0:
        pos = alpha * pos
        neg = (1 - alpha) * neg
    return pos, neg


def sigmoid_ce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Sigmoid BCE averaged over the P points of each mask, summed over the N masks, divided by
    ``num_masks``. logits, targets: (N, P). Returns a scalar."""
    bce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return bce.mean(dim=1).sum() / num_masks


def sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_masks: float,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Sigmoid focal loss averaged over the P pixels of each mask, summed over the N masks, divided
    by ``num_masks``. logits, targets: (N, P) with binary targets. Returns a scalar."""
    pos, neg = sigmoid_focal_terms(logits, alpha, gamma)
    return (targets * pos + (1 - targets) * neg).mean(dim=1).sum() / num_masks


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``1 - (2 |p t| + 1) / (|p| + |t| + 1)`` per mask with ``p = sigmoid(logits)``, summed over
    the N masks and divided by ``num_masks``. logits, targets: (N, P). Returns a scalar."""
    prob = logits.sigmoid()
    numerator = 2 * (prob * targets).sum(dim=1) + 1
    denominator = prob.sum(dim=1) + targets.sum(dim=1) + 1
    return (1 - numerator / denominator).sum() / num_masks


def pairwise_sigmoid_ce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean sigmoid BCE of each of N predictions (N, P) against each of M targets (M, P): (N, M)."""
    # BCE(x, t) = softplus(x) - x * t: a single matrix product covers all pairs
    return (F.softplus(logits).sum(dim=1)[:, None] - logits @ targets.T) / logits.shape[1]


def pairwise_sigmoid_focal_cost(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean sigmoid focal loss of each of N predictions (N, P) against each of M binary targets
    (M, P): (N, M)."""
    pos, neg = sigmoid_focal_terms(logits, alpha, gamma)
    # sum of t * pos + (1 - t) * neg = sum of neg + (pos - neg) . t
    return (neg.sum(dim=1)[:, None] + (pos - neg) @ targets.T) / logits.shape[1]


def pairwise_dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss of each of N predictions (N, P) against each of M targets (M, P): (N, M)."""
    prob = logits.sigmoid()
    numerator = 2 * (prob @ targets.T) + 1
    denominator = prob.sum(dim=1)[:, None] + targets.sum(dim=1)[None, :] + 1
    return 1 - numerator / denominator
