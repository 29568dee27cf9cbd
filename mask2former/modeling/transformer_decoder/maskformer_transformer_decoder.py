"""MaskFormer's transformer decoder: DETR on one feature level, predicting a class and a mask
embedding per query."""
from typing import Dict, List

import fvcore.nn.weight_init as weight_init
import torch
from torch import nn

from detectron2.config import configurable
from detectron2.layers import Conv2d

from .build import TRANSFORMER_DECODER_REGISTRY
from ...layers.mlp import MLP
from ...layers.position_encoding import PositionEmbeddingSine
from ...layers.transformer import Transformer


def aux_outputs_of(class_logits, mask_logits) -> List[Dict[str, torch.Tensor]]:
    """Per-layer predictions for deep supervision: all but the last layer.

    ``class_logits`` may be None (per-pixel baseline+, which has no classifier)."""
    if class_logits is None:
        return [{"pred_masks": m} for m in mask_logits[:-1]]
    return [{"pred_logits": c, "pred_masks": m} for c, m in zip(class_logits[:-1], mask_logits[:-1])]


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
        if in_channels != hidden_dim or enforce_input_project:
            self.input_proj = Conv2d(in_channels, hidden_dim, kernel_size=1)
            weight_init.c2_xavier_fill(self.input_proj)
        else:
            self.input_proj = nn.Identity()
        if mask_classification:
            self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels, mask_classification):
        mf = cfg.MODEL.MASK_FORMER
        return {
            "in_channels": in_channels,
            "mask_classification": mask_classification,
            "num_classes": cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
            "hidden_dim": mf.HIDDEN_DIM,
            "num_queries": mf.NUM_OBJECT_QUERIES,
            "nheads": mf.NHEADS,
            "dropout": mf.DROPOUT,
            "dim_feedforward": mf.DIM_FEEDFORWARD,
            "enc_layers": mf.ENC_LAYERS,
            "dec_layers": mf.DEC_LAYERS,
            "pre_norm": mf.PRE_NORM,
            "deep_supervision": mf.DEEP_SUPERVISION,
            "mask_dim": cfg.MODEL.SEM_SEG_HEAD.MASK_DIM,
            "enforce_input_project": mf.ENFORCE_INPUT_PROJ,
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
