"""Window multi-head self-attention with relative position bias (Swin Transformer, W-MSA / SW-MSA).

Feature maps are channels-last, ``(B, H, W, C)``; windows are ``(B, nW, N, C)`` with
``nW = (H / ws) * (W / ws)`` windows of ``N = ws * ws`` tokens each, numbered row-major.
"""
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


def window_reverse(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: (B, nW, ws*ws, C) -> (B, height, width, C)."""
    B, C = windows.shape[0], windows.shape[-1]
    x = windows.view(B, height // window_size, width // window_size, window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(B, height, width, C)


def relative_position_index(window_size: int) -> torch.Tensor:
    """(N, N) int64: for tokens i, j of a window, the row of the bias table holding the bias for
    their offset (dy, dx) = pos_i - pos_j, laid out as (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1)."""
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


class WindowAttention(nn.Module):
    """Multi-head self-attention inside each window, with a learned bias per head and relative
    offset. State-dict names follow the published Swin release: ``qkv``, ``proj``,
    ``relative_position_bias_table`` ((2ws-1)^2, heads) and the ``relative_position_index`` buffer.
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
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias.to(q.dtype),
            dropout_p=self.attn_drop if self.training else 0.0,
            scale=self.scale,
        )
        out = out.transpose(1, 2).reshape(B, nW, N, C)
        return self.proj_drop(self.proj(out))
