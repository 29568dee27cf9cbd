"""Pure-PyTorch multi-scale deformable attention: the fallback when the compiled operator is not
available, and the oracle it is tested against."""

from typing import List, Sequence

import torch
import torch.nn.functional as F


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype


def check_ms_deform_attn_args(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> None:
    """Raises ValueError / TypeError naming the argument that does not fit the others (the
    compiled operator performs the same checks in C++)."""
    if value.dim() != 4:
        raise ValueError(
            f"ms_deform_attn: value must be (N, S, M, D), got shape {tuple(value.shape)}"
        )
    if sampling_locations.dim() != 6 or sampling_locations.shape[5] != 2:
        raise ValueError(
            "ms_deform_attn: sampling_locations must be (N, Q, M, L, P, 2), got shape "
            f"{tuple(sampling_locations.shape)}"
        )
    n, s, m, _ = value.shape
    _, _, _, num_levels, _, _ = sampling_locations.shape
    if sampling_locations.shape[0] != n or sampling_locations.shape[2] != m:
        raise ValueError(
            f"ms_deform_attn: sampling_locations {tuple(sampling_locations.shape)} must match "
            f"value {tuple(value.shape)} in batch size N and heads M"
        )
    if attention_weights.shape != sampling_locations.shape[:5]:
        raise ValueError(
            "ms_deform_attn: attention_weights must be (N, Q, M, L, P) = "
            f"{tuple(sampling_locations.shape[:5])} like sampling_locations, got shape "
            f"{tuple(attention_weights.shape)}"
        )
    if spatial_shapes.shape != (num_levels, 2):
        raise ValueError(
            f"ms_deform_attn: spatial_shapes must be (L, 2) with L = {num_levels} levels (from "
            f"sampling_locations), got shape {tuple(spatial_shapes.shape)}"
        )
    if level_start_index.shape != (num_levels,):
        raise ValueError(
            f"ms_deform_attn: level_start_index must be (L,) with L = {num_levels}, got shape "
            f"{tuple(level_start_index.shape)}"
        )
    if not value.dtype.is_floating_point:
        raise TypeError(f"ms_deform_attn: value must be a floating point tensor, got {value.dtype}")
    allowed = (value.dtype, _accumulation_dtype(value.dtype))
    if (
        sampling_locations.dtype != attention_weights.dtype
        or sampling_locations.dtype not in allowed
    ):
        raise TypeError(
            f"ms_deform_attn: sampling_locations ({sampling_locations.dtype}) and "
            f"attention_weights ({attention_weights.dtype}) must both have the dtype of value "
            f"({value.dtype}) or {allowed[1]}"
        )
    for name, tensor in (
        ("spatial_shapes", spatial_shapes),
        ("level_start_index", level_start_index),
    ):
        if tensor.dtype != torch.int64:
            raise TypeError(f"ms_deform_attn: {name} must be int64, got {tensor.dtype}")
    for name, tensor in (
        ("spatial_shapes", spatial_shapes),
        ("level_start_index", level_start_index),
        ("sampling_locations", sampling_locations),
        ("attention_weights", attention_weights),
    ):
        if tensor.device != value.device:
            raise ValueError(
                f"ms_deform_attn: {name} is on {tensor.device} but value is on {value.device}"
            )
    sizes = spatial_shapes.prod(dim=1)
    if bool((spatial_shapes < 0).any()):
        raise ValueError(
            f"ms_deform_attn: spatial_shapes must not be negative, got {spatial_shapes.tolist()}"
        )
    starts = torch.cumsum(sizes, 0) - sizes
    if not torch.equal(level_start_index, starts):
        raise ValueError(
            f"ms_deform_attn: level_start_index {level_start_index.tolist()} does not match the "
            f"level sizes of spatial_shapes {spatial_shapes.tolist()} (expected {starts.tolist()})"
        )
    if int(sizes.sum()) != s:
        raise ValueError(
            f"ms_deform_attn: spatial_shapes describe {int(sizes.sum())} positions but value has "
            f"S = {s}"
        )


def ms_deform_attn_reference(
    value: torch.Tensor,
    spatial_shapes: torch.Tensor,
    level_start_index: torch.Tensor,
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Bilinear sampling with zero padding, ``align_corners=False``.

    A location (x, y) in [0, 1] addresses the continuous image plane of each level, so that
    pixel i of a level of width W has its centre at x = (i + 0.5) / W (the published op's
    convention).

    Args:
        value: (N, S, M, D), S = sum of H_l * W_l over levels, M heads, D channels per head.
        spatial_shapes: (L, 2) int64, (H_l, W_l) of each level.
        level_start_index: (L,) int64, offset of each level in S (checked against
            spatial_shapes).
        sampling_locations: (N, Q, M, L, P, 2), normalized (x, y); the dtype of value or, for
            float16/bfloat16 values, float32.
        attention_weights: (N, Q, M, L, P), weights of the L * P samples of a query and head;
            same dtype as sampling_locations.
    Returns:
        (N, Q, M * D) in the dtype of value.
    """
    check_ms_deform_attn_args(
        value, spatial_shapes, level_start_index, sampling_locations, attention_weights
    )
    out_dtype = value.dtype
    # grid_sample needs one dtype; use the more precise one so locations keep their precision.
    dtype = torch.promote_types(value.dtype, sampling_locations.dtype)
    value = value.to(dtype)
    sampling_locations = sampling_locations.to(dtype)
    attention_weights = attention_weights.to(dtype)

    n, _, m, d = value.shape
    _, q, _, num_levels, p, _ = sampling_locations.shape
    shapes: List[Sequence[int]] = spatial_shapes.tolist()
    values_per_level = value.split([h * w for h, w in shapes], dim=1)
    # grid_sample expects coordinates in [-1, 1]
    grids = 2.0 * sampling_locations - 1.0
    sampled = []
    for level, (h, w) in enumerate(shapes):
        # (N, H*W, M, D) -> (N*M, D, H, W)
        v = values_per_level[level].permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        # (N, Q, M, P, 2) -> (N*M, Q, P, 2)
        g = grids[:, :, :, level].transpose(1, 2).reshape(n * m, q, p, 2)
        sampled.append(
            F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        )
    # (N*M, D, Q, L, P) weighted by (N*M, 1, Q, L, P), summed over levels and points
    samples = torch.stack(sampled, dim=3)
    weights = attention_weights.transpose(1, 2).reshape(n * m, 1, q, num_levels, p)
    out = (samples * weights).sum(dim=(3, 4))  # (N*M, D, Q)
    return out.view(n, m * d, q).transpose(1, 2).contiguous().to(out_dtype)
