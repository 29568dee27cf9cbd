"""The three sub-layers of a Mask2Former decoder layer (no dropout, batch-first). Names follow
the published checkpoints: ``self_attn``/``multihead_attn``/``linear1``, ``linear2`` + ``norm``."""

from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

from .attention import MultiheadAttention
from .mlp import feed_forward
from .residual import residual, with_pos


class _AttentionLayer(nn.Module):
    """An attention sub-layer: its attention, registered under ``attention_name`` (the
    published checkpoints' name), with its output projection Xavier-initialized, and its
    LayerNorm (``norm``), before the attention or after the residual sum."""

    attention_name: str

    def __init__(self, d_model: int, nhead: int, normalize_before: bool = False):
        super().__init__()
        attention = MultiheadAttention(d_model, nhead)
        self.add_module(self.attention_name, attention)
        self.norm = nn.LayerNorm(d_model)
        self.normalize_before = normalize_before
        nn.init.xavier_uniform_(attention.out_proj.weight)


class SelfAttentionLayer(_AttentionLayer):
    """Queries attend to each other (residual + LayerNorm, post- or pre-norm)."""

    attention_name = "self_attn"

    def forward(self, tgt: torch.Tensor, query_pos: Optional[torch.Tensor] = None) -> torch.Tensor:
        """tgt, query_pos: (N, Q, C) -> (N, Q, C)"""

        def attend(x):
            q = with_pos(x, query_pos)
            return self.self_attn(q, q, x)

        return residual(tgt, self.norm, attend, self.normalize_before)


class CrossAttentionLayer(_AttentionLayer):
    """Queries attend to image tokens, optionally restricted by a boolean mask."""

    attention_name = "multihead_attn"

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        attn_mask: Optional[torch.Tensor] = None,
        pos: Optional[torch.Tensor] = None,
        query_pos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """
        Args:
            tgt, query_pos: (N, Q, C); memory, pos: (N, S, C).
            attn_mask: bool broadcastable to (N, heads, Q, S), True where a query may attend.
        Returns:
            (N, Q, C)
        """

        def attend(x):
            return self.multihead_attn(
                with_pos(x, query_pos), with_pos(memory, pos), memory, attn_mask=attn_mask
            )

        return residual(tgt, self.norm, attend, self.normalize_before)


class FFNLayer(nn.Module):
    """Position-wise feed-forward network (ReLU) with residual + LayerNorm."""

    def __init__(self, d_model: int, dim_feedforward: int = 2048, normalize_before: bool = False):
        super().__init__()
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.normalize_before = normalize_before
        nn.init.xavier_uniform_(self.linear1.weight)
        nn.init.xavier_uniform_(self.linear2.weight)

    def forward(self, tgt: torch.Tensor) -> torch.Tensor:
        """(N, Q, C) -> (N, Q, C)"""
        return residual(
            tgt,
            self.norm,
            lambda x: feed_forward(x, (self.linear1, self.linear2), F.relu),
            self.normalize_before,
        )
