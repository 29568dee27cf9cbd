"""MaskFormer's FPN pixel decoder."""

from typing import Callable, Dict, Optional, Tuple, Union

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

from ...layers.feature_levels import by_stride
from .fpn_layers import add_fpn_convs, conv_norm_relu, fpn_config, fpn_top_down


@SEM_SEG_HEADS_REGISTRY.register()
class BasePixelDecoder(nn.Module):
    """A light FPN over the backbone features: the coarsest level goes through a 3x3 conv
    (``layer_{n}``); each finer level i adds its 1x1 lateral (``adapter_{i}``) to the
    nearest-upsampled coarser output and applies a 3x3 conv (``layer_{i}``). The finest output
    goes through ``mask_features`` (3x3 conv) to give the per-pixel embeddings."""

    maskformer_num_feature_levels = 3

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        conv_dim: int,
        mask_dim: int,
        norm: Optional[Union[str, Callable]] = None,
    ):
        """
        Args:
            input_shape: the backbone features used, name -> ShapeSpec.
            conv_dim: channels of the FPN levels.
            mask_dim: channels of the mask features.
            norm: normalization of the FPN convs ("GN", "" for none, ...).
        """
        super().__init__()
        ordered = by_stride(input_shape)
        self.in_features = [name for name, _ in ordered]  # finest ("res2") first
        channels = [shape.channels for _, shape in ordered]
        lateral_convs, output_convs = add_fpn_convs(self, channels[:-1], conv_dim, norm)
        top = conv_norm_relu(self._top_input_channels(channels[-1], conv_dim), conv_dim, norm)
        self.add_module(f"layer_{len(channels)}", top)
        # coarsest first, the order of the top-down pass; the coarsest level has no lateral conv
        self.lateral_convs = [None] + lateral_convs
        self.output_convs = [top] + output_convs

        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=3, padding=1)
        weight_init.c2_xavier_fill(self.mask_features)

    def _top_input_channels(self, coarsest_channels: int, conv_dim: int) -> int:
        """Input channels of the coarsest level's 3x3 conv."""
        return coarsest_channels

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        return fpn_config(cfg, input_shape)

    def _encode_coarsest(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Input of the coarsest level's conv, and the transformer-encoder features (None)."""
        return x, None

    def forward_features(self, features: Dict[str, torch.Tensor]):
        """
        Args:
            features: backbone features by name, (N, C_l, H_l, W_l).
        Returns:
            mask_features: (N, mask_dim, H_1, W_1) at the finest level's resolution;
            transformer_encoder_features: (N, conv_dim, H_n, W_n) or None;
            multi_scale_features: the first three FPN outputs, coarsest first.
        """
        coarsest, *finer = self.in_features[::-1]
        x, encoder_features = self._encode_coarsest(features[coarsest])
        top = self.output_convs[0](x)
        outputs = [top] + fpn_top_down(
            top,
            [features[name] for name in finer],
            self.lateral_convs[1:],
            self.output_convs[1:],
            mode="nearest",
        )
        multi_scale_features = outputs[: self.maskformer_num_feature_levels]
        return self.mask_features(outputs[-1]), encoder_features, multi_scale_features

    def forward(self, features):
        return self.forward_features(features)
