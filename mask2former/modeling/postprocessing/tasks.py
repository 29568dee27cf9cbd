"""Turning one image's mask classification into semantic, panoptic or instance results in
Detectron2's output formats.

All functions take the predictions of ONE image: ``mask_cls`` (Q, K+1) class logits (the last
class is "no object") and ``mask_pred`` (Q, H, W) mask logits already resized to the output size.
"""

from typing import Collection, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from detectron2.structures import BitMasks, Instances


def _check_predictions(
    mask_cls: torch.Tensor, mask_pred: torch.Tensor, num_classes: Optional[int] = None
) -> None:
    if mask_cls.dim() != 2 or mask_pred.dim() != 3 or len(mask_cls) != len(mask_pred):
        raise ValueError(
            "Expected mask_cls of shape (Q, K+1) and mask_pred of shape (Q, H, W), got "
            f"{tuple(mask_cls.shape)} and {tuple(mask_pred.shape)}."
        )
    if num_classes is not None and mask_cls.shape[1] != num_classes + 1:
        raise ValueError(
            f"mask_cls has {mask_cls.shape[1]} class logits, expected "
            f"num_classes + 1 = {num_classes + 1}."
        )


def semantic_inference(mask_cls: torch.Tensor, mask_pred: torch.Tensor) -> torch.Tensor:
    """Per-class score map: sum over queries of P(class | query) * P(pixel in mask | query),
    ignoring the no-object probability.

    Returns:
        (K, H, W) scores, the format of Detectron2's "sem_seg" output.
    """
    _check_predictions(mask_cls, mask_pred)
    class_prob = F.softmax(mask_cls, dim=-1)[:, :-1]
    return torch.einsum("qc,qhw->chw", class_prob, mask_pred.sigmoid())


def panoptic_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    *,
    num_classes: int,
    object_mask_threshold: float,
    overlap_threshold: float,
    thing_ids: Collection[int],
    within_mask: bool,
) -> Tuple[torch.Tensor, List[Dict]]:
    """Non-overlapping segments from the confident queries.

    Queries predicting "no object" or whose class probability is not above
    ``object_mask_threshold`` are dropped. Each pixel is won by the remaining query with the
    highest class probability * mask probability. A query's segment is the pixels it wins or,
    with ``within_mask``, only those of them where its own mask probability is >= 0.5. A query
    keeps its segment only if it wins at least ``overlap_threshold`` of its own mask (mask
    probability >= 0.5) and the segment is not empty; queries of the same stuff class (not in
    ``thing_ids``) are merged into one segment.

    Args:
        num_classes: K (the no-object index).
        thing_ids: contiguous ids of the thing classes.
        within_mask: True for the Mask2Former release's rule, False for the MaskFormer
            release's (see ``InferenceSpec.panoptic_within_mask``).
    Returns:
        panoptic_seg: (H, W) int32, 0 = void, segment ids count from 1.
        segments_info: one dict per segment {"id", "isthing", "category_id" (contiguous id)}.
    """
    _check_predictions(mask_cls, mask_pred, num_classes)
    scores, labels = F.softmax(mask_cls, dim=-1).max(-1)
    keep = (labels != num_classes) & (scores > object_mask_threshold)
    scores, labels, mask_prob = scores[keep], labels[keep], mask_pred[keep].sigmoid()

    panoptic_seg = torch.zeros(mask_pred.shape[-2:], dtype=torch.int32, device=mask_pred.device)
    segments_info = []
    if len(labels) == 0:
        return panoptic_seg, segments_info

    winner = (scores[:, None, None] * mask_prob).argmax(0)  # (H, W)
    own = mask_prob >= 0.5  # (Q', H, W)
    if within_mask:
        in_segment = own.gather(0, winner[None])[0]  # pixel inside its winning query's mask
    else:
        in_segment = torch.ones_like(winner, dtype=torch.bool)
    n = len(labels)
    areas = torch.stack(
        [
            torch.bincount(winner.flatten(), minlength=n),  # pixels won
            own.flatten(1).sum(1),  # pixels of the query's own mask
            torch.bincount(winner[in_segment], minlength=n),  # pixels of the segment
        ]
    )
    # Segment ids are decided on the host (one transfer), then painted in one pass.
    thing_ids = set(int(i) for i in thing_ids)
    query_segment_id = [0] * n
    stuff_segment_ids = {}
    for k, (label, (won_area, own_area, segment_area)) in enumerate(
        zip(labels.tolist(), areas.T.tolist())
    ):
        if won_area == 0 or own_area == 0 or segment_area == 0:
            continue
        if won_area / own_area < overlap_threshold:
            continue
        isthing = label in thing_ids
        if not isthing and label in stuff_segment_ids:
            query_segment_id[k] = stuff_segment_ids[label]
            continue
        query_segment_id[k] = len(segments_info) + 1
        segments_info.append({"id": query_segment_id[k], "isthing": isthing, "category_id": label})
        if not isthing:
            stuff_segment_ids[label] = query_segment_id[k]
    query_segment_id = torch.as_tensor(query_segment_id, dtype=torch.int32, device=winner.device)
    panoptic_seg = torch.where(in_segment, query_segment_id[winner], panoptic_seg)
    return panoptic_seg, segments_info


