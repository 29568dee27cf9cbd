"""From the network's outputs for a batch to Detectron2's results per image, as ``spec`` asks:
mask logits upsampled to the padded input, cropped to each image and resized to its output
size, then semantic, panoptic and instance inference (:mod:`.tasks`)."""

from typing import Dict, List, Sequence, Tuple

import torch
from torch.nn import functional as F

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


def postprocess_image(
    mask_cls: torch.Tensor,
    mask_pred: torch.Tensor,
    spec: InferenceSpec,
    image_size: Tuple[int, int],
    output_size: Tuple[int, int],
) -> Dict:
    """One image's results.

    Args:
        mask_cls: (Q, K+1) class logits; mask_pred: (Q, H_pad, W_pad) mask logits.
        image_size: (h, w) of the resized image inside the padding.
        output_size: (height, width) of the results.
    Returns:
        as ``spec`` enables: "sem_seg" (K, height, width) scores, "panoptic_seg" (segment-id
        map (height, width) int32, segments_info) and "instances" (pred_masks or
        pred_masks_rle, pred_boxes, scores, pred_classes).
    """
    height, width = output_size
    result = {}
    if spec.sem_seg_postprocess_before_inference:
        mask_pred = crop_and_resize(mask_pred, image_size, height, width)
        mask_cls = mask_cls.to(mask_pred)
        if spec.semantic_on:
            result["sem_seg"] = semantic_inference(mask_cls, mask_pred)
    elif spec.semantic_on:
        # semantic inference is per pixel: the padding is cropped before it, not after
        sem_seg = semantic_inference(mask_cls, mask_pred[:, : image_size[0], : image_size[1]])
        result["sem_seg"] = crop_and_resize(sem_seg, image_size, height, width)
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
    mask_cls_results = torch.as_tensor(pred_logits)
    mask_pred_results = upsample_masks(torch.as_tensor(pred_masks), input_size)
    return [
        postprocess_image(mask_cls, mask_pred, spec, image_size, output_size)
        for mask_cls, mask_pred, image_size, output_size in zip(
            mask_cls_results, mask_pred_results, image_sizes, output_sizes
        )
    ]
