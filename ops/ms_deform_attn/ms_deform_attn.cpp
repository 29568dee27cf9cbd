// Operator schemas (namespace "mask2former") and the argument checks and preparation every
// backend shares.
// Backends register their kernels in cpu/ and cuda/; the fake (meta) kernels and the autograd
// formula are registered from Python (mask2former/layers/_ops.py), which is what torch.compile
// and torch.export consult.
#include "ms_deform_attn.h"

#include <torch/library.h>

namespace mask2former {

namespace {

bool is_accumulation_dtype_of(at::ScalarType dtype, at::ScalarType value_dtype) {
  return dtype == value_dtype || dtype == at::toOpMathType(value_dtype);
}

// Ranks, sizes, dtypes and devices: everything knowable without reading tensor data.
MSDeformAttnSizes check_ms_deform_attn_args(
    const at::Tensor& value,
    const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index,
    const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  TORCH_CHECK_VALUE(value.dim() == 4, "ms_deform_attn: value must be (N, S, M, D), got shape ",
                    value.sizes());
  TORCH_CHECK_VALUE(sampling_locations.dim() == 6 && sampling_locations.size(5) == 2,
                    "ms_deform_attn: sampling_locations must be (N, Q, M, L, P, 2), got shape ",
                    sampling_locations.sizes());
  MSDeformAttnSizes s{value.size(0), value.size(1), value.size(2), value.size(3),
                      sampling_locations.size(1), sampling_locations.size(3),
                      sampling_locations.size(4)};
  TORCH_CHECK_VALUE(sampling_locations.size(0) == s.batch && sampling_locations.size(2) == s.num_heads,
                    "ms_deform_attn: sampling_locations ", sampling_locations.sizes(),
                    " must match value ", value.sizes(), " in batch size N and heads M");
  TORCH_CHECK_VALUE(
      attention_weights.sizes() == sampling_locations.sizes().slice(0, 5),
      "ms_deform_attn: attention_weights must be (N, Q, M, L, P) = ",
      sampling_locations.sizes().slice(0, 5), " like sampling_locations, got shape ",
      attention_weights.sizes());
  TORCH_CHECK_VALUE(spatial_shapes.dim() == 2 && spatial_shapes.size(0) == s.num_levels &&
                        spatial_shapes.size(1) == 2,
                    "ms_deform_attn: spatial_shapes must be (L, 2) with L = ", s.num_levels,
                    " levels (from sampling_locations), got shape ", spatial_shapes.sizes());
  TORCH_CHECK_VALUE(level_start_index.dim() == 1 && level_start_index.size(0) == s.num_levels,
                    "ms_deform_attn: level_start_index must be (L,) with L = ", s.num_levels,
                    ", got shape ", level_start_index.sizes());

  TORCH_CHECK_TYPE(at::isFloatingType(value.scalar_type()),
                   "ms_deform_attn: value must be a floating point tensor, got ",
                   value.scalar_type());
  TORCH_CHECK_TYPE(sampling_locations.scalar_type() == attention_weights.scalar_type() &&
                       is_accumulation_dtype_of(sampling_locations.scalar_type(),
                                                value.scalar_type()),
                   "ms_deform_attn: sampling_locations (", sampling_locations.scalar_type(),
                   ") and attention_weights (", attention_weights.scalar_type(),
                   ") must both have the dtype of value (", value.scalar_type(), ") or ",
                   at::toOpMathType(value.scalar_type()));
  TORCH_CHECK_TYPE(spatial_shapes.scalar_type() == at::kLong,
                   "ms_deform_attn: spatial_shapes must be int64, got ",
                   spatial_shapes.scalar_type());
  TORCH_CHECK_TYPE(level_start_index.scalar_type() == at::kLong,
                   "ms_deform_attn: level_start_index must be int64, got ",
                   level_start_index.scalar_type());

  const auto device = value.device();
  for (const auto& [name, tensor] :
       {std::pair<const char*, const at::Tensor&>{"spatial_shapes", spatial_shapes},
        {"level_start_index", level_start_index},
        {"sampling_locations", sampling_locations},
        {"attention_weights", attention_weights}}) {
    TORCH_CHECK_VALUE(tensor.device() == device, "ms_deform_attn: ", name, " is on ",
                      tensor.device(), " but value is on ", device);
  }
  return s;
}

// That spatial_shapes and level_start_index describe num_positions positions; a wrong layout
// would make the kernels read out of bounds.
void check_level_layout(
    const at::Tensor& spatial_shapes, const at::Tensor& level_start_index, int64_t num_positions) {
  const auto shapes = spatial_shapes.cpu().contiguous();
  const auto starts = level_start_index.cpu().contiguous();
  const int64_t* hw = shapes.data_ptr<int64_t>();
  const int64_t* start = starts.data_ptr<int64_t>();
  int64_t offset = 0;
  for (int64_t l = 0; l < shapes.size(0); ++l) {
    TORCH_CHECK_VALUE(hw[2 * l] >= 0 && hw[2 * l + 1] >= 0,
                      "ms_deform_attn: spatial_shapes[", l, "] = (", hw[2 * l], ", ", hw[2 * l + 1],
                      ") must not be negative");
    TORCH_CHECK_VALUE(start[l] == offset, "ms_deform_attn: level_start_index[", l, "] is ",
                      start[l], " but the levels before it (spatial_shapes) hold ", offset,
                      " positions");
    offset += hw[2 * l] * hw[2 * l + 1];
  }
  TORCH_CHECK_VALUE(offset == num_positions, "ms_deform_attn: spatial_shapes describe ", offset,
                    " positions but value has S = ", num_positions);
}

// grad_output against the forward output, (N, Q, M * D) in the value's dtype and device.
void check_grad_output(const at::Tensor& grad_output, const MSDeformAttnSizes& s,
                       const at::Tensor& value) {
  TORCH_CHECK_VALUE(grad_output.dim() == 3 && grad_output.size(0) == s.batch &&
                        grad_output.size(1) == s.num_queries &&
                        grad_output.size(2) == s.num_heads * s.channels,
                    "ms_deform_attn_backward: grad_output must be (N, Q, M * D) = (", s.batch,
                    ", ", s.num_queries, ", ", s.num_heads * s.channels, "), got shape ",
                    grad_output.sizes());
  TORCH_CHECK_TYPE(grad_output.scalar_type() == value.scalar_type(),
                   "ms_deform_attn_backward: grad_output dtype ", grad_output.scalar_type(),
                   " must equal the value dtype ", value.scalar_type());
  TORCH_CHECK_VALUE(grad_output.device() == value.device(),
                    "ms_deform_attn_backward: grad_output is on ", grad_output.device(),
                    " but value is on ", value.device());
}

}  // namespace

MSDeformAttnInputs prepare_ms_deform_attn_inputs(const at::Tensor& value,
                                                 const at::Tensor& spatial_shapes,
                                                 const at::Tensor& level_start_index,
                                                 const at::Tensor& sampling_locations,
                                                 const at::Tensor& attention_weights,
                                                 const at::Tensor* grad_output) {
  const auto sizes = check_ms_deform_attn_args(value, spatial_shapes, level_start_index,
                                               sampling_locations, attention_weights);
  check_level_layout(spatial_shapes, level_start_index, sizes.num_positions);
  if (grad_output != nullptr) {
    check_grad_output(*grad_output, sizes, value);
  }
  const auto acc_dtype = at::toOpMathType(value.scalar_type());
  return {sizes, spatial_shapes.contiguous(), level_start_index.contiguous(),
          sampling_locations.to(acc_dtype).contiguous(),
          attention_weights.to(acc_dtype).contiguous()};
}

TORCH_LIBRARY(mask2former, m) {
  m.def(
      "ms_deform_attn(Tensor value, Tensor spatial_shapes, Tensor level_start_index, "
      "Tensor sampling_locations, Tensor attention_weights) -> Tensor",
      {at::Tag::pt2_compliant_tag});
  // Returns the gradients of value, sampling_locations and attention_weights, each in the
  // dtype of its input.
  m.def(
      "ms_deform_attn_backward(Tensor grad_output, Tensor value, Tensor spatial_shapes, "
      "Tensor level_start_index, Tensor sampling_locations, Tensor attention_weights) "
      "-> (Tensor, Tensor, Tensor)",
      {at::Tag::pt2_compliant_tag});
}

}  // namespace mask2former
