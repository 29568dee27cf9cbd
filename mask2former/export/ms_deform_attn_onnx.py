"""ONNX translation of the compiled ``mask2former::ms_deform_attn`` operator with standard ONNX
operators (Slice, Reshape, GridSample, ...), for ``torch.onnx.export(..., dynamo=True)``.

torch.export keeps the operator as one node (its fake kernel gives the output shape); the ONNX
exporter then calls ``ms_deform_attn_onnx`` to expand that node. The decomposition is the one of
``ms_deform_attn_reference``: per level, the value tokens are viewed as an image
(N*M, D, H_l, W_l) and bilinearly sampled (zero padding, ``align_corners=False``) at the
locations mapped from [0, 1] to [-1, 1]; the samples are weighted and summed over levels and
points. The level sizes are read from ``spatial_shapes`` and ``level_start_index`` at run
time, so the graph works for every input size; the numbers of levels L, points P, heads M
and channels D must be static (they are, being fixed by the weights).
"""

import torch
from onnxscript import opset18 as op


def _static_dim(value, axis: int, name: str) -> int:
    dim = value.shape[axis] if value.shape is not None else None
    if not isinstance(dim, int):
        raise ValueError(
            f"ms_deform_attn ONNX export: dimension {axis} of {name} must be static, got {dim}"
        )
    return dim


def _int64(*values):
    return op.Constant(value_ints=list(values))


def ms_deform_attn_onnx(
    value, spatial_shapes, level_start_index, sampling_locations, attention_weights
):
    """ONNX graph of ``ms_deform_attn``; shapes as in ``ms_deform_attn_reference``:
    value (N, S, M, D), spatial_shapes (L, 2) int64, level_start_index (L,) int64,
    sampling_locations (N, Q, M, L, P, 2), attention_weights (N, Q, M, L, P) -> (N, Q, M*D)."""
    m = _static_dim(value, 2, "value")
    d = _static_dim(value, 3, "value")
    num_levels = _static_dim(sampling_locations, 3, "sampling_locations")
    p = _static_dim(sampling_locations, 4, "sampling_locations")

    loc_shape = op.Shape(sampling_locations)
    n = op.Slice(loc_shape, _int64(0), _int64(1))
    q = op.Slice(loc_shape, _int64(1), _int64(2))
    # (N, Q, M, L, P, 2) -> (N, M, Q, L, P, 2), grid coordinates in [-1, 1]
    grids = op.Transpose(sampling_locations, perm=[0, 2, 1, 3, 4, 5])
    grids = op.Sub(op.Mul(grids, op.CastLike(2.0, grids)), op.CastLike(1.0, grids))
    # (N*M, Q, L*P, 2): one grid per (image, head), levels side by side along the width
    grid_shape = op.Concat(_int64(-1), q, _int64(num_levels * p, 2), axis=0)
    grids = op.Reshape(grids, grid_shape)

    samples = []
    for level in range(num_levels):
        hw = op.Gather(spatial_shapes, _int64(level), axis=0)  # (1, 2) -> [H_l, W_l]
        hw = op.Reshape(hw, _int64(2))
        start = op.Gather(level_start_index, _int64(level), axis=0)  # (1,)
        end = op.Add(start, op.ReduceProd(hw, keepdims=1))
        # (N, H_l*W_l, M, D) -> (N, M, D, H_l*W_l) -> (N*M, D, H_l, W_l)
        level_value = op.Slice(value, start, end, _int64(1))
        level_value = op.Transpose(level_value, perm=[0, 2, 3, 1])
        level_value = op.Reshape(level_value, op.Concat(_int64(-1, d), hw, axis=0))
        level_grid = op.Slice(grids, _int64(level * p), _int64((level + 1) * p), _int64(2))
        # (N*M, D, Q, P)
        samples.append(
            op.GridSample(
                level_value, level_grid, mode="bilinear", padding_mode="zeros", align_corners=0
            )
        )
    samples = op.Concat(*samples, axis=3) if num_levels > 1 else samples[0]  # (N*M, D, Q, L*P)
    # (N, Q, M, L, P) -> (N, M, Q, L, P) -> (N*M, 1, Q, L*P)
    weights = op.Transpose(attention_weights, perm=[0, 2, 1, 3, 4])
    weights = op.Reshape(weights, op.Concat(_int64(-1, 1), q, _int64(num_levels * p), axis=0))
    out = op.ReduceSum(op.Mul(samples, weights), _int64(3), keepdims=0)  # (N*M, D, Q)
    out = op.Reshape(out, op.Concat(n, _int64(m * d), q, axis=0))
    return op.Transpose(out, perm=[0, 2, 1])  # (N, Q, M*D)


def onnx_translation_table() -> dict:
    """``custom_translation_table`` for ``torch.onnx.export`` covering this project's operators
    (empty when the compiled operators are not loaded: the model then runs the reference,
    which is plain PyTorch)."""
    if not hasattr(torch.ops.mask2former, "ms_deform_attn"):
        return {}
    return {torch.ops.mask2former.ms_deform_attn.default: ms_deform_attn_onnx}
