"""What the heads share: the backbone features they use, their pixel decoder (with the loading
of checkpoints saved before it became a submodule) and the choice of the transformer decoder's
input feature (``MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE``)."""

from typing import Dict, List, Optional, Tuple, Union

import torch
from detectron2.layers import ShapeSpec
from torch import nn

from ...layers.feature_levels import by_stride, head_input_shape
from ..pixel_decoder import build_pixel_decoder
from .legacy_keys import move_pixel_decoder_keys


class PixelDecoderHead(nn.Module):
    """Base of the SEM_SEG_HEADs built on a pixel decoder (``pixel_decoder``), which turns the
    backbone features ``in_features`` (finest first) into per-pixel mask features at stride
    ``common_stride`` (4). Subclasses add their predictor."""

    _version = 2
    # the pixel decoder outputs, besides the backbone features, that the head can feed its
    # transformer decoder (see transformer_inputs)
    pixel_decoder_inputs = ("transformer_encoder", "pixel_embedding", "multi_scale_pixel_decoder")

    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        pixel_decoder: nn.Module,
        loss_weight: float = 1.0,
        ignore_value: int = -1,
        transformer_in_feature: Optional[str] = None,
    ):
        """
        Args:
            input_shape: the backbone features used, name -> ShapeSpec.
            num_classes: K.
            pixel_decoder: module with forward_features().
            loss_weight: weight of the head's loss.
            ignore_value: label ignored by the loss.
            transformer_in_feature: what :meth:`transformer_inputs` feeds the transformer
                decoder (None: the head has none).
        """
        super().__init__()
        self.in_features = [k for k, _ in by_stride(input_shape)]
        self.num_classes = num_classes
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.common_stride = 4
        self.pixel_decoder = pixel_decoder
        if transformer_in_feature is not None:
            self.transformer_in_feature = transformer_in_feature

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": head_input_shape(cfg, input_shape),
            "ignore_value": head.IGNORE_VALUE,
            "num_classes": head.NUM_CLASSES,
            "pixel_decoder": build_pixel_decoder(cfg, input_shape),
            "loss_weight": head.LOSS_WEIGHT,
        }

    @classmethod
    def transformer_in_channels(cls, cfg, input_shape: Dict[str, ShapeSpec]) -> int:
        """Channels of the feature that MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE selects."""
        name = cfg.MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE
        if name in cls.pixel_decoder_inputs:
            head = cfg.MODEL.SEM_SEG_HEAD
            return head.MASK_DIM if name == "pixel_embedding" else head.CONVS_DIM
        if name not in input_shape:
            raise ValueError(
                f"MODEL.MASK_FORMER.TRANSFORMER_IN_FEATURE={name!r} is neither a backbone feature "
                f"({sorted(input_shape)}) nor one of the pixel decoder outputs that "
                f"{cls.__name__} takes: {', '.join(map(repr, cls.pixel_decoder_inputs))}"
            )
        return input_shape[name].channels

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        move_pixel_decoder_keys(state_dict, prefix, local_metadata)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def transformer_inputs(
        self, features: Dict[str, torch.Tensor]
    ) -> Tuple[Union[torch.Tensor, List[torch.Tensor]], torch.Tensor]:
        """Runs the pixel decoder on the backbone ``features`` and returns the transformer
        decoder's input that ``self.transformer_in_feature`` selects, and the mask features:

        - "multi_scale_pixel_decoder": the pixel decoder's multi-scale maps (Mask2Former);
        - "transformer_encoder": the pixel decoder's transformer-encoder output;
        - "pixel_embedding": the mask features;
        - a backbone feature name such as "res5" (MaskFormer): that feature.
        """
        mask_features, encoder_features, multi_scale_features = self.pixel_decoder.forward_features(
            features
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
        return x, mask_features
