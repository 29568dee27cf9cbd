"""Multi-scale deformable attention (Deformable DETR), as used by MSDeformAttnPixelDecoder.

``ms_deform_attn`` runs the compiled operator ``torch.ops.mask2former.ms_deform_attn`` (built
from ``ops/`` into ``mask2former._C``; CPU kernels always, CUDA kernels when built with a CUDA
toolkit) and falls back to the pure-PyTorch ``ms_deform_attn_reference`` when the operator is
not built or does not support the tensors' device. The compiled operator works under
torch.compile(fullgraph=True) and torch.export.

To force the reference (for comparisons and benchmarks) use the kernel switch of
``reference_mode``: ``MASK2FORMER_DISABLE_CUSTOM_OPS=1`` or ``with use_reference_ops(): ...``.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F

from ._ops import load_compiled_ops
from .ms_deform_attn_reference import ms_deform_attn_reference
from .reference_mode import reference_ops_enabled, use_reference_ops  # noqa: F401 (re-export)
from .token_linear import TokenLinear

_COMPILED_DEVICES = load_compiled_ops()


def compiled_op_available(device: torch.device) -> bool:
    """Whether the compiled operator has kernels for ``device``."""
    return torch.device(device).type in _COMPILED_DEVICES


def ms_deform_attn(value, spatial_shapes, level_start_index, sampling_locations, attention_weights):
    """Multi-scale deformable attention: the tensors and result of ``ms_deform_attn_reference``.

    ``sampling_locations`` and ``attention_weights`` may have the dtype of ``value`` or its
    accumulation dtype (float32 for float16/bfloat16 values, keeping locations precise under
    autocast). Bad arguments raise ValueError or TypeError naming the argument."""
    if not reference_ops_enabled() and value.device.type in _COMPILED_DEVICES:
        return torch.ops.mask2former.ms_deform_attn(
            value, spatial_shapes, level_start_index, sampling_locations, attention_weights
        )
    return ms_deform_attn_reference(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )


class MSDeformAttn(nn.Module):
    """Each query attends to ``n_points`` learned sampling locations around its reference
    point on each of ``n_levels`` feature levels, with ``n_heads`` heads.

    Parameter names match the published checkpoints (sampling_offsets, attention_weights,
    value_proj, output_proj)."""

    def __init__(self, d_model: int = 256, n_levels: int = 4, n_heads: int = 8, n_points: int = 4):
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.d_model = d_model
        self.n_levels = n_levels
        self.n_heads = n_heads
        self.n_points = n_points
        self.sampling_offsets = TokenLinear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = TokenLinear(d_model, n_heads * n_levels * n_points)
        self.value_proj = TokenLinear(d_model, d_model)
        self.output_proj = TokenLinear(d_model, d_model)
        self._reset_parameters()

    def _reset_parameters(self):
        nn.init.zeros_(self.sampling_offsets.weight)
        # Initial offsets point in n_heads evenly spread directions, the k-th point k steps
        # away, so that heads start by looking at different neighbourhoods.
        angles = torch.arange(self.n_heads, dtype=torch.float32) * (2.0 * math.pi / self.n_heads)
        directions = torch.stack([angles.cos(), angles.sin()], dim=-1)
        directions = directions / directions.abs().max(dim=-1, keepdim=True).values
        steps = torch.arange(1, self.n_points + 1, dtype=torch.float32)
        bias = directions[:, None, None, :] * steps[None, None, :, None]
        bias = bias.expand(self.n_heads, self.n_levels, self.n_points, 2)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(bias.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        input_flatten: torch.Tensor,
        input_spatial_shapes: torch.Tensor,
        input_level_start_index: torch.Tensor,
        input_padding_mask: torch.Tensor = None,
    ) -> torch.Tensor:
        """
        Args:
            query: (N, Q, C)
            reference_points: (N, Q, L, 2) normalized (x, y) in [0, 1], or (N, Q, L, 4)
                boxes (cx, cy, w, h) whose size scales the offsets.
            input_flatten: (N, S, C), the levels flattened and concatenated.
            input_spatial_shapes: (L, 2) int64 (H_l, W_l).
            input_level_start_index: (L,) int64.
            input_padding_mask: (N, S) bool, True at padding positions, or None.
        Returns:
            (N, Q, C)
        """
        n, q, _ = query.shape
        s = input_flatten.shape[1]
        # ms_deform_attn checks that input_spatial_shapes describe the s positions.
        value = self.value_proj(input_flatten)
        if input_padding_mask is not None:
            value = value.masked_fill(input_padding_mask[..., None], 0.0)
        value = value.view(n, s, self.n_heads, self.d_model // self.n_heads)
        # Sub-pixel sampling locations need more precision than half-precision offsets give:
        # under autocast the offsets (and so the locations) and the attention weights are
        # computed in the parameters' dtype (float32); value and output keep the autocast dtype.
        precise = self.sampling_offsets.weight.dtype
        with torch.autocast(query.device.type, enabled=False):
            offsets = self.sampling_offsets(query.to(precise)).view(
                n, q, self.n_heads, self.n_levels, self.n_points, 2
            )
        weights = self.attention_weights(query).view(
            n, q, self.n_heads, self.n_levels * self.n_points
        )
        weights = F.softmax(weights.to(precise), dim=-1)
        weights = weights.view(n, q, self.n_heads, self.n_levels, self.n_points)
        if reference_points.shape[-1] == 2:
            # offsets are in pixels of each level: normalize by (W_l, H_l)
            normalizer = input_spatial_shapes.flip(-1).to(offsets.dtype)
            # reference + offsets / normalizer in one pass (the same rounding as two steps)
            locations = torch.addcdiv(
                reference_points[:, :, None, :, None, :],
                offsets,
                normalizer[None, None, None, :, None, :],
            )
        elif reference_points.shape[-1] == 4:
            locations = (
                reference_points[:, :, None, :, None, :2]
                + offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
            )
        else:
            raise ValueError(
                f"reference_points must end in 2 or 4 coordinates, got {reference_points.shape[-1]}"
            )
        out = ms_deform_attn(
            value, input_spatial_shapes, input_level_start_index, locations, weights
        )
        return self.output_proj(out)
