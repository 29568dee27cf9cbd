"""MaskFormer's per-pixel classification baselines, Detectron2 SEM_SEG_HEADs used with the
``SemanticSegmentor`` meta-architecture (they compute their own cross-entropy loss)."""

from typing import Dict, Optional

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn
from torch.nn import functional as F

from ..transformer_decoder import StandardTransformerDecoder
from .base import PixelDecoderHead


@SEM_SEG_HEADS_REGISTRY.register()
class PerPixelBaselineHead(PixelDecoderHead):
    """PerPixelBaseline: the pixel decoder's mask features, then a 1x1 conv (``predictor``) to
    K class logits per pixel, upsampled by 4."""

    @configurable
    def __init__(
        self, input_shape: Dict[str, ShapeSpec], *, predictor: Optional[nn.Module] = None, **kwargs
    ):
        """
        Args:
            predictor: what maps the pixel decoder's output to class logits; by default a
                1x1 conv from the mask features (the pixel decoder's ``mask_dim`` channels).
            input_shape, kwargs: see :class:`PixelDecoderHead`; ``loss_weight`` weighs the
                cross-entropy loss, which ignores the label ``ignore_value``.
        """
        super().__init__(input_shape, **kwargs)
        if predictor is None:
            predictor = Conv2d(self.pixel_decoder.mask_dim, self.num_classes, kernel_size=1)
            weight_init.c2_msra_fill(predictor)
        self.predictor = predictor

    def layers(self, features):
        """Returns the (N, K, H/4, W/4) logits and a list of auxiliary logits (none here)."""
        mask_features, _, _ = self.pixel_decoder.forward_features(features)
        return self.predictor(mask_features), []

    def forward(self, features, targets=None):
        """
        Args:
            features: backbone features by name.
            targets: (N, H, W) int64 labels (training).
        Returns:
            training: (None, {"loss_sem_seg": ..., "loss_sem_seg_{i}": ... per aux output});
            inference: ((N, K, H, W) logits, {}).
        """
        logits, aux_logits = self.layers(features)
        if self.training:
            losses = {"loss_sem_seg": self.losses(logits, targets)}
            for i, aux in enumerate(aux_logits):
                losses[f"loss_sem_seg_{i}"] = self.losses(aux, targets)
            return None, losses
        upsampled = F.interpolate(
            logits, scale_factor=self.common_stride, mode="bilinear", align_corners=False
        )
        return upsampled, {}

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the upsampled (N, K, h, w) logits against (N, H, W) labels."""
        # float32: half-precision upsampling of many channels is inaccurate
        upsampled = F.interpolate(
            logits.float(), scale_factor=self.common_stride, mode="bilinear", align_corners=False
        )
        loss = F.cross_entropy(upsampled, targets, reduction="mean", ignore_index=self.ignore_value)
        return loss * self.loss_weight


@SEM_SEG_HEADS_REGISTRY.register()
class PerPixelBaselinePlusHead(PerPixelBaselineHead):
    """PerPixelBaseline+: a StandardTransformerDecoder without classifier whose K queries are
    the classes: query k's mask logits are the per-pixel logits of class k. With deep
    supervision, every decoder layer's output gets its own loss."""

    # its StandardTransformerDecoder takes one map: the encoder's output or a backbone feature
    pixel_decoder_inputs = ("transformer_encoder",)

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        transformer_predictor: nn.Module,
        deep_supervision: bool,
        **kwargs,
    ):
        """
        Args:
            transformer_predictor: a StandardTransformerDecoder built with
                mask_classification=False and K queries.
            deep_supervision: add a loss for every earlier decoder layer.
            input_shape, kwargs: as PerPixelBaselineHead (``transformer_in_feature``:
                "transformer_encoder" or a backbone feature name).
        """
        super().__init__(input_shape, predictor=transformer_predictor, **kwargs)
        self.deep_supervision = deep_supervision

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        num_queries = cfg.MODEL.MASK_FORMER.NUM_OBJECT_QUERIES
        if num_queries != ret["num_classes"]:
            # query k's mask logits are the logits of class k: one query per class
            raise ValueError(
                f"PerPixelBaselinePlusHead needs one query per class: "
                f"MODEL.MASK_FORMER.NUM_OBJECT_QUERIES ({num_queries}) must equal "
                f"MODEL.SEM_SEG_HEAD.NUM_CLASSES ({ret['num_classes']})"
            )
        name = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
        ret["transformer_predictor"] = StandardTransformerDecoder(
            cfg, cls.transformer_in_channels(cfg, input_shape), mask_classification=False
        )
        ret["transformer_in_feature"] = name
        ret["deep_supervision"] = cfg.MODEL.MASK_FORMER.DEEP_SUPERVISION
        return ret

    def layers(self, features):
        out = self.predictor(*self.transformer_inputs(features))
        aux = [a["pred_masks"] for a in out.get("aux_outputs", [])] if self.deep_supervision else []
        return out["pred_masks"], aux
