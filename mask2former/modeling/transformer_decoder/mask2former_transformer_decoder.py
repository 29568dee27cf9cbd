"""Mask2Former's transformer decoder: masked cross-attention over a round-robin of three
feature scales."""

import logging
from typing import Dict, List, Sequence, Tuple

import torch
from detectron2.config import configurable
from torch import nn
from torch.nn import functional as F

from ...layers.masked_attention_layers import CrossAttentionLayer, FFNLayer, SelfAttentionLayer
from ...layers.mlp import MLP
from ...layers.position_encoding import PositionEmbeddingSine
from ...layers.tokens import map_tokens
from .base import aux_outputs_of, decoder_config, input_projection
from .build import TRANSFORMER_DECODER_REGISTRY

logger = logging.getLogger(__name__)


def masked_attention_mask(mask_logits: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Where each query may attend in masked cross-attention.

    Args:
        mask_logits: (N, Q, H, W) the previous prediction's mask logits; for a video clip
            (N, Q, T, H, W), whose tokens are its T frames' (time-major).
        size: (h, w) of the feature level attended to.
    Returns:
        (N, 1, Q, h*w) bool (video: (N, 1, Q, T*h*w)), True inside the query's predicted mask
        (probability >= 0.5 after bilinear resizing of each frame to ``size``, unless the
        logits are at that size already); a query whose mask is empty at this level may
        attend everywhere, so that its attention stays defined.
    """
    if tuple(mask_logits.shape[-2:]) != tuple(size):
        mask_logits = resize_maps(mask_logits, size)
    allowed = mask_logits.sigmoid().flatten(2) >= 0.5
    allowed = allowed | ~allowed.any(dim=-1, keepdim=True)
    return allowed.unsqueeze(1).detach()


def resize_maps(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resizing (align_corners=False) of the last two dimensions of (N, ..., H, W)
    maps to ``size`` (h, w): (N, ..., h, w)."""
    n, *lead, h, w = maps.shape
    resized = F.interpolate(
        maps.reshape(n, -1, h, w), size=tuple(size), mode="bilinear", align_corners=False
    )
    return resized.view(n, *lead, *size)


def mask_logits_of(mask_embed: torch.Tensor, mask_features: torch.Tensor) -> torch.Tensor:
    """Mask logits: (N, ..., C) embeddings times per-pixel features.

    Args:
        mask_embed: (N, ..., C).
        mask_features: (N, C, H, W) of images, or (N, T, C, H, W) of video clips of T frames.
    Returns:
        (N, ..., H, W), or (N, ..., T, H, W) for clips (a view whose frame axis is moved,
        so the features are never copied).
    """
    if mask_features.dim() == 4:
        n, c, h, w = mask_features.shape
        flat = mask_embed.reshape(n, -1, c) @ mask_features.reshape(n, c, h * w)
        return flat.view(*mask_embed.shape[:-1], h, w)
    n, t, c, h, w = mask_features.shape
    flat = mask_embed.reshape(n, 1, -1, c) @ mask_features.reshape(n, t, c, h * w)
    return flat.view(n, t, *mask_embed.shape[1:-1], h, w).movedim(1, -3)


@TRANSFORMER_DECODER_REGISTRY.register()
class MultiScaleMaskedTransformerDecoder(nn.Module):
    """Learnable query features and positions go through ``dec_layers - 1`` layers of
    (masked cross-attention, self-attention, FFN). Layer i attends to feature level ``i % 3``
    (1/32, 1/16, 1/8 for the published pixel decoder), only inside the mask predicted by the
    previous layer. Predictions are made from the learnable queries and after every layer,
    so there are ``dec_layers`` predictions; all but the last are auxiliary outputs."""

    _version = 2
    num_feature_levels = 3

    @configurable
    def __init__(
        self,
        in_channels: int,
        mask_classification: bool = True,
        *,
        enforce_input_project: bool,
        hidden_dim: int,
        nheads: int,
        dim_feedforward: int,
        dec_layers: int,
        pre_norm: bool,
        num_queries: int,
        num_classes: int,
        mask_dim: int,
        deep_supervision: bool = True,
    ):
        """
        Args:
            in_channels: channels of each of the three feature levels.
            mask_classification: must be True (Mask2Former always classifies masks).
            enforce_input_project: use 1x1 input projections even when
                ``in_channels == hidden_dim``.
            hidden_dim, nheads, dim_feedforward: transformer width, heads, feed-forward width.
            dec_layers: number of transformer layers (the config's DEC_LAYERS minus one, since
                the learnable queries' own prediction counts as a layer there).
            pre_norm: LayerNorm before (True) or after (False) each sub-layer.
            num_queries: how many queries (and predicted masks).
            num_classes: K, without "no object".
            mask_dim: channels of the mask features.
            deep_supervision: return the earlier predictions as "aux_outputs" in training
                (the losses of deep supervision); inference uses only the last prediction,
                so their full-resolution masks are not computed in eval mode.
        """
        super().__init__()
        if not mask_classification:
            raise ValueError("MultiScaleMaskedTransformerDecoder always classifies its masks")
        self.mask_classification = mask_classification
        self.num_heads = nheads
        self.num_layers = dec_layers
        self.num_queries = num_queries
        self.deep_supervision = deep_supervision
        self.pe_layer = PositionEmbeddingSine(hidden_dim // 2, normalize=True)

        self.transformer_self_attention_layers = nn.ModuleList(
            SelfAttentionLayer(hidden_dim, nheads, pre_norm) for _ in range(dec_layers)
        )
        self.transformer_cross_attention_layers = nn.ModuleList(
            CrossAttentionLayer(hidden_dim, nheads, pre_norm) for _ in range(dec_layers)
        )
        self.transformer_ffn_layers = nn.ModuleList(
            FFNLayer(hidden_dim, dim_feedforward, pre_norm) for _ in range(dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(hidden_dim)

        self.query_feat = nn.Embedding(num_queries, hidden_dim)
        self.query_embed = nn.Embedding(num_queries, hidden_dim)
        self.level_embed = nn.Embedding(self.num_feature_levels, hidden_dim)
        self.input_proj = nn.ModuleList(
            input_projection(in_channels, hidden_dim, enforce_input_project)
            for _ in range(self.num_feature_levels)
        )

        self.class_embed = nn.Linear(hidden_dim, num_classes + 1)
        self.mask_embed = MLP(hidden_dim, hidden_dim, mask_dim, 3)

    @classmethod
    def from_config(cls, cfg, in_channels, mask_classification):
        mf = cfg.MODEL.MASK_FORMER
        if mf.DEC_LAYERS < 1:
            raise ValueError(
                f"MODEL.MASK_FORMER.DEC_LAYERS must be >= 1 for Mask2Former, got {mf.DEC_LAYERS}"
            )
        return {
            **decoder_config(cfg, in_channels, mask_classification),
            # DEC_LAYERS counts the prediction from the learnable queries as a layer, so that
            # the number of auxiliary losses is DEC_LAYERS - 1 for both architectures
            "dec_layers": mf.DEC_LAYERS - 1,
        }

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args, **kwargs):
        # Checkpoints from before the published version 2 call the query features "static_query".
        if local_metadata.get("version", 0) < 2:
            old, new = prefix + "static_query.", prefix + "query_feat."
            for k in [k for k in state_dict if k.startswith(old)]:
                state_dict[new + k[len(old) :]] = state_dict.pop(k)
                logger.warning(f"Renamed checkpoint key {k} to {new + k[len(old) :]}")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args, **kwargs)

    def _flatten_levels(
        self, x: List[torch.Tensor]
    ) -> Tuple[List[torch.Tensor], List[torch.Tensor], List[Tuple[int, int]]]:
        src, pos, sizes = [], [], []
        for i, feature in enumerate(x):
            sizes.append(tuple(feature.shape[-2:]))
            pos.append(map_tokens(self.pe_layer(feature)).to(feature.dtype))
            level = map_tokens(self.input_proj[i](feature))
            src.append(level + self.level_embed.weight[i])
        return src, pos, sizes

    def _predict(self, queries: torch.Tensor):
        """Class logits (N, Q, K+1) and mask embeddings (N, Q, mask_dim) of the queries."""
        decoded = self.decoder_norm(queries)
        return self.class_embed(decoded), self.mask_embed(decoded)

    def _check_levels(self, x: List[torch.Tensor]) -> None:
        if len(x) != self.num_feature_levels:
            raise ValueError(
                f"{type(self).__name__} takes {self.num_feature_levels} feature levels, "
                f"got {len(x)}"
            )

    def forward(self, x: List[torch.Tensor], mask_features: torch.Tensor) -> Dict:
        """
        Args:
            x: three feature maps (N, in_channels, h_l, w_l), lowest resolution first.
            mask_features: (N, mask_dim, H, W) per-pixel embeddings.
        Returns:
            {"pred_logits": (N, Q, K+1), "pred_masks": (N, Q, H, W) logits,
             "aux_outputs": list of dec_layers such dicts (empty without deep supervision
             and in eval mode)}
        """
        self._check_levels(x)
        src, pos, sizes = self._flatten_levels(x)
        out, _ = self._decode(src, pos, sizes, mask_features)
        return out

    def _attention_mask_features(
        self, mask_features: torch.Tensor, sizes: List[Tuple[int, int]]
    ) -> List[torch.Tensor]:
        """Per feature level, the mask features whose mask logits give the level's attention
        masks (:func:`masked_attention_mask`): ``mask_features`` resized to the level once per
        forward. Mask logits are linear in the mask features and bilinear resizing is linear,
        so these masks are those of every full-resolution prediction resized to the level."""
        return [resize_maps(mask_features, size) for size in sizes]

    def _decode(
        self,
        src: List[torch.Tensor],
        pos: List[torch.Tensor],
        sizes: List[Tuple[int, int]],
        mask_features: torch.Tensor,
    ) -> Tuple[Dict, torch.Tensor]:
        """The decoder layers over flattened feature levels.

        Args:
            src, pos: per level, (N, S_l, C) tokens and their position encodings.
            sizes: per level, its (h, w).
            mask_features: (N, mask_dim, H, W), or (N, T, mask_dim, H, W) for video clips
                (see :func:`mask_logits_of`).
        Returns:
            the output dict of :meth:`forward` (video clips: "pred_masks" (N, Q, T, H, W))
            and the final queries (N, Q, C) before the output norm.
        """
        n = mask_features.shape[0]
        attention_features = self._attention_mask_features(mask_features, sizes)
        query_pos = self.query_embed.weight.unsqueeze(0).expand(n, -1, -1)
        queries = self.query_feat.weight.unsqueeze(0).expand(n, -1, -1)

        class_logits, mask_embed = self._predict(queries)
        predictions = [(class_logits, mask_embed)]
        for i in range(self.num_layers):
            level = i % self.num_feature_levels
            attn_mask = masked_attention_mask(
                mask_logits_of(mask_embed, attention_features[level]), sizes[level]
            )
            queries = self.transformer_cross_attention_layers[i](
                queries, src[level], attn_mask=attn_mask, pos=pos[level], query_pos=query_pos
            )
            queries = self.transformer_self_attention_layers[i](queries, query_pos=query_pos)
            queries = self.transformer_ffn_layers[i](queries)
            class_logits, mask_embed = self._predict(queries)
            predictions.append((class_logits, mask_embed))

        supervise_all = self.deep_supervision and self.training
        if not supervise_all:
            predictions = predictions[-1:]
        all_class, all_embed = zip(*predictions)
        # full-resolution masks of all predictions in one product
        all_masks = mask_logits_of(torch.stack(all_embed, dim=1), mask_features).unbind(1)
        out = {"pred_logits": all_class[-1], "pred_masks": all_masks[-1], "aux_outputs": []}
        if supervise_all:
            out["aux_outputs"] = aux_outputs_of(all_class, all_masks)
        return out, queries
