"""From the network's outputs for a batch to Detectron2's results per image, as ``spec`` asks:
mask logits upsampled to the padded input, cropped to each image and resized to its output
size, then semantic, panoptic and instance inference (:mod:`.tasks`). Semantic scores come
straight from the low-resolution logits through the compiled kernel where it runs
(:func:`semantic_scores`)."""

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch.nn import functional as F

from ...layers import compiled_op_available, reference_ops_enabled
from .spec import InferenceSpec
from .tasks import instance_inference, panoptic_inference, semantic_inference


def upsample_masks(mask_logits: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """(N, C, h, w) mask logits resized bilinearly to ``size`` (the padded input size)."""
    return F.interpolate(mask_logits, size=tuple(size), mode="bilinear", align_corners=False)


def crop_and_resize(
    maps: torch.Tensor, image_size: Tuple[int, int], height: int, width: int
) -> torch.Tensor:
    """Detectron2's ``sem_seg_postprocess``, for (C, H_pad, W_pad) or (N, C, H_pad, W_pad)
    maps: crop them to the image's ``image_size`` (h, w) and resize them bilinearly to
    (height, width). A same-size bilinear resize is the identity, so it is skipped (the crop
    is a view then)."""
    maps = maps[..., : image_size[0], : image_size[1]]
    if tuple(maps.shape[-2:]) == (height, width):
        return maps
    if maps.dim() == 3:
        return upsample_masks(maps[None], (height, width))[0]
    return upsample_masks(maps, (height, width))


def semantic_kernel_runs(mask_logits: torch.Tensor) -> bool:
    """Whether :func:`semantic_scores` can run the compiled kernel on ``mask_logits``: it is
    built for their device and the kernel switch does not select the reference."""
    return not reference_ops_enabled() and compiled_op_available(mask_logits.device)


def semantic_scores(
    mask_cls: torch.Tensor,
    mask_logits: torch.Tensor,
    spec: InferenceSpec,
    padded_size: Tuple[int, int],
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
) -> torch.Tensor:
    """One image's "sem_seg" (K, height, width) from its low-resolution mask logits, equal up
    to float rounding to :func:`postprocess_image`'s from the upsampled ones, computed by the
    compiled kernel ``mask2former::semantic_scores`` (check :func:`semantic_kernel_runs`): the
    logits are upsampled, cropped and resized tile by tile, so the (Q, height, width) masks are
    never held in memory. Half-precision logits are computed in float32 and returned in their
    dtype.

    Args:
        mask_cls: (Q, K+1) class logits; mask_logits: (Q, h, w) mask logits for an input padded
            to ``padded_size``; image_size: (h, w) of the image inside the padding;
            output_size: (height, width).
    """
    dtype = mask_logits.dtype
    compute_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    class_prob = F.softmax(mask_cls.to(compute_dtype), dim=-1)[:, :-1]
    # without resizing first, scores are computed at the image size and resized afterwards
    before = spec.sem_seg_postprocess_before_inference
    scores = torch.ops.mask2former.semantic_scores(
        mask_logits.to(compute_dtype),
        class_prob,
        list(padded_size),
        list(image_size),
        list(output_size if before else image_size),
    )
    if not before:
        scores = crop_and_resize(scores, image_size, *output_size)
    return scores.to(dtype)


def postprocess_image(
    mask_cls: torch.Tensor,
    mask_pred: Optional[torch.Tensor],
    spec: InferenceSpec,
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
    sem_seg: Optional[torch.Tensor] = None,
) -> Dict:
    """One image's results.

    Args:
        mask_cls: (Q, K+1) class logits; mask_pred: (Q, H_pad, W_pad) mask logits.
        image_size: (h, w) of the resized image inside the padding.
        output_size: (height, width) of the results.
        sem_seg: the "sem_seg" result when already computed (:func:`semantic_scores`);
            ``mask_pred`` may then be None unless panoptic or instance results are on.
    Returns:
        as ``spec`` enables: "sem_seg" (K, height, width) scores, "panoptic_seg" (segment-id
        map (height, width) int32, segments_info) and "instances" (pred_masks or
        pred_masks_rle, pred_boxes, scores, pred_classes).
    """
    height, width = output_size
    result = {}
    if mask_pred is not None and spec.sem_seg_postprocess_before_inference:
        mask_pred = crop_and_resize(mask_pred, image_size, height, width)
        mask_cls = mask_cls.to(mask_pred)
    if spec.semantic_on:
        if sem_seg is None and spec.sem_seg_postprocess_before_inference:
            sem_seg = semantic_inference(mask_cls, mask_pred)
        elif sem_seg is None:
            # semantic inference is per pixel: the padding is cropped before it, not after
            sem_seg = semantic_inference(mask_cls, mask_pred[:, : image_size[0], : image_size[1]])
            sem_seg = crop_and_resize(sem_seg, image_size, height, width)
        result["sem_seg"] = sem_seg
    if spec.panoptic_on:
        if spec.thing_ids is None:
            raise ValueError(
                "panoptic inference needs the thing classes (InferenceSpec.thing_ids): the "
                "metadata of the config's DATASETS.TRAIN[0] (or TEST[0]) has no "
                "thing_dataset_id_to_contiguous_id"
            )
        result["panoptic_seg"] = panoptic_inference(
            mask_cls,
            mask_pred,
            num_classes=spec.num_classes,
            object_mask_threshold=spec.object_mask_threshold,
            overlap_threshold=spec.overlap_threshold,
            thing_ids=spec.thing_ids,
            within_mask=spec.panoptic_within_mask,
            mask_threshold=spec.mask_threshold,
            fuse_ids=spec.fused_class_ids(),
            with_scores=spec.panoptic_segment_scores,
        )
    if spec.instance_on:
        result["instances"] = instance_inference(
            mask_cls,
            mask_pred,
            image_size=output_size,
            num_classes=spec.num_classes,
            topk=spec.test_topk_per_image,
            thing_ids=spec.thing_ids if spec.panoptic_on else None,
            mask_threshold=spec.mask_threshold,
            mask_format=spec.instance_mask_format,
        )
    return result


def postprocess(
    pred_logits,
    pred_masks,
    spec: InferenceSpec,
    input_size: Tuple[int, int],
    image_sizes: Sequence[Tuple[int, int]],
    output_sizes: Sequence[Tuple[int, int]],
) -> List[Dict]:
    """The results of a batch from the network's outputs (tensors or numpy arrays).

    Args:
        pred_logits: (N, Q, K+1); pred_masks: (N, Q, h, w), for an input of ``input_size``
            (H_pad, W_pad).
        image_sizes: per image, (h, w) of the resized image inside the padding.
        output_sizes: per image, (height, width) of its results.
    Returns:
        per image :func:`postprocess_image`'s dict.
    """
    results = []
    for mask_cls, mask_logits, image_size, output_size in zip(
        torch.as_tensor(pred_logits), torch.as_tensor(pred_masks), image_sizes, output_sizes
    ):
        sem_seg = None
        if spec.semantic_on and semantic_kernel_runs(mask_logits):
            sem_seg = semantic_scores(
                mask_cls, mask_logits, spec, input_size, image_size, output_size
            )
        mask_pred = None
        if sem_seg is None or spec.panoptic_on or spec.instance_on:
            mask_pred = upsample_masks(mask_logits[None], input_size)[0]
        results.append(
            postprocess_image(mask_cls, mask_pred, spec, image_size, output_size, sem_seg)
        )
    return results
