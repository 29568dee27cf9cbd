"""The MaskFormer / Mask2Former meta-architecture."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_sem_seg_head
from detectron2.modeling.backbone import Backbone
from detectron2.modeling.postprocessing import sem_seg_postprocess
from detectron2.structures import ImageList, Instances

from ...layers.reference_mode import reference_ops_enabled
from ..criterion import SetCriterion
from ..criterion.matcher import HungarianMatcher
from ..postprocessing import instance_inference, panoptic_inference, semantic_inference


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


def thing_ids_of(metadata) -> Optional[Tuple[int, ...]]:
    """Contiguous ids of the thing classes of a dataset's metadata, or None if it has none."""
    mapping = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    return None if mapping is None else tuple(sorted(mapping.values()))


def panoptic_within_mask(cfg) -> bool:
    """Which release's panoptic rule a config's model follows (``panoptic_inference``'s
    ``within_mask``). The MaskFormer release gives a segment every pixel its query wins; the
    Mask2Former release only those where the query's own mask probability is also >= 0.5.
    MaskFormer-release models are the ones with MaskFormer's transformer decoder
    (StandardTransformerDecoder): its checkpoints load into no other decoder."""
    return cfg.MODEL.MASK_FORMER.TRANSFORMER_DECODER_NAME != "StandardTransformerDecoder"


def crop_and_resize(
    maps: torch.Tensor, image_size: Tuple[int, int], height: int, width: int
) -> torch.Tensor:
    """Detectron2's ``sem_seg_postprocess``: crop (C, H_pad, W_pad) maps to the image's
    ``image_size`` and resize them bilinearly to (height, width). Resizing to the same size is
    the identity, so outside reference mode it is skipped then (no copy of the maps)."""
    if not reference_ops_enabled() and tuple(image_size) == (height, width):
        return maps[:, :height, :width]
    return sem_seg_postprocess(maps, image_size, height, width)


