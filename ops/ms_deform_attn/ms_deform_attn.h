// Multi-scale deformable attention (Deformable DETR, used by Mask2Former's pixel decoder).
//
// Shapes shared by every kernel:
//   value               (N, S, M, D)      S = sum over levels of H_l * W_l, M heads, D channels
//   spatial_shapes      (L, 2) int64      (H_l, W_l) of each level
//   level_start_index   (L,) int64        offset of each level along S
//   sampling_locations  (N, Q, M, L, P, 2) normalized (x, y); pixel i has its centre at (i + 0.5) / W
//   attention_weights   (N, Q, M, L, P)
//   output              (N, Q, M * D)
// Locations and weights may be given in the value's dtype or in its accumulation dtype
// (float32 for half/bfloat16 values); kernels accumulate in float32 (float64 for double).
#pragma once

#include <ATen/ATen.h>
#include <ATen/OpMathType.h>

#include <tuple>

namespace mask2former {

// Sizes read off validated arguments.
struct MSDeformAttnSizes {
  int64_t batch, num_positions, num_heads, channels, num_queries, num_levels, num_points;
};

// The arguments of a kernel once checked: their sizes, and contiguous copies of the level layout
// and of the sampling locations and attention weights, these in the accumulation dtype.
struct MSDeformAttnInputs {
  MSDeformAttnSizes sizes;
  at::Tensor spatial_shapes, level_start_index, sampling_locations, attention_weights;
};

// What every kernel entry point runs first. Checks ranks, sizes, dtypes and devices, that
// spatial_shapes and level_start_index describe the S positions of value (read on the host, so
// a small copy from a GPU), and, in backward, grad_output against the forward output
// (N, Q, M * D); raises ValueError / TypeError naming the offending argument. value itself is
// left to the kernels, which want it in different layouts.
MSDeformAttnInputs prepare_ms_deform_attn_inputs(const at::Tensor& value,
                                                 const at::Tensor& spatial_shapes,
                                                 const at::Tensor& level_start_index,
                                                 const at::Tensor& sampling_locations,
                                                 const at::Tensor& attention_weights,
                                                 const at::Tensor* grad_output = nullptr);

}  // namespace mask2former
