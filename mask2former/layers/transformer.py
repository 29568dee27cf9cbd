"""DETR-style transformer encoder and decoder (post- or pre-LayerNorm, with dropout), as used by
MaskFormer's StandardTransformerDecoder and TransformerEncoderPixelDecoder.

All tensors are batch-first: sequences are (N, L, C). Submodule names follow the published
checkpoints (``self_attn``, ``multihead_attn``, ``linear1``, ``linear2``, ``norm1..3``)."""

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .attention import MultiheadAttention
from .mlp import feed_forward
from .residual import residual, with_pos
from .tokens import flatten_maps, unflatten_maps


def xavier_init_matrices(module: nn.Module) -> None:
    """Xavier-uniform init of every parameter with more than one dimension (DETR's init)."""
    for p in module.parameters():
        if p.dim() > 1:
            nn.init.xavier_uniform_(p)


class _DetrLayer(nn.Module):
    """What DETR's encoder and decoder layers share: their modules, in the published order
    (``self_attn``, with ``cross_attention`` also ``multihead_attn``, then ``linear1``,
    ``linear2``, ``norm1``, ``norm2`` (and ``norm3``), ``dropout``), and their self-attention and
    feed-forward sub-layers, each followed by dropout."""

    cross_attention: bool

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
    ):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        if self.cross_attention:
            self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        if self.cross_attention:
            self.norm3 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.normalize_before = normalize_before

    def _self_attn(
        self,
        x: torch.Tensor,
        pos: Optional[torch.Tensor],
        key_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        q = with_pos(x, pos)
        return self.dropout(self.self_attn(q, q, x, key_padding_mask=key_padding_mask))

    def _ffn(self, x: torch.Tensor) -> torch.Tensor:
        return feed_forward(x, (self.linear1, self.linear2), F.relu, self.dropout)


class TransformerEncoderLayer(_DetrLayer):
    """Self-attention + feed-forward, each with a residual connection and LayerNorm."""

    cross_attention = False

    def forward(
        self,
        src: torch.Tensor,
        pos: Optional[torch.Tensor] = None,
        key_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """src, pos: (N, S, C); key_padding_mask: (N, S) bool or None. Returns (N, S, C)."""
        src = residual(
            src,
            self.norm1,
            lambda x: self._self_attn(x, pos, key_padding_mask),
            self.normalize_before,
        )
        return residual(src, self.norm2, self._ffn, self.normalize_before)


class _LayerStack(nn.Module):
    """``num_layers`` layers of ``layer_type`` (``layers.N``), then a LayerNorm (``norm``) that
    pre-norm layers always need and post-norm ones get only with ``always_norm``."""

    layer_type: type
    always_norm: bool

    def __init__(
        self,
        d_model: int,
        nhead: int,
        num_layers: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
    ):
        super().__init__()
        self.layers = nn.ModuleList(
            self.layer_type(d_model, nhead, dim_feedforward, dropout, normalize_before)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model) if normalize_before or self.always_norm else None


class TransformerEncoder(_LayerStack):
    """A stack of encoder layers, with a final LayerNorm (``norm``) only for pre-norm layers."""

    layer_type = TransformerEncoderLayer
    always_norm = False

    def forward(self, src, pos=None, key_padding_mask=None):
        """src, pos: (N, S, C); key_padding_mask: (N, S) bool or None. Returns (N, S, C)."""
        for layer in self.layers:
            src = layer(src, pos, key_padding_mask)
        return src if self.norm is None else self.norm(src)


class TransformerDecoderLayer(_DetrLayer):
    """Self-attention among queries, cross-attention to the image, feed-forward; each with a
    residual connection and LayerNorm."""

    cross_attention = True

    def _cross_attn(self, x, memory, pos, query_pos, memory_key_padding_mask):
        out = self.multihead_attn(
            with_pos(x, query_pos),
            with_pos(memory, pos),
            memory,
            key_padding_mask=memory_key_padding_mask,
        )
        return self.dropout(out)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        pos: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
        memory_key_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """tgt, query_pos: (N, Q, C); memory, pos: (N, S, C). Returns (N, Q, C)."""
        pre = self.normalize_before
        tgt = residual(tgt, self.norm1, lambda x: self._self_attn(x, query_pos), pre)
        tgt = residual(
            tgt,
            self.norm2,
            lambda x: self._cross_attn(x, memory, pos, query_pos, memory_key_padding_mask),
            pre,
        )
        return residual(tgt, self.norm3, self._ffn, pre)


class TransformerDecoder(_LayerStack):
    """A stack of decoder layers followed by a shared LayerNorm (``norm``).

    Returns the normalized output of every layer, (num_layers, N, Q, C), when
    ``return_intermediate`` (deep supervision), else only the last one, (1, N, Q, C)."""

    layer_type = TransformerDecoderLayer
    always_norm = True

    def __init__(self, *args, return_intermediate: bool = False, **kwargs):
        """``args``, ``kwargs``: those of :class:`TransformerEncoder`."""
        super().__init__(*args, **kwargs)
        self.return_intermediate = return_intermediate

    def forward(self, tgt, memory, pos=None, query_pos=None, memory_key_padding_mask=None):
        outputs = []
        for layer in self.layers:
            tgt = layer(tgt, memory, pos, query_pos, memory_key_padding_mask)
            if self.return_intermediate:
                outputs.append(self.norm(tgt))
        if not self.return_intermediate:
            outputs.append(self.norm(tgt))
        return torch.stack(outputs)


class Transformer(nn.Module):
    """DETR's encoder-decoder: ``num_encoder_layers`` (may be 0) of self-attention over the image
    tokens, then ``num_decoder_layers`` whose queries start at zero and carry their learned
    embedding as positional encoding."""

    def __init__(
        self,
        d_model: int = 256,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        normalize_before: bool = False,
        return_intermediate_dec: bool = False,
    ):
        super().__init__()
        self.encoder = TransformerEncoder(
            d_model, nhead, num_encoder_layers, dim_feedforward, dropout, normalize_before
        )
        self.decoder = TransformerDecoder(
            d_model,
            nhead,
            num_decoder_layers,
            dim_feedforward,
            dropout,
            normalize_before,
            return_intermediate=return_intermediate_dec,
        )
        self.d_model = d_model
        xavier_init_matrices(self)

    def forward(self, src, mask, query_embed, pos_embed):
        """
        Args:
            src: (N, C, H, W) image features; mask: (N, H, W) bool padding or None;
            query_embed: (Q, C); pos_embed: (N, C, H, W).
        Returns:
            decoder outputs (L, N, Q, C) (L = number of layers, or 1) and the encoded
            image (N, C, H, W).
        """
        size = src.shape[-2:]
        src = flatten_maps([src])
        pos_embed = flatten_maps([pos_embed])
        padding = None if mask is None else mask.flatten(1)
        query_pos = query_embed.unsqueeze(0).expand(src.shape[0], -1, -1)
        memory = self.encoder(src, pos_embed, padding)
        hs = self.decoder(torch.zeros_like(query_pos), memory, pos_embed, query_pos, padding)
        return hs, unflatten_maps(memory, [size])[0]
