"""Per-mask binary losses shared by the Hungarian matcher (as pairwise costs) and the set
criterion (on matched pairs).

Shapes: predictions are mask logits ``(N, P)`` and targets are ``(M, P)`` values in [0, 1], where
``P`` is the number of pixels or sampled points of each mask.

The pixel losses (sigmoid BCE, sigmoid focal) are expressed through their value for a positive and
for a negative target at every pixel. A loss with target ``t`` is then ``t * pos + (1 - t) * neg``,
which makes the pairwise cost of N predictions against M targets two matrix products instead of
an ``(N, M, P)`` tensor. For BCE this is exact for soft targets as well (BCE is linear in the
target); for focal loss it is exact for binary targets, which is what MaskFormer trains with.
"""

from typing import Tuple

import torch
import torch.nn.functional as F


def sigmoid_ce_terms(logits: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid binary cross-entropy of every element for target 1 and for target 0.

    Returns two tensors shaped like ``logits``: ``-log(sigmoid(x))`` and ``-log(1 - sigmoid(x))``.
    """
    return F.softplus(-logits), F.softplus(logits)


def sigmoid_focal_terms(
    logits: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sigmoid focal loss (RetinaNet) of every element for target 1 and for target 0.

    ``alpha`` weights positives (``1 - alpha`` negatives); a negative ``alpha`` disables it.
    """
    prob = logits.sigmoid()
    ce_pos, ce_neg = sigmoid_ce_terms(logits)
    pos = (1 - prob) ** gamma * ce_pos
    neg = prob**gamma * ce_neg
    if alpha >= 0:
        pos = alpha * pos
        neg = (1 - alpha) * neg
    return pos, neg


def _mean_pixel_loss(
    terms: Tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor
) -> torch.Tensor:
    """Per-mask mean over P of ``t * pos + (1 - t) * neg``: (N, P) terms, (N, P) targets -> (N,)."""
    pos, neg = terms
    return (targets * pos + (1 - targets) * neg).mean(dim=1)


def _pairwise_mean_pixel_loss(
    terms: Tuple[torch.Tensor, torch.Tensor], targets: torch.Tensor
) -> torch.Tensor:
    """Mean over P of the pixel loss of every prediction against every target: (N, M)."""
    pos, neg = terms
    return (pos @ targets.T + neg @ (1 - targets).T) / pos.shape[1]


def sigmoid_ce_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """Sigmoid BCE averaged over the P points of each mask, summed over the N masks, divided by
    ``num_masks``. logits, targets: (N, P). Returns a scalar."""
    return _mean_pixel_loss(sigmoid_ce_terms(logits), targets).sum() / num_masks


def sigmoid_focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_masks: float,
    alpha: float = 0.25,
    gamma: float = 2.0,
) -> torch.Tensor:
    """Sigmoid focal loss averaged over the P pixels of each mask, summed over the N masks, divided
    by ``num_masks``. logits, targets: (N, P) with binary targets. Returns a scalar."""
    terms = sigmoid_focal_terms(logits, alpha, gamma)
    return _mean_pixel_loss(terms, targets).sum() / num_masks


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, num_masks: float) -> torch.Tensor:
    """``1 - (2 |p t| + 1) / (|p| + |t| + 1)`` per mask with ``p = sigmoid(logits)``, summed over
    the N masks and divided by ``num_masks``. logits, targets: (N, P). Returns a scalar."""
    prob = logits.sigmoid()
    numerator = 2 * (prob * targets).sum(dim=1) + 1
    denominator = prob.sum(dim=1) + targets.sum(dim=1) + 1
    return (1 - numerator / denominator).sum() / num_masks


def pairwise_sigmoid_ce_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean sigmoid BCE of each of N predictions (N, P) against each of M targets (M, P): (N, M)."""
    return _pairwise_mean_pixel_loss(sigmoid_ce_terms(logits), targets)


def pairwise_sigmoid_focal_cost(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean sigmoid focal loss of each of N predictions (N, P) against each of M binary targets
    (M, P): (N, M)."""
    return _pairwise_mean_pixel_loss(sigmoid_focal_terms(logits, alpha, gamma), targets)


def pairwise_dice_cost(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Dice loss of each of N predictions (N, P) against each of M targets (M, P): (N, M)."""
    prob = logits.sigmoid()
    numerator = 2 * prob @ targets.T + 1
    denominator = prob.sum(dim=1)[:, None] + targets.sum(dim=1)[None, :] + 1
    return 1 - numerator / denominator
