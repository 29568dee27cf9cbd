"""The mask-classification head: a pixel decoder plus a transformer decoder."""
from typing import Dict

from torch import nn

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY

from ..pixel_decoder import build_pixel_decoder
from ..transformer_decoder import build_transformer_decoder
from .legacy_keys import move_pixel_decoder_keys


def transformer_in_channels(cfg, input_shape: Dict[str, ShapeSpec]) -> int:
    """Channels of the feature that MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE selects."""
    name = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
    if name in ("transformer_encoder", "multi_scale_pixel_decoder"):
        return cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM
    if name == "pixel_embedding":
        return cfg.MODEL.SEM_SEG_HEAD.MASK_DIM
    if name not in input_shape:
        raise ValueError(
            f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE={name!r} is neither a backbone feature "
            f"({sorted(input_shape)}) nor one of 'transformer_encoder', 'pixel_embedding', "
            "'multi_scale_pixel_decoder'"
        )
    return input_shape[name].channels


@SEM_SEG_HEADS_REGISTRY.register()
class MaskFormerHead(nn.Module):
    """Runs the pixel decoder, then feeds the transformer decoder (``predictor``) the feature
    chosen by ``transformer_in_feature``:

    - "multi_scale_pixel_decoder": the pixel decoder's three multi-scale maps (Mask2Former);
    - "transformer_encoder": the pixel decoder's transformer-encoder output;
    - "pixel_embedding": the mask features;
    - a backbone feature name such as "res5" (MaskFormer).
    """

    _version = 2

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        pixel_decoder: nn.Module,
        loss_weight: float = 1.0,
        ignore_value: int = -1,
        transformer_predictor: nn.Module,
        transformer_in_feature: str,
    ):
        """
        Args:
            input_shape: the backbone features used, name -> ShapeSpec.
            num_classes: K.
            pixel_decoder: module with forward_features().
            loss_weight, ignore_value: kept for the SEM_SEG_HEAD interface (losses are
                computed by the meta-architecture's criterion).
            transformer_predictor: the transformer decoder.
            transformer_in_feature: see the class docstring.
        """
        super().__init__()
        self.in_features = [k for k, _ in sorted(input_shape.items(), key=lambda kv: kv[1].stride)]
        self.num_classes = num_classes
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.common_stride = 4
        self.pixel_decoder = pixel_decoder
        self.predictor = transformer_predictor
        self.transformer_in_feature = transformer_in_feature

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "ignore_value": head.IGNORE_VALUE,
            "num_classes": head.NUM_CLASSES,
            "pixel_decoder": build_pixel_decoder(cfg, input_shape),
            "loss_weight": head.LOSS_WEIGHT,
            "transformer_in_feature": cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE,
            "transformer_predictor": build_transformer_decoder(
                cfg, transformer_in_channels(cfg, input_shape), mask_classification=True
            ),
        }

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        move_pixel_decoder_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def forward(self, features):
        """
        Args:
            features: backbone features by name.
        Returns:
            the transformer decoder's outputs: {"pred_logits": (N, Q, K+1),
            "pred_masks": (N, Q, H/4, W/4), "aux_outputs": [...]}.
        """
        mask_features, encoder_features, multi_scale_features = (
            self.pixel_decoder.forward_features(features)
        )
        name = self.transformer_in_feature
        if name == "multi_scale_pixel_decoder":
            x = multi_scale_features
        elif name == "transformer_encoder":
            if encoder_features is None:
                raise ValueError(
                    "MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE='transformer_encoder' needs a pixel "
                    "decoder with a transformer encoder (e.g. TransformerEncoderPixelDecoder)"
                )
            x = encoder_features
        elif name == "pixel_embedding":
            x = mask_features
        else:
            x = features[name]
        return self.predictor(x, mask_features)
