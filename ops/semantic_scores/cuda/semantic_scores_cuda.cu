// CUDA kernel of semantic_scores: one thread per value of a tile of output rows computes its
// logit from the (at most 4 x 4) taps and its sigmoid; cuBLAS then multiplies the tile by the
// class probabilities. Tiles are large (up to 256 MB of float32), so most images take one.
#include "../semantic_scores.h"

#include <ATen/Dispatch.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <algorithm>

namespace mask2former {

namespace {

constexpr int64_t kTileElements = int64_t(1) << 26;
constexpr int kThreadsPerBlock = 256;

template <typename scalar_t>
__global__ void fill_tile_kernel(const scalar_t* __restrict__ logits, int64_t h, int64_t w,
                                 const int64_t* __restrict__ row_index,
                                 const scalar_t* __restrict__ row_weight,
                                 const int64_t* __restrict__ col_index,
                                 const scalar_t* __restrict__ col_weight, int64_t width,
                                 int64_t row_begin, int64_t rows, int64_t total,
                                 scalar_t* __restrict__ tile) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t x = i % width;
    const int64_t y = row_begin + (i / width) % rows;
    const scalar_t* query = logits + (i / (width * rows)) * h * w;
    scalar_t value = 0;
#pragma unroll
    for (int a = 0; a < kSemanticTaps; ++a) {
      const scalar_t* row = query + row_index[y * kSemanticTaps + a] * w;
      scalar_t along_row = 0;
#pragma unroll
      for (int b = 0; b < kSemanticTaps; ++b) {
        along_row += col_weight[x * kSemanticTaps + b] * row[col_index[x * kSemanticTaps + b]];
      }
      value += row_weight[y * kSemanticTaps + a] * along_row;
    }
    tile[i] = scalar_t(1) / (scalar_t(1) + exp(-value));
  }
}

at::Tensor semantic_scores_cuda(const at::Tensor& mask_logits, const at::Tensor& class_prob,
                                at::IntArrayRef padded_size, at::IntArrayRef image_size,
                                at::IntArrayRef output_size) {
  const auto in = prepare_semantic_scores_inputs(mask_logits, class_prob, padded_size,
                                                 image_size, output_size, kTileElements);
  const c10::cuda::CUDAGuard guard(mask_logits.device());
  // a backend kernel: the ATen ops it calls run below autograd
  const at::AutoDispatchBelowADInplaceOrView below_autograd;
  const int64_t queries = in.logits.size(0), h = in.logits.size(1), w = in.logits.size(2);
  const int64_t height = in.out.size(1), width = in.out.size(2), tile_rows = in.tile_rows;
  if (queries == 0) {
    return in.out;
  }
  auto out_pixels = in.out.view({in.out.size(0), height * width});
  auto buffer = at::empty({queries, tile_rows * width}, in.logits.options());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  for (int64_t row_begin = 0; row_begin < height; row_begin += tile_rows) {
    const int64_t rows = std::min(tile_rows, height - row_begin);
    // contiguous: the kernel writes value i of the tile at tile[i]
    auto tile = buffer.view(-1).narrow(0, 0, queries * rows * width).view({queries, rows * width});
    const int64_t total = tile.numel();
    const int64_t blocks =
        std::min<int64_t>((total + kThreadsPerBlock - 1) / kThreadsPerBlock, int64_t(1) << 20);
    AT_DISPATCH_FLOATING_TYPES(in.logits.scalar_type(), "semantic_scores_cuda", [&] {
      fill_tile_kernel<scalar_t><<<blocks, kThreadsPerBlock, 0, stream>>>(
          in.logits.data_ptr<scalar_t>(), h, w, in.row_index.data_ptr<int64_t>(),
          in.row_weight.data_ptr<scalar_t>(), in.col_index.data_ptr<int64_t>(),
          in.col_weight.data_ptr<scalar_t>(), width, row_begin, rows, total,
          tile.data_ptr<scalar_t>());
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
    auto dst = out_pixels.narrow(1, row_begin * width, rows * width);
    at::mm_out(dst, in.class_prob_t, tile);
  }
  return in.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mask2former, CUDA, m) { m.impl("semantic_scores", &semantic_scores_cuda); }

}  // namespace mask2former
