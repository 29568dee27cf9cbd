"""Set-prediction losses of MaskFormer / Mask2Former: Hungarian matching, then a classification
loss on every query and mask losses on the matched (query, target) pairs."""

from typing import Dict, List, Sequence, Tuple

import torch
import torch.distributed as dist
import torch.nn.functional as F
from detectron2.utils.comm import get_world_size
from torch import nn

from .losses import dice_loss, sigmoid_ce_loss, sigmoid_focal_loss
from .point_sampling import importance_sampled_grid, sample_points
from .target_masks import check_targets, pad_masks, padded_size

Indices = List[Tuple[torch.Tensor, torch.Tensor]]


def _matched_query_index(indices: Indices) -> Tuple[torch.Tensor, torch.Tensor]:
    """(batch index, query index) of every matched pair, for indexing (B, Q, ...) outputs."""
    batch = torch.cat([torch.full_like(pred, b) for b, (pred, _) in enumerate(indices)])
    return batch, torch.cat([pred for pred, _ in indices])


class SetCriterion(nn.Module):
    """Computes the unweighted losses of a set of mask predictions.

    - "labels": "loss_ce", cross entropy over K+1 classes of every query, with matched queries
      targeted at their segment's class and the others at "no object" (index K), whose weight is
      ``eos_coef`` (buffer ``empty_weight``).
    - "masks": "loss_mask" and "loss_dice" on matched pairs, each summed over pairs and divided by
      the number of target masks in the batch (averaged over processes, at least 1).
      ``num_points > 0`` (Mask2Former): sigmoid BCE + dice on ``num_points`` points per pair,
      importance-sampled (PointRend) around uncertain predictions; ``num_points == 0``
      (MaskFormer): sigmoid focal + dice on all pixels, predictions upsampled to the target size.

    Every entry of ``outputs["aux_outputs"]`` (deep supervision) is matched on its own and gets
    the same losses with suffix ``_{i}``. The caller multiplies by ``weight_dict``.

    Video clips (predicted masks (B, Q, T, h, w), target masks (N, T, H, W)): each frame of a
    matched pair is a mask of its own for "loss_mask" and "loss_dice" (points sampled per
    frame), so both are summed over frames; they are still divided by the number of target
    objects.
    """

    _LOSS_METHODS = {"labels": "loss_labels", "masks": "loss_masks"}

    def __init__(
        self,
        num_classes: int,
        matcher: nn.Module,
        weight_dict: Dict[str, float],
        eos_coef: float,
        losses: Sequence[str] = ("labels", "masks"),
        num_points: int = 0,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
    ):
        super().__init__()
        unknown = [name for name in losses if name not in self._LOSS_METHODS]
        if unknown:
            raise ValueError(
                f"SetCriterion: unknown losses {unknown}; available: {sorted(self._LOSS_METHODS)}."
            )
        if num_points > 0 and (oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1):
            raise ValueError(
                "SetCriterion: importance sampling needs oversample_ratio >= 1 and "
                f"importance_sample_ratio in [0, 1], got {oversample_ratio} and "
                f"{importance_sample_ratio}."
            )
        self.num_classes = num_classes
        self.matcher = matcher
        self.weight_dict = weight_dict
        self.eos_coef = eos_coef
        self.losses = tuple(losses)
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        empty_weight = torch.ones(num_classes + 1)
        empty_weight[-1] = eos_coef
        self.register_buffer("empty_weight", empty_weight)

    def loss_labels(
        self, outputs, targets, indices: Indices, num_masks: float
    ) -> Dict[str, torch.Tensor]:
        """outputs["pred_logits"]: (B, Q, K+1)."""
        logits = outputs["pred_logits"].float()
        target_classes = torch.full(
            logits.shape[:2], self.num_classes, dtype=torch.int64, device=logits.device
        )
        target_classes[_matched_query_index(indices)] = torch.cat(
            [t["labels"][tgt].to(logits.device) for t, (_, tgt) in zip(targets, indices)]
        )
        return {
            "loss_ce": F.cross_entropy(logits.transpose(1, 2), target_classes, self.empty_weight)
        }

    def loss_masks(
        self, outputs, targets, indices: Indices, num_masks: float
    ) -> Dict[str, torch.Tensor]:
        """outputs["pred_masks"]: (B, Q, [T,] h, w) logits; target masks (N, [T,] H, W) of any
        size."""
        pred = outputs["pred_masks"][_matched_query_index(indices)]  # (M, [T,] h, w)
        size = padded_size(targets)
        tgt = torch.cat(
            [pad_masks(t["masks"][j], size, pred.dtype) for t, (_, j) in zip(targets, indices)]
        )
        if pred.shape[1:-2] != tgt.shape[1:-2]:
            raise ValueError(
                f"SetCriterion: predicted masks {tuple(outputs['pred_masks'].shape)} and target "
                f"masks {tuple(tgt.shape)} differ in their number of frames."
            )
        # one mask per (pair, frame): (M * T, 1, h, w) and (M * T, 1, H, W)
        pred = pred.flatten(0, -3)[:, None]
        tgt = tgt.to(pred.device).flatten(0, -3)[:, None]

        if self.num_points > 0:
            pred, tgt = self._point_samples(pred, tgt)
            mask_loss = sigmoid_ce_loss(pred, tgt, num_masks)
        else:
            pred = F.interpolate(pred, size=size, mode="bilinear", align_corners=False)
            pred, tgt = pred.flatten(1), tgt.flatten(1)
            mask_loss = sigmoid_focal_loss(pred, tgt, num_masks)
        return {"loss_mask": mask_loss, "loss_dice": dice_loss(pred, tgt, num_masks)}

    def _point_samples(
        self, pred: torch.Tensor, tgt: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """pred (M, 1, h, w) logits and tgt (M, 1, H, W) target masks at ``num_points``
        importance-sampled points of each pred: (M, P) and (M, P), the targets without
        gradients. Normalized point coordinates address both resolutions: no upsampling."""
        with torch.no_grad():
            grid = importance_sampled_grid(
                pred, self.num_points, self.oversample_ratio, self.importance_sample_ratio
            )
            tgt = sample_points(tgt, grid)[:, 0]
        return sample_points(pred, grid)[:, 0], tgt

    def _num_masks(self, targets, device: torch.device) -> float:
        """Number of target masks per process, averaged over processes, at least 1."""
        num_masks = torch.as_tensor(
            [float(sum(len(t["labels"]) for t in targets))], dtype=torch.float, device=device
        )
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(num_masks)
        return torch.clamp(num_masks / get_world_size(), min=1).item()

    def _check_labels(self, targets) -> None:
        for i, t in enumerate(targets):
            labels = t["labels"]
            if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
                raise ValueError(
                    f"targets[{i}]['labels'] must lie in [0, {self.num_classes}) (contiguous class "
                    f"ids, no ignore label), got values {labels.unique().tolist()}."
                )

    def _losses(
        self, outputs, targets, num_masks: float, suffix: str = ""
    ) -> Dict[str, torch.Tensor]:
        indices = self.matcher(outputs, targets)
        losses = {}
        for name in self.losses:
            loss_fn = getattr(self, self._LOSS_METHODS[name])
            for key, value in loss_fn(outputs, targets, indices, num_masks).items():
                losses[key + suffix] = value
        return losses

    def forward(
        self, outputs: Dict[str, torch.Tensor], targets: List[Dict[str, torch.Tensor]]
    ) -> Dict[str, torch.Tensor]:
        """
        Args:
            outputs: "pred_logits" (B, Q, K+1), "pred_masks" (B, Q, h, w) (video clips:
                (B, Q, T, h, w)) and optionally "aux_outputs": a list of dicts with the same
                two keys (one per decoder layer).
            targets: B dicts with "labels" (N,) int64 in [0, K) and "masks" (N, H, W) (video
                clips: (N, T, H, W)).
        Returns:
            Unweighted scalar losses "loss_ce", "loss_mask", "loss_dice" (for the losses
            requested) and "<name>_{i}" for auxiliary output i.
        """
        check_targets(targets, len(outputs["pred_logits"]))
        self._check_labels(targets)
        num_masks = self._num_masks(targets, outputs["pred_logits"].device)
        # padded float masks once, for the matching and the losses of every layer
        size = padded_size(targets)
        targets = [{**t, "masks": pad_masks(t["masks"], size, torch.float32)} for t in targets]
        final = {k: v for k, v in outputs.items() if k != "aux_outputs"}
        losses = self._losses(final, targets, num_masks)
        for i, aux in enumerate(outputs.get("aux_outputs", ())):
            losses.update(self._losses(aux, targets, num_masks, suffix=f"_{i}"))
        return losses

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, eos_coef={self.eos_coef}, losses={self.losses}, "
            f"weight_dict={self.weight_dict}, num_points={self.num_points}, "
            f"oversample_ratio={self.oversample_ratio}, "
            f"importance_sample_ratio={self.importance_sample_ratio}"
        )
