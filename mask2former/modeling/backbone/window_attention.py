"""Window multi-head self-attention with relative position bias (Swin Transformer, W-MSA / SW-MSA).

Feature maps are channels-last, ``(B, H, W, C)``; windows are ``(B, nW, N, C)`` with
``nW = (Hp / ws) * (Wp / ws)`` windows of ``N = ws * ws`` tokens each, numbered row-major over
the map zero-padded to ``Hp x Wp`` (multiples of the window size ``ws``).
"""

from typing import NamedTuple, Optional

import torch
import torch.nn.functional as F
from torch import nn

# Logit added to pairs of tokens that share a shifted window but come from different image
# regions. The published Swin checkpoints were trained with this finite value, not -inf.
SHIFT_MASK_VALUE = -100.0


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) with H, W multiples of ``window_size`` -> (B, nW, ws*ws, C)."""
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, -1, window_size * window_size, C)


def relative_position_index(window_size: int) -> torch.Tensor:
    """(N, N) int64: for tokens i, j of a window, the row of the bias table holding the bias for
    their offset (dy, dx) = pos_i - pos_j, laid out as (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1).
    """
    ys, xs = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ys, xs = ys.flatten(), xs.flatten()
    dy = ys[:, None] - ys[None, :] + window_size - 1
    dx = xs[:, None] - xs[None, :] + window_size - 1
    return dy * (2 * window_size - 1) + dx


def shifted_window_mask(
    height: int, width: int, window_size: int, shift: int, device=None
) -> torch.Tensor:
    """Additive attention mask for windows of a map cyclically rolled up/left by ``shift``.

    After the roll, the last row and column of windows mix tokens from opposite image borders.
    Each padded position gets a region label (3 bands per axis: untouched, last window before
    the wrap, wrapped-around ``shift`` rows); tokens of a window may attend to each other only
    when their labels agree.

    Returns: (nW, N, N) float tensor of 0 (allowed) and ``SHIFT_MASK_VALUE``.
    """

    def bands(size):
        label = torch.zeros(size, device=device)
        label[size - window_size : size - shift] = 1
        label[size - shift :] = 2
        return label

    labels = bands(height)[:, None] * 3 + bands(width)[None, :]
    labels = window_partition(labels[None, :, :, None], window_size)[0, :, :, 0]  # (nW, N)
    different = labels[:, :, None] != labels[:, None, :]
    return torch.zeros(different.shape, device=device).masked_fill_(different, SHIFT_MASK_VALUE)


class WindowLayout(NamedTuple):
    """Where each token of an H x W map goes in the (shifted) windows of the padded map.

    Padding, the cyclic shift and the window partition are one gather (and its inverse one
    gather back), computed once per stage and shared by its blocks.
    """

    to_windows: torch.Tensor  # (nW * N,) map token of each window slot; H * W = padding
    from_windows: torch.Tensor  # (H * W,) window slot of each map token
    num_windows: int
    mask: Optional[torch.Tensor]  # (nW, N, N) additive mask of shifted windows, else None

    @classmethod
    def build(cls, height: int, width: int, window_size: int, shift: int = 0, device=None):
        padded_h = -(-height // window_size) * window_size
        padded_w = -(-width // window_size) * window_size
        source = torch.full((padded_h, padded_w), height * width, dtype=torch.long, device=device)
        source[:height, :width] = torch.arange(height * width, device=device).view(height, width)
        if shift:  # cyclic shift of the padded map up and left, as in the published model
            source = torch.roll(source, shifts=(-shift, -shift), dims=(0, 1))
        to_windows = window_partition(source[None, :, :, None], window_size).reshape(-1)
        from_windows = torch.empty(height * width + 1, dtype=torch.long, device=device)
        from_windows[to_windows] = torch.arange(to_windows.numel(), device=device)
        mask = (
            shifted_window_mask(padded_h, padded_w, window_size, shift, device) if shift else None
        )
        num_windows = (padded_h // window_size) * (padded_w // window_size)
        return cls(to_windows, from_windows[: height * width], num_windows, mask)

    def partition(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, H * W, C) -> (B, nW, N, C), padding positions filled with zeros."""
        B, _, C = tokens.shape
        tokens = F.pad(tokens, (0, 0, 0, 1))  # the zero token that padding positions read
        return tokens[:, self.to_windows].view(B, self.num_windows, -1, C)

    def reverse(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, nW, N, C) -> (B, H * W, C); outputs at padding positions are dropped."""
        return windows.flatten(1, 2)[:, self.from_windows]


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned bias per head and relative
    offset. State-dict names follow the published Swin release: ``qkv``, ``proj``,
    ``relative_position_bias_table`` ((2ws-1)^2, heads) and the ``relative_position_index`` buffer.
    Computed with ``F.scaled_dot_product_attention`` (the published explicit formulation is
    in :mod:`mask2former.utils.reference_model`).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window_size: int,
        qkv_bias: bool = True,
        qk_scale=None,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads != 0:
            raise ValueError(f"Swin stage width {dim} is not divisible by its {num_heads} heads")
        self.num_heads = num_heads
        self.window_size = window_size
        self.scale = qk_scale or (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def relative_position_bias(self) -> torch.Tensor:
        """(heads, N, N) bias added to the attention logits of every window."""
        n = self.window_size * self.window_size
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        return bias.view(n, n, self.num_heads).permute(2, 0, 1)

    def forward(self, x: torch.Tensor, mask=None) -> torch.Tensor:
        """
        Args:
            x: (B, nW, N, C) window tokens.
            mask: None or (nW, N, N) additive mask (see :func:`shifted_window_mask`).
        Returns:
            (B, nW, N, C)
        """
        B, nW, N, C = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).view(B * nW, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        # 4-D (B * nW, heads, N, C / heads) inputs let SDPA use its fused kernels
        q, k, v = qkv.unbind(0)
        bias = self.relative_position_bias()[None]  # (1, heads, N, N), broadcast over windows
        if mask is not None:
            bias = (bias + mask[:, None]).repeat(B, 1, 1, 1)  # (B * nW, heads, N, N)
        dropout = self.attn_drop if self.training else 0.0
        out = self._attend(q, k, v, bias.to(q.dtype), dropout)
        out = out.transpose(1, 2).reshape(B, nW, N, C)
        return self.proj_drop(self.proj(out))

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, dropout: float
    ) -> torch.Tensor:
        """``softmax(scale * q k^T + bias) v`` with attention dropout. q, k, v:
        (B * nW, heads, N, C / heads); bias: broadcastable to (B * nW, heads, N, N)."""
        return F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=dropout, scale=self.scale
        )
