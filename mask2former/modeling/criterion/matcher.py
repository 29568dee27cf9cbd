"""Bipartite (Hungarian) matching between predicted masks and ground-truth segments."""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from .losses import pairwise_dice_cost, pairwise_sigmoid_ce_cost, pairwise_sigmoid_focal_cost
from .point_sampling import random_grid, sample_points
from .target_masks import check_targets, pad_masks, padded_size


class HungarianMatcher(nn.Module):
    """Assigns each ground-truth segment of an image to one query, minimizing

        cost_class * (-p[class]) + cost_mask * mask_cost + cost_dice * dice_cost

    Queries left unassigned are supervised as "no object" by the criterion.

    Mask costs:
      * ``num_points > 0`` (Mask2Former): sigmoid BCE and dice on ``num_points`` points drawn
        uniformly at random, the same points for every query and target of one image.
      * ``num_points == 0`` (MaskFormer): sigmoid focal (alpha 0.25, gamma 2) and dice on all
        pixels of the prediction grid, with the targets resized (nearest) to that grid.

    Video clips (predicted masks (B, Q, T, h, w), target masks (N, T, H, W)) are matched as
    whole tracks: the same points are sampled in every frame and each cost is taken over the
    points of all T frames together.
    """

    def __init__(self, cost_class: float, cost_mask: float, cost_dice: float, num_points: int = 0):
        super().__init__()
        if cost_class == 0 and cost_mask == 0 and cost_dice == 0:
            raise ValueError("HungarianMatcher: cost_class, cost_mask and cost_dice are all 0.")
        if num_points < 0:
            raise ValueError(f"HungarianMatcher: num_points must be >= 0, got {num_points}.")
        self.cost_class = cost_class
        self.cost_mask = cost_mask
        self.cost_dice = cost_dice
        self.num_points = num_points

    def _mask_costs(
        self, pred_masks: torch.Tensor, tgt_masks: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """pred_masks (Q, [T,] h, w) logits, tgt_masks (N, [T,] H, W) float -> (Q, N) mask and
        dice costs."""
        if pred_masks.shape[1:-2] != tgt_masks.shape[1:-2]:
            raise ValueError(
                f"HungarianMatcher: predicted masks {tuple(pred_masks.shape)} and target masks "
                f"{tuple(tgt_masks.shape)} differ in their number of frames."
            )
        # frames as channels: (Q, T, h, w), (N, T, H, W); an image is a clip of one frame
        pred = pred_masks.reshape(len(pred_masks), -1, *pred_masks.shape[-2:])
        tgt = tgt_masks.reshape(len(tgt_masks), -1, *tgt_masks.shape[-2:])
        if self.num_points > 0:
            pred, tgt = self._point_samples(pred, tgt)
            return pairwise_sigmoid_ce_cost(pred, tgt), pairwise_dice_cost(pred, tgt)
        tgt = F.interpolate(tgt, size=pred.shape[-2:], mode="nearest")
        pred, tgt = pred.flatten(1), tgt.flatten(1)
        return pairwise_sigmoid_focal_cost(pred, tgt), pairwise_dice_cost(pred, tgt)

    def _point_samples(
        self, pred: torch.Tensor, tgt: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """pred (Q, T, h, w) logits and tgt (N, T, H, W) target masks at ``num_points`` random
        points shared by all masks and frames: (Q, T * P) and (N, T * P)."""
        # drawn as the published code draws them: one (1, P, 2) tensor per image
        grid = random_grid(1, self.num_points, device=pred.device)
        # mask by mask (not as the channels of one image: at 128 x 128 and above, reading the
        # corners of a point in every channel misses the cache)
        return tuple(
            sample_points(masks, grid.expand(len(masks), -1, -1)).flatten(1)
            for masks in (pred, tgt)
        )

    @torch.no_grad()
    def forward(
        self, outputs: Dict[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]]
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """
        Args:
            outputs: "pred_logits" (B, Q, K+1) class logits, "pred_masks" (B, Q, h, w) mask
                logits (video clips: (B, Q, T, h, w)).
            targets: B dicts with "labels" (N,) int64 and "masks" (N, H, W) (video clips:
                (N, T, H, W)) bool or float.
        Returns:
            B pairs (pred_idx, tgt_idx) of int64 CPU tensors of length min(Q, N): query
            pred_idx[i] is matched to target tgt_idx[i]; pred_idx is sorted. Non-finite costs
            (a diverged model) count as 0, so that the losses are computed and reported.
        """
        pred_logits, pred_masks = outputs["pred_logits"], outputs["pred_masks"]
        check_targets(targets, len(pred_logits))
        size = padded_size(targets)
        indices = []
        for b, target in enumerate(targets):
            labels = target["labels"]
            if len(labels) == 0:
                empty = torch.empty(0, dtype=torch.int64)
                indices.append((empty, empty.clone()))
                continue
            # Costs are compared across queries: keep them in fp32 even under mixed precision.
            with torch.autocast(device_type=pred_masks.device.type, enabled=False):
                logits = pred_masks[b].float()
                tgt_masks = pad_masks(target["masks"].to(logits.device), size, torch.float32)
                cost_mask, cost_dice = self._mask_costs(logits, tgt_masks)
                cost_class = -pred_logits[b].float().softmax(-1)[:, labels]
                cost = (
                    self.cost_class * cost_class
                    + self.cost_mask * cost_mask
                    + self.cost_dice * cost_dice
                ).cpu()
            if not torch.isfinite(cost).all():
                # Diverged predictions (NaN / inf logits). Match anyway: the criterion then
                # computes the non-finite losses, which the train loop reports by term and
                # iteration as a diverged loss.
                cost = torch.where(torch.isfinite(cost), cost, torch.zeros_like(cost))
            pred_idx, tgt_idx = linear_sum_assignment(cost.numpy())
            indices.append(
                (
                    torch.as_tensor(pred_idx, dtype=torch.int64),
                    torch.as_tensor(tgt_idx, dtype=torch.int64),
                )
            )
        return indices

    def extra_repr(self) -> str:
        return (
            f"cost_class={self.cost_class}, cost_mask={self.cost_mask}, "
            f"cost_dice={self.cost_dice}, num_points={self.num_points}"
        )
