"""MaskFormer's transformer decoder: DETR on one feature level, predicting a class and a mask
embedding per query."""

from typing import Dict

import torch
from detectron2.config import configurable
from torch import nn

from ...layers.mlp import MLP
from ...layers.position_encoding import PositionEmbeddingSine
from ...layers.transformer import Transformer
from .base import aux_outputs_of, decoder_config, input_projection
from .build import TRANSFORMER_DECODER_REGISTRY


@TRANSFORMER_DECODER_REGISTRY.register()
class StandardTransformerDecoder(nn.Module):
    """``num_queries`` learned queries attend (DETR decoder, with dropout) to one feature map,
    optionally after ``enc_layers`` transformer-encoder layers over it. Each query yields class
    logits (K+1, with "no object") and a mask embedding whose dot product with the per-pixel
    ``mask_features`` gives its mask logits."""

    @configurable
    def __init__(
        self,
        in_channels: int,
        mask_classification: bool = True,
        *,
        num_classes: int,
        hidden_dim: int,
        num_queries: int,
        nheads: int,
        dropout: float,
        dim_feedforward: int,
        enc_layers: int,
        dec_layers: int,
        pre_norm: bool,
        deep_supervision: bool,
        mask_dim: int,
        enforce_input_project: bool,
    ):
        """
        Args:
            in_channels: channels of the feature map the queries attend to.
            mask_classification: predict class logits (False for the per-pixel baseline+,
                whose queries are the classes).
            num_classes: K, without "no object".
            hidden_dim, nheads, dropout, dim_feedforward: transformer width, heads, dropout
                and feed-forward width.
            enc_layers, dec_layers: encoder (0 for the published configs) and decoder layers.
            pre_norm: LayerNorm before (True) or after (False) each sub-layer.
            deep_supervision: also return every earlier decoder layer's predictions.
            mask_dim: channels of the mask features.
            enforce_input_project: use a 1x1 input projection even when
                ``in_channels == hidden_dim``.
        """
        super().__init__()
        self.mask_classification = mask_classification
        self.num_queries = num_queries
        self.deep_supervision = deep_supervision
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)
        self.transformer = Transformer(
            d_model=hidden_dim,
            nhead=nheads,
            num_encoder_layers=enc_layers,
            num_decoder_layers=dec_layers,
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            normalize_before=pre_norm,
            return_intermediate_dec=deep_supervision,
        )
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.input_proj = input_projection(in_channels, hidden_dim, enforce_input_project)
        if mask_classification:
            self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels, mask_classification):
        mf = cfg.MODEL.MASK_FORMER
        return {
            **decoder_config(cfg, in_channels, mask_classification),
            "dropout": mf.DROPOUT,
            "enc_layers": mf.ENC_LAYERS,
            "dec_layers": mf.DEC_LAYERS,
        }

    def forward(self, x: torch.Tensor, mask_features: torch.Tensor) -> Dict:
        """
        Args:
            x: (N, in_channels, h, w) the feature map the queries attend to.
            mask_features: (N, mask_dim, H, W) per-pixel embeddings.
        Returns:
            {"pred_logits": (N, Q, K+1) (only with mask_classification),
             "pred_masks": (N, Q, H, W) logits,
             "aux_outputs": list of such dicts for the earlier layers (deep supervision, in
             training only: inference reads the last prediction alone)}
        """
        pos = self.pe_layer(x)
        hs, _ = self.transformer(self.input_proj(x), None, self.query_embed.weight, pos)
        # hs: (L, N, Q, C), L = dec_layers with deep supervision, else 1
        supervise_all = self.deep_supervision and self.training
        if not supervise_all:
            hs = hs[-1:]
        mask_logits = torch.einsum("lnqc,nchw->lnqhw", self.mask_embed(hs), mask_features)
        class_logits = self.class_embed(hs) if self.mask_classification else None
        out = {"pred_masks": mask_logits[-1]}
        if class_logits is not None:
            out["pred_logits"] = class_logits[-1]
        if supervise_all:
            out["aux_outputs"] = aux_outputs_of(class_logits, mask_logits)
        return out
