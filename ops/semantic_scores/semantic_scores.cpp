// Schema of semantic_scores, and the argument checks and resize taps that the CPU and CUDA kernels
// share (see semantic_scores.h).
#include "semantic_scores.h"

#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace mask2former {

namespace {

// One output index of F.interpolate(mode="bilinear", align_corners=False) along an axis of
// in_size -> out_size: the two input indices it reads and their weights, computed as PyTorch's
// CPU kernel computes them.
template <typename acc_t>
struct LinearTap {
  int64_t first, second;
  acc_t first_weight, second_weight;
};

template <typename acc_t>
LinearTap<acc_t> linear_tap(int64_t dst, int64_t in_size, int64_t out_size) {
  const acc_t scale = static_cast<acc_t>(in_size) / static_cast<acc_t>(out_size);
  const acc_t src = std::max(scale * (static_cast<acc_t>(dst) + acc_t(0.5)) - acc_t(0.5), acc_t(0));
  const int64_t first = std::min(static_cast<int64_t>(std::floor(src)), in_size - 1);
  const acc_t lambda = std::min(std::max(src - static_cast<acc_t>(first), acc_t(0)), acc_t(1));
  return {first, first + (first < in_size - 1 ? 1 : 0), acc_t(1) - lambda, lambda};
}

// Taps of one axis: low -> padded (upsampling), the first `crop` indices kept, crop -> out.
// Returns index (out, 4) int64 and weight (out, 4) in `dtype`, on the CPU.
std::pair<at::Tensor, at::Tensor> axis_taps(int64_t low, int64_t padded, int64_t crop, int64_t out,
                                            at::ScalarType dtype) {
  auto index = at::empty({out, kSemanticTaps}, at::kLong);
  auto weight = at::empty({out, kSemanticTaps}, at::TensorOptions().dtype(dtype));
  AT_DISPATCH_FLOATING_TYPES(dtype, "semantic_scores_taps", [&] {
    int64_t* idx = index.data_ptr<int64_t>();
    scalar_t* wt = weight.data_ptr<scalar_t>();
    for (int64_t o = 0; o < out; ++o) {
      const auto outer = linear_tap<scalar_t>(o, crop, out);
      const auto a = linear_tap<scalar_t>(outer.first, low, padded);
      const auto b = linear_tap<scalar_t>(outer.second, low, padded);
      const int64_t i[kSemanticTaps] = {a.first, a.second, b.first, b.second};
      const scalar_t w[kSemanticTaps] = {
          outer.first_weight * a.first_weight, outer.first_weight * a.second_weight,
          outer.second_weight * b.first_weight, outer.second_weight * b.second_weight};
      std::copy(i, i + kSemanticTaps, idx + o * kSemanticTaps);
      std::copy(w, w + kSemanticTaps, wt + o * kSemanticTaps);
    }
  });
  return {index, weight};
}

void check_size(at::IntArrayRef size, const char* name) {
  TORCH_CHECK_VALUE(size.size() == 2 && size[0] > 0 && size[1] > 0, "semantic_scores: ", name,
                    " must be two positive sizes (height, width), got ", size);
}

}  // namespace

SemanticScoresInputs prepare_semantic_scores_inputs(const at::Tensor& mask_logits,
                                                    const at::Tensor& class_prob,
                                                    at::IntArrayRef padded_size,
                                                    at::IntArrayRef image_size,
                                                    at::IntArrayRef output_size,
                                                    int64_t max_tile_elements) {
  TORCH_CHECK_VALUE(mask_logits.dim() == 3 && class_prob.dim() == 2 &&
                        class_prob.size(0) == mask_logits.size(0),
                    "semantic_scores: expected mask_logits (Q, h, w) and class_prob (Q, K), got ",
                    mask_logits.sizes(), " and ", class_prob.sizes());
  TORCH_CHECK_VALUE(mask_logits.size(1) > 0 && mask_logits.size(2) > 0,
                    "semantic_scores: mask_logits ", mask_logits.sizes(), " has no pixels");
  check_size(padded_size, "padded_size");
  check_size(image_size, "image_size");
  check_size(output_size, "output_size");
  TORCH_CHECK_VALUE(image_size[0] <= padded_size[0] && image_size[1] <= padded_size[1],
                    "semantic_scores: image_size ", image_size, " must fit in padded_size ",
                    padded_size);
  TORCH_CHECK_TYPE(mask_logits.scalar_type() == class_prob.scalar_type() &&
                       (mask_logits.scalar_type() == at::kFloat ||
                        mask_logits.scalar_type() == at::kDouble),
                   "semantic_scores: mask_logits and class_prob must both be float32 or float64, "
                   "got ", mask_logits.scalar_type(), " and ", class_prob.scalar_type());
  TORCH_CHECK_VALUE(class_prob.device() == mask_logits.device(), "semantic_scores: class_prob is on ",
                    class_prob.device(), " but mask_logits is on ", mask_logits.device());

  const auto dtype = mask_logits.scalar_type();
  const auto device = mask_logits.device();
  const int64_t queries = mask_logits.size(0), height = output_size[0], width = output_size[1];
  const auto [row_index, row_weight] =
      axis_taps(mask_logits.size(1), padded_size[0], image_size[0], height, dtype);
  const auto [col_index, col_weight] =
      axis_taps(mask_logits.size(2), padded_size[1], image_size[1], width, dtype);
  const std::array<int64_t, 3> out_size{class_prob.size(1), height, width};
  return {mask_logits.contiguous(),
          class_prob.t().contiguous(),
          row_index.to(device),
          row_weight.to(device),
          col_index.to(device),
          col_weight.to(device),
          // no queries: a sum over nothing
          queries == 0 ? at::zeros(out_size, mask_logits.options())
                       : at::empty(out_size, mask_logits.options()),
          std::clamp<int64_t>(max_tile_elements / std::max<int64_t>(queries * width, 1), 1, height)};
}

TORCH_LIBRARY_FRAGMENT(mask2former, m) {
  m.def(
      "semantic_scores(Tensor mask_logits, Tensor class_prob, int[2] padded_size, "
      "int[2] image_size, int[2] output_size) -> Tensor",
      {at::Tag::pt2_compliant_tag});
}

}  // namespace mask2former
