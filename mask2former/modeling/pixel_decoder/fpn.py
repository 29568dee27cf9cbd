"""MaskFormer's FPN pixel decoder."""
from typing import Callable, Dict, List, Optional, Tuple, Union

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY


def conv_norm_relu(in_channels: int, out_channels: int, norm, kernel_size: int = 3) -> Conv2d:
    """A conv + norm (+ ReLU for 3x3 convs), Xavier-initialized; a bias only when ``norm`` is ""."""
    conv = Conv2d(
        in_channels,
        out_channels,
        kernel_size=kernel_size,
        padding=kernel_size // 2,
        bias=norm == "",
        norm=get_norm(norm, out_channels),
        activation=F.relu if kernel_size == 3 else None,
    )
    weight_init.c2_xavier_fill(conv)
    return conv


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
        ordered = sorted(input_shape.items(), key=lambda kv: kv[1].stride)
        self.in_features = [name for name, _ in ordered]  # finest ("res2") first
        channels = [shape.channels for _, shape in ordered]
        num_levels = len(channels)
        lateral_convs: List[Optional[nn.Module]] = []
        output_convs: List[nn.Module] = []
        for idx, in_channels in enumerate(channels[:-1]):
            lateral = conv_norm_relu(in_channels, conv_dim, norm, kernel_size=1)
            output = conv_norm_relu(conv_dim, conv_dim, norm)
            self.add_module(f"adapter_{idx + 1}", lateral)
            self.add_module(f"layer_{idx + 1}", output)
            lateral_convs.append(lateral)
            output_convs.append(output)
        top = conv_norm_relu(self._top_input_channels(channels[-1], conv_dim), conv_dim, norm)
        self.add_module(f"layer_{num_levels}", top)
        lateral_convs.append(None)
        output_convs.append(top)
        # coarsest first, the order of the top-down pass
        self.lateral_convs = lateral_convs[::-1]
        self.output_convs = output_convs[::-1]

        self.mask_dim = mask_dim
        self.mask_features = Conv2d(conv_dim, mask_dim, kernel_size=3, padding=1)
        weight_init.c2_xavier_fill(self.mask_features)

    def _top_input_channels(self, coarsest_channels: int, conv_dim: int) -> int:
        """Input channels of the coarsest level's 3x3 conv."""
        return coarsest_channels

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": {k: v for k, v in input_shape.items() if k in head.IN_FEATURES},
            "conv_dim": head.CONVS_DIM,
            "mask_dim": head.MASK_DIM,
            "norm": head.NORM,
        }

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
        multi_scale_features = []
        encoder_features = None
        y = None
        for name, lateral, output in zip(
            self.in_features[::-1], self.lateral_convs, self.output_convs
        ):
            x = features[name]
            if lateral is None:
                x, encoder_features = self._encode_coarsest(x)
                y = output(x)
            else:
                lat = lateral(x)
                y = output(lat + F.interpolate(y, size=lat.shape[-2:], mode="nearest"))
            if len(multi_scale_features) < self.maskformer_num_feature_levels:
                multi_scale_features.append(y)
        return self.mask_features(y), encoder_features, multi_scale_features

    def forward(self, features):
        return self.forward_features(features)
