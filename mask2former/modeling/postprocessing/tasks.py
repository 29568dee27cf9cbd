"""Turning one image's mask classification into semantic, panoptic or instance results in
Detectron2's output formats.

All functions take the predictions of ONE image: ``mask_cls`` (Q, K+1) class logits (the last
class is "no object") and ``mask_pred`` (Q, H, W) mask logits already resized to the output size.
"""

import math
from typing import Collection, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.structures import BitMasks, Instances
from pycocotools import mask as mask_util


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
    mask_threshold: float = 0.5,
    fuse_ids: Optional[Collection[int]] = None,
    with_scores: bool = False,
) -> Tuple[torch.Tensor, List[Dict]]:
    """Non-overlapping segments from the confident queries.

    Queries predicting "no object" or whose class probability is not above
    ``object_mask_threshold`` are dropped. Each pixel is won by the remaining query with the
    highest class probability * mask probability. A query's segment is the pixels it wins or,
    with ``within_mask``, only those of them where its own mask probability is >=
    ``mask_threshold``. A query keeps its segment only if it wins at least
    ``overlap_threshold`` of its own mask (mask probability >= ``mask_threshold``) and the
    segment is not empty; queries of one class of ``fuse_ids`` are merged into one segment.

    Args:
        num_classes: K (the no-object index).
        thing_ids: contiguous ids of the thing classes.
        within_mask: True for the Mask2Former release's rule, False for the MaskFormer
            release's (see ``InferenceSpec.panoptic_within_mask``).
        mask_threshold: the mask probability from which a pixel is in a query's mask.
        fuse_ids: classes fused into one segment per class; None: the stuff classes (those not
            in ``thing_ids``), as both releases do.
        with_scores: add each segment's "score", its query's class probability (for a fused
            segment the highest of its queries').
    Returns:
        panoptic_seg: (H, W) int32, 0 = void, segment ids count from 1.
        segments_info: one dict per segment {"id", "isthing", "category_id" (contiguous id)}
            and, ``with_scores``, "score" (float).
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
    own = mask_prob >= mask_threshold  # (Q', H, W)
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
    fuse_ids = set(range(num_classes)) - thing_ids if fuse_ids is None else set(fuse_ids)
    query_segment_id = [0] * n
    fused_segments = {}  # class -> its segment's entry of segments_info
    for k, (label, score, (won_area, own_area, segment_area)) in enumerate(
        zip(labels.tolist(), scores.tolist(), areas.T.tolist())
    ):
        if won_area == 0 or own_area == 0 or segment_area == 0:
            continue
        if won_area / own_area < overlap_threshold:
            continue
        if label in fused_segments:
            segment = fused_segments[label]
            query_segment_id[k] = segment["id"]
            if with_scores:
                segment["score"] = max(segment["score"], score)
            continue
        query_segment_id[k] = len(segments_info) + 1
        segment = {"id": query_segment_id[k], "isthing": label in thing_ids, "category_id": label}
        if with_scores:
            segment["score"] = score
        segments_info.append(segment)
        if label in fuse_ids:
            fused_segments[label] = segment
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


def encode_rle(masks: torch.Tensor) -> List[Dict]:
    """(R, H, W) bool masks as R pycocotools RLE dicts {"size": [H, W], "counts": bytes}."""
    if len(masks) == 0:
        return []
    # pycocotools encodes (H, W, R) uint8 arrays in Fortran order
    return mask_util.encode(
        np.asfortranarray(masks.permute(1, 2, 0).cpu().numpy().astype(np.uint8))
    )


def instance_inference(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    *,
    image_size: Tuple[int, int],
    num_classes: int,
    topk: int,
    thing_ids: Optional[Collection[int]] = None,
    mask_threshold: float = 0.5,
    mask_format: str = "bitmask",
) -> Instances:
    """The ``topk`` best (query, class) pairs as instances.

    Every query may yield several instances with different classes. An instance's score is its
    class probability times the mean mask probability inside its binary mask (probability above
    ``mask_threshold``, compared as logit > log(t / (1 - t)), which is 0 at 0.5). With
    ``thing_ids`` (panoptic models), pairs of stuff classes are dropped after the top-k selection.

    Args:
        image_size: (H, W) of the output, equal to mask_pred's spatial size.
        num_classes: K.
        topk: number of (query, class) pairs kept (at most Q * K).
        thing_ids: contiguous ids of the thing classes, or None to keep every class.
        mask_threshold: in (0, 1).
        mask_format: "bitmask", or "rle" for the masks as pycocotools RLE dicts
            ({"size": [H, W], "counts": bytes}) in ``pred_masks_rle`` instead of ``pred_masks``
            (a few bytes per instance rather than H * W).
    Returns:
        Instances of ``image_size`` with pred_masks (R, H, W) bool (or pred_masks_rle), pred_boxes
        (Boxes from the masks, XYXY absolute), scores (R,) and pred_classes (R,) int64, sorted
        by class score.
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
    masks = logits > math.log(mask_threshold / (1.0 - mask_threshold))
    mask_area = masks.flatten(1).sum(1)
    mask_scores = (logits.sigmoid() * masks).flatten(1).sum(1) / (mask_area + 1e-6)

    result = Instances(tuple(image_size))
    if mask_format == "rle":
        result.pred_masks_rle = encode_rle(masks)
    else:
        result.pred_masks = masks
    result.pred_boxes = BitMasks(masks).get_bounding_boxes().to(masks.device)
    result.scores = scores * mask_scores
    result.pred_classes = labels
    return result
