"""Multi-head attention stored like ``torch.nn.MultiheadAttention`` and computed with
``F.scaled_dot_product_attention`` (fused kernels, boolean masks, exportable), or explicitly
when the kernel switch selects the reference kernels (``mask2former.layers.use_reference_ops``)."""

import math
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .reference_mode import reference_ops_enabled


def explicit_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d) + mask) v`` computed step by step (no dropout): the reference
    for ``F.scaled_dot_product_attention``. q: (N, M, Lq, d); k, v: (N, M, Lk, d); attn_mask:
    bool broadcastable to (N, M, Lq, Lk), True where a query may attend."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attn_mask is not None:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    return scores.softmax(dim=-1) @ v


class MultiheadAttention(nn.Module):
    """Drop-in for ``nn.MultiheadAttention(embed_dim, num_heads, dropout)`` as far as the
    state_dict goes (``in_proj_weight``, ``in_proj_bias``, ``out_proj.{weight,bias}``), so
    published checkpoints load unchanged. Unlike it, inputs are batch-first and boolean masks
    mean "may attend" (True) as in ``F.scaled_dot_product_attention``."""

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                f"num_heads ({num_heads})"
            )
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim))
        self.out_proj = nn.Linear(embed_dim, embed_dim)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        n, length, _ = x.shape
        return x.view(n, length, self.num_heads, -1).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        attn_mask: Optional[torch.Tensor] = None,
        key_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            query: (N, Lq, C); key, value: (N, Lk, C).
            attn_mask: bool, broadcastable to (N, num_heads, Lq, Lk); True where a query may
                attend. A query row must allow at least one key.
            key_padding_mask: (N, Lk) bool, True at padded keys (never attended).
        Returns:
            (N, Lq, C)
        """
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)
        q = self._split_heads(F.linear(query, w_q, b_q))
        k = self._split_heads(F.linear(key, w_k, b_k))
        v = self._split_heads(F.linear(value, w_v, b_v))
        if key_padding_mask is not None:
            keep = ~key_padding_mask[:, None, None, :]
            attn_mask = keep if attn_mask is None else attn_mask & keep
        dropout = self.dropout if self.training else 0.0
        if reference_ops_enabled() and dropout == 0.0:
            out = explicit_attention(q, k, v, attn_mask)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        n, lq, _ = query.shape
        return self.out_proj(out.transpose(1, 2).reshape(n, lq, self.embed_dim))

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
