"""MaskFormer's FPN pixel decoder with a transformer encoder on the coarsest level."""

from typing import Dict, Optional, Tuple

import fvcore.nn.weight_init as weight_init
import torch
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

from ...layers.position_encoding import PositionEmbeddingSine
from ...layers.tokens import flatten_maps, unflatten_maps
from ...layers.transformer import TransformerEncoder, xavier_init_matrices
from .fpn import BasePixelDecoder


class TransformerEncoderOnly(nn.Module):
    """A DETR transformer encoder over a feature map (keys ``encoder.layers.N...``)."""

    def __init__(
        self, d_model, nhead, num_encoder_layers, dim_feedforward, dropout, normalize_before
    ):
        super().__init__()
        self.encoder = TransformerEncoder(
            d_model, nhead, num_encoder_layers, dim_feedforward, dropout, normalize_before
        )
        xavier_init_matrices(self)

    def forward(self, src: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """src, pos: (N, C, H, W) -> (N, C, H, W)"""
        tokens = self.encoder(flatten_maps([src]), flatten_maps([pos]))
        return unflatten_maps(tokens, [src.shape[-2:]])[0]


@SEM_SEG_HEADS_REGISTRY.register()
class TransformerEncoderPixelDecoder(BasePixelDecoder):
    """BasePixelDecoder whose coarsest level is first projected (``input_proj``, 1x1) to
    ``conv_dim`` and encoded by ``transformer_enc_layers`` transformer-encoder layers with
    sine position encodings; the encoder output is also returned as the transformer
    decoder's input ("transformer_encoder" feature)."""

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        transformer_dropout: float,
        transformer_nheads: int,
        transformer_dim_feedforward: int,
        transformer_enc_layers: int,
        transformer_pre_norm: bool,
        conv_dim: int,
        mask_dim: int,
        norm=None,
    ):
        """
        Args:
            transformer_*: dropout, heads, feed-forward width, number of layers and
                pre-LayerNorm of the encoder.
            others: as BasePixelDecoder.
        """
        super().__init__(input_shape, conv_dim=conv_dim, mask_dim=mask_dim, norm=norm)
        coarsest = max(input_shape.values(), key=lambda s: s.stride)
        self.input_proj = Conv2d(coarsest.channels, conv_dim, kernel_size=1)
        weight_init.c2_xavier_fill(self.input_proj)
        self.transformer = TransformerEncoderOnly(
            conv_dim,
            transformer_nheads,
            transformer_enc_layers,
            transformer_dim_feedforward,
            transformer_dropout,
            transformer_pre_norm,
        )
        self.pe_layer = PositionEmbeddingSine(conv_dim // 2, normalize=True)

    def _top_input_channels(self, coarsest_channels: int, conv_dim: int) -> int:
        return conv_dim

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        ret = super().from_config(cfg, input_shape)
        mf = cfg.MODEL.MASK_FORMER
        ret.update(
            transformer_dropout=mf.DROPOUT,
            transformer_nheads=mf.NHEADS,
            transformer_dim_feedforward=mf.DIM_FEEDFORWARD,
            transformer_enc_layers=cfg.MODEL.SEM_SEG_HEAD.TRANSFORMER_ENC_LAYERS,
            transformer_pre_norm=mf.PRE_NORM,
        )
        return ret

    def _encode_coarsest(self, x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        encoded = self.transformer(self.input_proj(x), self.pe_layer(x).to(x.dtype))
        return encoded, encoded