@META_ARCH_REGISTRY.register()
class MaskFormer(nn.Module):
    """Mask classification for semantic, panoptic and instance segmentation (MaskFormer and
    Mask2Former, depending on the head's transformer decoder).

    Training: images are normalized and padded to ``size_divisibility``; the head predicts Q
    (class, mask) pairs which ``criterion`` matches to the ground-truth segments of each
    image's ``instances``. Inference: mask logits are upsampled to the padded image size, then
    per image cropped and resized to the requested (height, width) and turned into the
    outputs enabled by ``semantic_on`` / ``panoptic_on`` / ``instance_on``."""

    @configurable
    def __init__(
        self,
        *,
        backbone: Backbone,
        sem_seg_head: nn.Module,
        criterion: nn.Module,
        num_queries: int,
        object_mask_threshold: float,
        overlap_threshold: float,
        panoptic_within_mask: bool,
        thing_ids: Optional[Sequence[int]],
        size_divisibility: int,
        sem_seg_postprocess_before_inference: bool,
        pixel_mean: Sequence[float],
        pixel_std: Sequence[float],
        semantic_on: bool,
        panoptic_on: bool,
        instance_on: bool,
        test_topk_per_image: int,
    ):
        """
        Args:
            backbone: a Detectron2 backbone.
            sem_seg_head: a head returning {"pred_logits", "pred_masks", "aux_outputs"}.
            criterion: the matching-based loss (SetCriterion), with a ``weight_dict``.
            num_queries: Q.
            object_mask_threshold: panoptic inference keeps queries whose class probability
                is above this.
            overlap_threshold: panoptic inference drops segments that keep less than this
                fraction of their mask.
            panoptic_within_mask: panoptic segments keep only the pixels inside their query's
                mask (Mask2Former release) rather than all pixels their query wins (MaskFormer
                release); see ``panoptic_within_mask``.
            thing_ids: contiguous ids of the thing classes (needed for panoptic inference;
                instance inference of a panoptic model keeps only these classes).
            size_divisibility: pad images to a multiple of this (< 0: the backbone's).
            sem_seg_postprocess_before_inference: resize mask logits to the output size before
                semantic inference (exact, more memory) rather than resizing its result.
            pixel_mean, pixel_std: per-channel normalization of the input images.
            semantic_on, panoptic_on, instance_on: which outputs inference returns.
            test_topk_per_image: instances kept per image.
        """
        super().__init__()
        if not (semantic_on or panoptic_on or instance_on):
            raise ValueError(
                "MaskFormer: enable at least one of MODEL.MASK_FORMER.TEST.SEMANTIC_ON, "
                "PANOPTIC_ON, INSTANCE_ON"
            )
        self.backbone = backbone
        self.sem_seg_head = sem_seg_head
        self.criterion = criterion
        self.num_queries = num_queries
        self.object_mask_threshold = object_mask_threshold
        self.overlap_threshold = overlap_threshold
        self.panoptic_within_mask = panoptic_within_mask
        self.thing_ids = None if thing_ids is None else tuple(thing_ids)
        self.size_divisibility = (
            backbone.size_divisibility if size_divisibility < 0 else size_divisibility
        )
        # panoptic and instance inference need full-resolution masks anyway
        self.sem_seg_postprocess_before_inference = (
            sem_seg_postprocess_before_inference or panoptic_on or instance_on
        )
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)
        self.semantic_on = semantic_on
        self.panoptic_on = panoptic_on
        self.instance_on = instance_on
        self.test_topk_per_image = test_topk_per_image

    @classmethod
    def from_config(cls, cfg):
        backbone = build_backbone(cfg)
        sem_seg_head = build_sem_seg_head(cfg, backbone.output_shape())
        mf = cfg.MODEL.MASK_FORMER
        criterion = build_criterion(cfg, sem_seg_head.num_classes)
        datasets = cfg.DATASETS.TRAIN or cfg.DATASETS.TEST
        metadata = MetadataCatalog.get(datasets[0]) if datasets else None
        return {
            "backbone": backbone,
            "sem_seg_head": sem_seg_head,
            "criterion": criterion,
            "num_queries": mf.NUM_OBJECT_QUERIES,
            "object_mask_threshold": mf.TEST.OBJECT_MASK_THRESHOLD,
            "overlap_threshold": mf.TEST.OVERLAP_THRESHOLD,
            "panoptic_within_mask": panoptic_within_mask(cfg),
            "thing_ids": thing_ids_of(metadata),
            "size_divisibility": mf.SIZE_DIVISIBILITY,
            "sem_seg_postprocess_before_inference": mf.TEST.SEM_SEG_POSTPROCESSING_BEFORE_INFERENCE,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "semantic_on": mf.TEST.SEMANTIC_ON,
            "panoptic_on": mf.TEST.PANOPTIC_ON,
            "instance_on": mf.TEST.INSTANCE_ON,
            "test_topk_per_image": cfg.TEST.DETECTIONS_PER_IMAGE,
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess_image(self, batched_inputs: List[Dict]) -> ImageList:
        """Normalize and pad the images into one (N, 3, H_pad, W_pad) batch."""
        images = [(x["image"].to(self.device) - self.pixel_mean) / self.pixel_std for x in batched_inputs]
        return ImageList.from_tensors(images, self.size_divisibility)

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
        images = self.preprocess_image(batched_inputs)
        outputs = self.sem_seg_head(self.backbone(images.tensor))
        if self.training:
            return self.losses(outputs, batched_inputs, images)
        return self.inference(outputs, batched_inputs, images)

    def losses(self, outputs, batched_inputs, images: ImageList) -> Dict[str, torch.Tensor]:
        if "instances" not in batched_inputs[0]:
            raise ValueError(
                "MaskFormer training needs 'instances' (gt_classes, gt_masks) in every input; "
                "use one of the mask_former_* dataset mappers"
            )
        targets = self.prepare_targets([x["instances"].to(self.device) for x in batched_inputs], images)
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
        mask_cls_results = outputs["pred_logits"]
        mask_pred_results = F.interpolate(
            outputs["pred_masks"],
            size=images.tensor.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )
        del outputs
        results = []
        for mask_cls, mask_pred, inputs, image_size in zip(
            mask_cls_results, mask_pred_results, batched_inputs, images.image_sizes
        ):
            height = inputs.get("height", image_size[0])
            width = inputs.get("width", image_size[1])
            results.append(self.inference_single(mask_cls, mask_pred, image_size, height, width))
        return results

    def inference_single(
        self,
        mask_cls: torch.Tensor,
        mask_pred: torch.Tensor,
        image_size: Tuple[int, int],
        height: int,
        width: int,
    ) -> Dict:
        """
        Args:
            mask_cls: (Q, K+1) class logits; mask_pred: (Q, H_pad, W_pad) mask logits.
            image_size: (h, w) of the unpadded image in the batch.
            height, width: output size.
        """
        result = {}
        if self.sem_seg_postprocess_before_inference:
            mask_pred = crop_and_resize(mask_pred, image_size, height, width)
            mask_cls = mask_cls.to(mask_pred)
        if self.semantic_on:
            if self.sem_seg_postprocess_before_inference or reference_ops_enabled():
                sem_seg = semantic_inference(mask_cls, mask_pred)
            else:
                # semantic inference is per pixel: skip the padding before it, not after
                mask_pred = mask_pred[:, : image_size[0], : image_size[1]]
                sem_seg = semantic_inference(mask_cls, mask_pred)
                image_size = mask_pred.shape[-2:]
            if not self.sem_seg_postprocess_before_inference:
                sem_seg = crop_and_resize(sem_seg, image_size, height, width)
            result["sem_seg"] = sem_seg
        num_classes = self.sem_seg_head.num_classes
        if self.panoptic_on:
            if self.thing_ids is None:
                raise ValueError(
                    "MaskFormer: panoptic inference needs the thing classes, but the metadata of "
                    "DATASETS.TRAIN[0] (or TEST[0]) has no thing_dataset_id_to_contiguous_id"
                )
            result["panoptic_seg"] = panoptic_inference(
                mask_cls,
                mask_pred,
                num_classes=num_classes,
                object_mask_threshold=self.object_mask_threshold,
                overlap_threshold=self.overlap_threshold,
                thing_ids=self.thing_ids,
                within_mask=self.panoptic_within_mask,
            )
        if self.instance_on:
            result["instances"] = instance_inference(
                mask_cls,
                mask_pred,
                image_size=(height, width),
                num_classes=num_classes,
                topk=self.test_topk_per_image,
                thing_ids=self.thing_ids if self.panoptic_on else None,
            )
        return result