def top_class_pairs(
    class_prob: torch.Tensor, topk: int
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The ``topk`` highest (query, class) probabilities of a (Q, K) matrix, highest first:
    their scores (R,), classes (R,) and queries (R,) with R = min(topk, Q * K)."""
    num_classes = class_prob.shape[1]
    scores, flat_idx = class_prob.flatten().topk(min(topk, class_prob.numel()))
    return scores, flat_idx % num_classes, flat_idx // num_classes


def instance_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    *,
    image_size: Tuple[int, int],
    num_classes: int,
    topk: int,
    thing_ids: Optional[Collection[int]] = None,
) -> Instances:
    """The ``topk`` best (query, class) pairs as instances.

    Every query may yield several instances with different classes. An instance's score is its
    class probability times the mean mask probability inside its binary mask (logit > 0). With
    ``thing_ids`` (panoptic models), pairs of stuff classes are dropped after the top-k selection.

    Args:
        image_size: (H, W) of the output, equal to mask_pred's spatial size.
        num_classes: K.
        topk: number of (query, class) pairs kept (at most Q * K).
        thing_ids: contiguous ids of the thing classes, or None to keep every class.
    Returns:
        Instances of ``image_size`` with pred_masks (R, H, W) bool, pred_boxes (Boxes from the
        masks, XYXY absolute), scores (R,) and pred_classes (R,) int64, sorted by class score.
    """
    _check_predictions(mask_cls, mask_pred, num_classes)
    if tuple(image_size) != tuple(mask_pred.shape[-2:]):
        raise ValueError(
            f"instance_inference: image_size {tuple(image_size)} differs from the mask size "
            f"{tuple(mask_pred.shape[-2:])}; resize mask_pred to the output size first."
        )
    class_prob = F.softmax(mask_cls, dim=-1)[:, :-1]
    scores, labels, query = top_class_pairs(class_prob, topk)
    if thing_ids is not None:
        is_thing = torch.isin(
            labels, torch.as_tensor(sorted(thing_ids), dtype=labels.dtype, device=labels.device)
        )
        scores, labels, query = scores[is_thing], labels[is_thing], query[is_thing]

    logits = mask_pred[query]
    masks = logits > 0
    mask_area = masks.flatten(1).sum(1)
    mask_scores = (logits.sigmoid() * masks).flatten(1).sum(1) / (mask_area + 1e-6)

    result = Instances(tuple(image_size))
    result.pred_masks = masks
    result.pred_boxes = BitMasks(masks).get_bounding_boxes().to(masks.device)
    result.scores = scores * mask_scores
    result.pred_classes = labels
    return result
