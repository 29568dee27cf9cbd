"""The MaskFormer / Mask2Former meta-architecture."""

import dataclasses
from typing import Dict, List, Optional, Tuple

import torch
from detectron2.config import configurable, get_cfg
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.modeling.backbone import Backbone
from detectron2.structures import ImageList, Instances
from torch import nn

from ..criterion import SetCriterion
from ..criterion.matcher import HungarianMatcher
from ..postprocessing import (
    InferenceSpec,
    network_input,
    pixel_statistics,
    postprocess,
    postprocess_image,
    sliding_window_semantic,
    thing_ids_of,
)
from ..transformer_decoder.maskformer_transformer_decoder import StandardTransformerDecoder


def loss_weights(
    class_weight: float, mask_weight: float, dice_weight: float, num_aux_outputs: int
) -> Dict[str, float]:
    """Weights of the final losses and of each auxiliary output's ("_{i}"-suffixed) losses."""
    base = {"loss_ce": class_weight, "loss_mask": mask_weight, "loss_dice": dice_weight}
    weights = dict(base)
    for i in range(num_aux_outputs):
        weights.update({f"{k}_{i}": v for k, v in base.items()})
    return weights


def build_criterion(cfg, num_classes: int) -> SetCriterion:
    """The Hungarian matcher and set criterion of MODEL.MASK_FORMER's loss and matching
    settings (images and video clips alike)."""
    mf = cfg.MODEL.MASK_FORMER
    matcher = HungarianMatcher(
        cost_class=mf.CLASS_WEIGHT,
        cost_mask=mf.MASK_WEIGHT,
        cost_dice=mf.DICE_WEIGHT,
        num_points=mf.TRAIN_NUM_POINTS,
    )
    # both decoders make DEC_LAYERS predictions when deeply supervised
    num_aux = mf.DEC_LAYERS - 1 if mf.DEEP_SUPERVISION else 0
    return SetCriterion(
        num_classes,
        matcher=matcher,
        weight_dict=loss_weights(mf.CLASS_WEIGHT, mf.MASK_WEIGHT, mf.DICE_WEIGHT, num_aux),
        eos_coef=mf.NO_OBJECT_WEIGHT,
        losses=("labels", "masks"),
        num_points=mf.TRAIN_NUM_POINTS,
        oversample_ratio=mf.OVERSAMPLE_RATIO,
        importance_sample_ratio=mf.IMPORTANCE_SAMPLE_RATIO,
    )


class _SpecSetting:
    """A model attribute that is one setting of ``model.inference_spec`` (the published model's
    attributes): reading it reads the spec, setting it replaces the spec by a copy with the
    new value."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, model, owner=None):
        return self if model is None else getattr(model.inference_spec, self.name)

    def __set__(self, model, value):
        model.inference_spec = dataclasses.replace(model.inference_spec, **{self.name: value})


def _spec_of_keywords(sem_seg_head: nn.Module, metadata, settings: Dict) -> InferenceSpec:
    """The inference spec of the published constructor's keywords (``settings``, fields of
    ``InferenceSpec``). What they lack comes from elsewhere: the thing classes from the
    dataset's ``metadata``, the panoptic rule from the head's transformer decoder, the input
    format and test-time resize from Detectron2's default config."""
    defaults = get_cfg().INPUT
    predictor = getattr(sem_seg_head, "predictor", None)
    derived = {
        "input_format": defaults.FORMAT,
        "min_size_test": defaults.MIN_SIZE_TEST,
        "max_size_test": defaults.MAX_SIZE_TEST,
        "num_classes": sem_seg_head.num_classes,
        "thing_ids": thing_ids_of(metadata),
        "panoptic_within_mask": not isinstance(predictor, StandardTransformerDecoder),
    }
    return InferenceSpec(**{**derived, **settings})


