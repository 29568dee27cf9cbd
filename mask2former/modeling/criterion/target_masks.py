"""Target-mask helpers shared by the matcher and the criterion.

A target's masks are (N, H, W) for an image, or (N, T, H, W) for a video clip of T frames (an
object's mask in every frame, empty where it is absent). Targets of one batch may come with
masks of different sizes. Like the published implementation's
nested tensors, every mask is zero-padded at the bottom and right to the largest height and width
in the batch, so that normalized coordinates and resizing mean the same thing for all images.
"""

from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F


def check_targets(targets: List[Dict[str, torch.Tensor]], batch_size: int) -> None:
    """Raises ValueError unless ``targets`` holds ``batch_size`` dicts with "labels" (N,) and
    "masks" (N, H, W) or (N, T, H, W)."""
    if len(targets) != batch_size:
        raise ValueError(f"Expected {batch_size} target dicts (one per image), got {len(targets)}.")
    for i, target in enumerate(targets):
        if "labels" not in target or "masks" not in target:
            raise ValueError(f"targets[{i}] needs keys 'labels' and 'masks', has {sorted(target)}.")
        labels, masks = target["labels"], target["masks"]
        if labels.dim() != 1 or masks.dim() not in (3, 4) or masks.shape[0] != labels.shape[0]:
            raise ValueError(
                f"targets[{i}]: expected 'labels' of shape (N,) and 'masks' of shape (N, H, W) "
                f"(images) or (N, T, H, W) (video clips), got {tuple(labels.shape)} and "
                f"{tuple(masks.shape)}."
            )


def padded_size(targets: List[Dict[str, torch.Tensor]]) -> Tuple[int, int]:
    """Largest (H, W) over the target masks of a batch."""
    return (
        max(t["masks"].shape[-2] for t in targets),
        max(t["masks"].shape[-1] for t in targets),
    )


def pad_masks(masks: torch.Tensor, size: Tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """(N, [T,] H, W) masks -> (N, [T,] size[0], size[1]) of ``dtype``, zero-padded at the
    bottom/right."""
    masks = masks.to(dtype)
    pad_h, pad_w = size[0] - masks.shape[-2], size[1] - masks.shape[-1]
    if pad_h or pad_w:
        masks = F.pad(masks, (0, pad_w, 0, pad_h))
    return masks
