// CPU kernel of semantic_scores. The output rows are cut into tiles of a few MB that stay in
// cache, and each thread takes whole tiles (one parallel region, no barriers per tile): it resizes
// every query's rows of its tile in two separable passes (rows, then columns), squashes them with
// ATen's vectorized sigmoid and multiplies them by the class probabilities with one BLAS product
// (both single-threaded inside the parallel region).
#include "../../common/cpu_clones.h"
#include "../semantic_scores.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace mask2former {

namespace {

// About 8 MB of float32 values per tile.
constexpr int64_t kTileElements = int64_t(1) << 21;

template <typename scalar_t>
struct Taps {
  const int64_t* index;
  const scalar_t* weight;
};

// Logits of output rows [row_begin, row_end) of every query into tile (query q's values start at
// tile + q * tile_stride); `row` is scratch of w values.
template <typename scalar_t>
MASK2FORMER_CPU_CLONES void resize_rows(const scalar_t* logits, int64_t queries, int64_t h,
                                        int64_t w, Taps<scalar_t> rows, Taps<scalar_t> cols,
                                        int64_t width, int64_t row_begin, int64_t row_end,
                                        scalar_t* row, scalar_t* tile, int64_t tile_stride) {
  for (int64_t q = 0; q < queries; ++q) {
    const scalar_t* query = logits + q * h * w;
    scalar_t* dst = tile + q * tile_stride;
    for (int64_t y = row_begin; y < row_end; ++y, dst += width) {
      const int64_t* iy = rows.index + y * kSemanticTaps;
      const scalar_t* wy = rows.weight + y * kSemanticTaps;
      const scalar_t* r0 = query + iy[0] * w;
      const scalar_t* r1 = query + iy[1] * w;
      const scalar_t* r2 = query + iy[2] * w;
      const scalar_t* r3 = query + iy[3] * w;
      for (int64_t x = 0; x < w; ++x) {
        row[x] = wy[0] * r0[x] + wy[1] * r1[x] + wy[2] * r2[x] + wy[3] * r3[x];
      }
      for (int64_t x = 0; x < width; ++x) {
        const int64_t* ix = cols.index + x * kSemanticTaps;
        const scalar_t* wx = cols.weight + x * kSemanticTaps;
        dst[x] = wx[0] * row[ix[0]] + wx[1] * row[ix[1]] + wx[2] * row[ix[2]] + wx[3] * row[ix[3]];
      }
    }
  }
}

at::Tensor semantic_scores_cpu(const at::Tensor& mask_logits, const at::Tensor& class_prob,
                               at::IntArrayRef padded_size, at::IntArrayRef image_size,
                               at::IntArrayRef output_size) {
  // a backend kernel: the ATen ops it calls run below autograd, in every thread
  const at::AutoDispatchBelowADInplaceOrView below_autograd;
  const at::ThreadLocalState caller_state;
  const auto in = prepare_semantic_scores_inputs(mask_logits, class_prob, padded_size,
                                                 image_size, output_size, kTileElements);
  const int64_t queries = in.logits.size(0), h = in.logits.size(1), w = in.logits.size(2);
  const int64_t height = in.out.size(1), width = in.out.size(2), tile_rows = in.tile_rows;
  if (queries == 0) {
    return in.out;
  }
  auto out_pixels = in.out.view({in.out.size(0), height * width});
  const int64_t tiles = (height + tile_rows - 1) / tile_rows;
  AT_DISPATCH_FLOATING_TYPES(in.logits.scalar_type(), "semantic_scores_cpu", [&] {
    const Taps<scalar_t> rows{in.row_index.data_ptr<int64_t>(),
                              in.row_weight.data_ptr<scalar_t>()};
    const Taps<scalar_t> cols{in.col_index.data_ptr<int64_t>(),
                              in.col_weight.data_ptr<scalar_t>()};
    at::parallel_for(0, tiles, 1, [&](int64_t tile_begin, int64_t tile_end) {
      const at::ThreadLocalStateGuard same_state(caller_state);
      std::vector<scalar_t> row(w);
      auto buffer = at::empty({queries, tile_rows * width}, in.logits.options());
      for (int64_t t = tile_begin; t < tile_end; ++t) {
        const int64_t row_begin = t * tile_rows;
        const int64_t row_end = std::min(row_begin + tile_rows, height);
        auto tile = buffer.narrow(1, 0, (row_end - row_begin) * width);
        resize_rows(in.logits.data_ptr<scalar_t>(), queries, h, w, rows, cols, width, row_begin,
                    row_end, row.data(), tile.data_ptr<scalar_t>(), tile.stride(0));
        tile.sigmoid_();
        auto dst = out_pixels.narrow(1, row_begin * width, (row_end - row_begin) * width);
        at::mm_out(dst, in.class_prob_t, tile);
      }
    });
  });
  return in.out;
}

}  // namespace

TORCH_LIBRARY_IMPL(mask2former, CPU, m) { m.impl("semantic_scores", &semantic_scores_cpu); }

}  // namespace mask2former