@META_ARCH_REGISTRY.register()
class MaskFormer(nn.Module):
    """Mask classification for semantic, panoptic and instance segmentation (MaskFormer and
    Mask2Former, depending on the head's transformer decoder).

    Training: images are normalized and padded to ``size_divisibility``; the head predicts Q
    (class, mask) pairs which ``criterion`` matches to the ground-truth segments of each
    image's ``instances``. Inference: mask logits are upsampled to the padded image size, then
    per image cropped and resized to the requested (height, width) and turned into the
    outputs enabled by ``semantic_on`` / ``panoptic_on`` / ``instance_on``. These settings and
    the others of inference are ``inference_spec`` (:class:`InferenceSpec`), shared with the
    predictor and the exported runtime."""

    # the published model's attributes, each one setting of ``inference_spec``
    object_mask_threshold = _SpecSetting()
    overlap_threshold = _SpecSetting()
    size_divisibility = _SpecSetting()
    sem_seg_postprocess_before_inference = _SpecSetting()
    semantic_on = _SpecSetting()
    panoptic_on = _SpecSetting()
    instance_on = _SpecSetting()
    test_topk_per_image = _SpecSetting()
    thing_ids = _SpecSetting()
    panoptic_within_mask = _SpecSetting()

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module,
        num_queries: int,
        inference_spec: Optional[InferenceSpec] = None,
        channels_last: bool = True,
        metadata=None,
        **settings,
    ):
        """
        Args:
            backbone: a Detectron2 backbone.
            sem_seg_head: a head returning {"pred_logits", "pred_masks", "aux_outputs"}.
            criterion: the matching-based loss (SetCriterion), with a ``weight_dict``.
            num_queries: Q.
            inference_spec: the inference settings (``from_config``:
                ``InferenceSpec.from_config(cfg)``); a ``size_divisibility`` < 0 becomes the
                backbone's.
            channels_last: store the 4-D weights in channels-last layout, so that the
                convolutions run on (and return) channels-last activations, which oneDNN's CPU
                convolutions are faster on; values change by float rounding only. Loading
                weights keeps the layout. ``from_config``: when MODEL.DEVICE is "cpu"; by
                default (the published keywords, whose model is built on the CPU) on.
            metadata, settings: instead of ``inference_spec``, the published constructor's
                keywords: object_mask_threshold, overlap_threshold, size_divisibility,
                sem_seg_postprocess_before_inference, pixel_mean, pixel_std, semantic_on,
                panoptic_on, instance_on, test_topk_per_image (and optionally other fields of
                ``InferenceSpec``), with ``metadata``, the dataset's, for the thing classes.
        """
        super().__init__()
        if inference_spec is None:
            inference_spec = _spec_of_keywords(sem_seg_head, metadata, settings)
        elif settings or metadata is not None:
            given = sorted(settings) + ([] if metadata is None else ["metadata"])
            raise TypeError(
                f"MaskFormer: got inference_spec and {', '.join(given)}; pass inference_spec "
                "alone, or the published keywords without it"
            )
        if inference_spec.size_divisibility < 0:
            inference_spec = dataclasses.replace(
                inference_spec, size_divisibility=backbone.size_divisibility
            )
        if inference_spec.num_classes != sem_seg_head.num_classes:
            raise ValueError(
                f"MaskFormer: the inference spec has {inference_spec.num_classes} classes, "
                f"the head {sem_seg_head.num_classes}"
            )
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self.criterion = criterion
        self.num_queries = num_queries
        self.inference_spec = inference_spec
        pixel_mean, pixel_std = pixel_statistics(inference_spec)
        self.register_buffer("pixel_mean", pixel_mean, False)
        self.register_buffer("pixel_std", pixel_std, False)
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        sem_seg_head = build_sem_seg_head(cfg, backbone.output_shape())
        return {
            "backbone": backbone,
            "sem_seg_head": sem_seg_head,
            "criterion": build_criterion(cfg, sem_seg_head.num_classes),
            "num_queries": cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES,
            "inference_spec": InferenceSpec.from_config(cfg),
            "channels_last": cfg.MODEL.DEVICE == "cpu",
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        """Normalize and pad the images into one (N, 3, H_pad, W_pad) batch."""
        images = [x["image"].to(self.device) for x in batched_inputs]
        return network_input(images, self.pixel_mean, self.pixel_std, self.inference_spec)

    def forward(self, batched_inputs: List[Dict]):
        """
        Args:
            batched_inputs: one dict per image with "image" (3, H, W) in cfg.INPUT.FORMAT;
                in training "instances" with gt_classes (N,) and gt_masks (N, H, W) (tensor or
                BitMasks); optionally "height"/"width", the output size at inference.
        Returns:
            training: dict of weighted losses;
            inference: one dict per image with, as enabled, "sem_seg" (K, height, width)
            scores, "panoptic_seg" (segment-id map (height, width) int32, segments_info) and
            "instances" (pred_masks, pred_boxes, scores, pred_classes).
        """
        if not self.training and self.inference_spec.sliding_window_size is not None:
            return [self.sliding_window_inference(x) for x in batched_inputs]
        images = self.preprocess_image(batched_inputs)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        if self.training:
            return self.losses(outputs, batched_inputs, images)
        return self.inference(outputs, batched_inputs, images)

    def sliding_window_inference(self, batched_input: Dict) -> Dict:
        """One image's {"sem_seg"} window by window (``inference_spec.sliding_window_*``)."""
        image = batched_input["image"].to(self.device)
        h, w = image.shape[-2:]

        def window_scores(crop: torch.Tensor) -> torch.Tensor:
            images = network_input([crop], self.pixel_mean, self.pixel_std, self.inference_spec)
            outputs = self.sem_seg_head(self.backbone(images.tensor))
            return self.inference(outputs, [{}], images)[0]["sem_seg"]

        output_size = (batched_input.get("height", h), batched_input.get("width", w))
        return sliding_window_semantic(image, self.inference_spec, window_scores, output_size)

    def losses(self, outputs, batched_inputs, images: ImageList) -> Dict[str, torch.Tensor]:
        if "instances" not in batched_inputs[0]:
            raise ValueError(
                "MaskFormer training needs 'instances' (gt_classes, gt_masks) in every input; "
                "use one of the mask_former_* dataset mappers"
            )
        targets = self.prepare_targets(
            [x["instances"].to(self.device) for x in batched_inputs], images
        )
        losses = self.criterion(outputs, targets)
        weights = self.criterion.weight_dict
        return {k: v * weights[k] for k, v in losses.items() if k in weights}

    @staticmethod
    def prepare_targets(gt_instances: List[Instances], images: ImageList) -> List[Dict]:
        """Criterion targets: labels (N,) and masks (N, H_pad, W_pad) zero-padded to the batch."""
        h_pad, w_pad = images.tensor.shape[-2:]
        targets = []
        for inst in gt_instances:
            masks = inst.gt_masks
            masks = getattr(masks, "tensor", masks)  # BitMasks or a tensor
            padded = masks.new_zeros((masks.shape[0], h_pad, w_pad))
            padded[:, : masks.shape[1], : masks.shape[2]] = masks
            targets.append({"labels": inst.gt_classes, "masks": padded})
        return targets

    def inference(self, outputs, batched_inputs, images: ImageList) -> List[Dict]:
        """Results per image (see ``forward``) from the head's outputs."""
        output_sizes = [
            (x.get("height", image_size[0]), x.get("width", image_size[1]))
            for x, image_size in zip(batched_inputs, images.image_sizes)
        ]
        return postprocess(
            outputs["pred_logits"],
            outputs["pred_masks"],
            self.inference_spec,
            images.tensor.shape[-2:],
            images.image_sizes,
            output_sizes,
        )

    def inference_single(
        self,
        mask_cls: torch.Tensor,
        mask_pred: torch.Tensor,
        image_size: Tuple[int, int],
        height: int,
        width: int,
    ) -> Dict:
        """One image's results (``postprocess_image`` with this model's spec).

        Args:
            mask_cls: (Q, K+1) class logits; mask_pred: (Q, H_pad, W_pad) mask logits.
            image_size: (h, w) of the unpadded image in the batch.
            height, width: output size.
        """
        return postprocess_image(
            mask_cls, mask_pred, self.inference_spec, image_size, (height, width)
        )
