"""The mask-classification head: a pixel decoder plus a transformer decoder."""

from typing import Dict

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

from ..transformer_decoder import build_transformer_decoder
from .base import PixelDecoderHead


@SEM_SEG_HEADS_REGISTRY.register()
class MaskFormerHead(PixelDecoderHead):
    """Runs the pixel decoder, then feeds the transformer decoder (``predictor``) the feature
    chosen by ``transformer_in_feature`` (see :meth:`transformer_inputs`): the pixel decoder's
    multi-scale maps (Mask2Former), its transformer-encoder output, the mask features, or a
    backbone feature such as "res5" (MaskFormer)."""

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        transformer_predictor: nn.Module,
        **kwargs,
    ):
        """
        Args:
            transformer_predictor: the transformer decoder.
            input_shape, kwargs: see :class:`PixelDecoderHead` (``transformer_in_feature``:
                see the class docstring; ``loss_weight`` and ``ignore_value`` are kept for
                the SEM_SEG_HEAD interface: the losses are computed by the
                meta-architecture's criterion).
        """
        super().__init__(input_shape, **kwargs)
        self.predictor = transformer_predictor

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        ret["transformer_in_feature"] = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
        ret["transformer_predictor"] = build_transformer_decoder(
            cfg, cls.transformer_in_channels(cfg, input_shape), mask_classification=True
        )
        return ret

    def forward(self, features):
        """
        Args:
            features: backbone features by name.
        Returns:
            the transformer decoder's outputs: {"pred_logits": (N, Q, K+1),
            "pred_masks": (N, Q, H/4, W/4), "aux_outputs": [...]}.
        """
        return self.predictor(*self.transformer_inputs(features))
