// CPU kernels of multi-scale deformable attention.
//
// Forward runs in parallel over (batch, query) pairs. Backward runs in parallel over
// (batch, head) pairs, so that each task owns its slice value[n, :, m, :] of the value gradient
// and needs no atomics. The channel loops run over contiguous rows of D values and vectorize.
#include "../../common/cpu_clones.h"
#include "../bilinear.h"
#include "../ms_deform_attn.h"

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

namespace mask2former {

namespace {

// Contiguous inputs, their sizes and the layout of the levels.
template <typename scalar_t>
struct Problem {
  using acc_t = at::opmath_type<scalar_t>;
  MSDeformAttnSizes s;
  const scalar_t* value;  // (N, S, M, D) in forward, (N, M, S, D) in backward
  const int64_t* shapes;  // (L, 2)
  const int64_t* starts;  // (L,)
  const acc_t* locations;
  const acc_t* weights;

  int64_t row() const { return s.num_heads * s.channels; }  // stride between (N, S, M, D) positions
  int64_t samples() const { return s.num_levels * s.num_points; }
};

template <typename scalar_t>
Problem<scalar_t> make_problem(const MSDeformAttnInputs& in, const at::Tensor& value) {
  using acc_t = at::opmath_type<scalar_t>;
  return {in.sizes,
          value.data_ptr<scalar_t>(),
          in.spatial_shapes.data_ptr<int64_t>(),
          in.level_start_index.data_ptr<int64_t>(),
          in.sampling_locations.data_ptr<acc_t>(),
          in.attention_weights.data_ptr<acc_t>()};
}

// The four corners of a sample: pointers into one head's value rows (a row of zeros for corners
// outside the map) and their bilinear weights (zero outside).
template <typename scalar_t, typename acc_t>
struct Corners {
  const scalar_t* row[4];
  acc_t weight[4];
  int64_t position[4];  // index along S, -1 outside the map
};

template <typename scalar_t, typename acc_t>
inline Corners<scalar_t, acc_t> gather_corners(const BilinearSample<acc_t>& sample, int height,
                                               int width, int64_t level_start,
                                               const scalar_t* head_value, int64_t row,
                                               const scalar_t* zeros) {
  Corners<scalar_t, acc_t> c;
  for (int k = 0; k < 4; ++k) {
    if (sample.corner_inside(k, height, width)) {
      c.position[k] = level_start + int64_t(sample.corner_y(k)) * width + sample.corner_x(k);
      c.row[k] = head_value + c.position[k] * row;
      c.weight[k] = sample.weight(k);
    } else {
      c.position[k] = -1;
      c.row[k] = zeros;
      c.weight[k] = acc_t(0);
    }
  }
  return c;
}

// out[d] += sum_k w[k] * rows[k][d]
template <typename scalar_t, typename acc_t>
inline void accumulate_corners(acc_t* __restrict__ out, const scalar_t* __restrict__ r0,
                               const scalar_t* __restrict__ r1, const scalar_t* __restrict__ r2,
                               const scalar_t* __restrict__ r3, const acc_t* w, int64_t channels) {
  const acc_t w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
  for (int64_t d = 0; d < channels; ++d) {
    out[d] += w0 * acc_t(r0[d]) + w1 * acc_t(r1[d]) + w2 * acc_t(r2[d]) + w3 * acc_t(r3[d]);
  }
}

// Output rows of the flattened (batch, query) pairs [begin, end).
template <typename scalar_t>
MASK2FORMER_CPU_CLONES void forward_queries(const Problem<scalar_t>& p, scalar_t* out,
                                            int64_t begin, int64_t end) {
  using acc_t = at::opmath_type<scalar_t>;
  const auto& s = p.s;
  const int64_t D = s.channels, M = s.num_heads, row = p.row();
  std::vector<acc_t> acc(D);
  const std::vector<scalar_t> zeros(D, scalar_t(0));
  for (int64_t nq = begin; nq < end; ++nq) {
    const scalar_t* batch_value = p.value + (nq / s.num_queries) * s.num_positions * row;
    for (int64_t m = 0; m < M; ++m) {
      std::fill(acc.begin(), acc.end(), acc_t(0));
      const int64_t sample0 = (nq * M + m) * p.samples();
      const acc_t* loc = p.locations + 2 * sample0;
      const acc_t* attn = p.weights + sample0;
      for (int64_t l = 0; l < s.num_levels; ++l) {
        const int height = int(p.shapes[2 * l]), width = int(p.shapes[2 * l + 1]);
        for (int64_t pt = 0; pt < s.num_points; ++pt, loc += 2, ++attn) {
          const BilinearSample<acc_t> sample(loc[0], loc[1], height, width);
          if (!sample.touches_map) {
            continue;
          }
          auto c = gather_corners(sample, height, width, p.starts[l], batch_value + m * D, row,
                                  zeros.data());
          for (auto& w : c.weight) {
            w *= *attn;
          }
          accumulate_corners(acc.data(), c.row[0], c.row[1], c.row[2], c.row[3], c.weight, D);
        }
      }
      scalar_t* o = out + nq * row + m * D;
      for (int64_t d = 0; d < D; ++d) {
        o[d] = scalar_t(acc[d]);
      }
    }
  }
}

template <typename scalar_t>
void forward_kernel(const Problem<scalar_t>& p, scalar_t* out) {
  const auto& s = p.s;
  const int64_t grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, s.num_heads * p.samples()));
  at::parallel_for(0, s.batch * s.num_queries, grain, [&](int64_t begin, int64_t end) {
    forward_queries(p, out, begin, end);
  });
}

// <a, b> over a row of channels; "omp simd" allows the reassociation that vectorizing needs.
template <typename scalar_t, typename acc_t>
inline acc_t dot(const acc_t* __restrict__ a, const scalar_t* __restrict__ b, int64_t channels) {
  acc_t sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t d = 0; d < channels; ++d) {
    sum += a[d] * acc_t(b[d]);
  }
  return sum;
}

// y += alpha * x over a row of channels.
template <typename acc_t>
inline void axpy(acc_t* __restrict__ y, acc_t alpha, const acc_t* __restrict__ x, int64_t channels) {
#pragma omp simd
  for (int64_t d = 0; d < channels; ++d) {
    y[d] += alpha * x[d];
  }
}

// value and grad_value are head-major, (N, M, S, D), so that each (batch, head) task works on
// contiguous memory: with (N, S, M, D) rows, 7/8 of every cache line fetched would belong to
// other heads. Gradients of the flattened (batch, head) pairs [begin, end).
template <typename scalar_t>
MASK2FORMER_CPU_CLONES void backward_heads(const Problem<scalar_t>& p, const scalar_t* grad_out,
                                           at::opmath_type<scalar_t>* grad_value,
                                           at::opmath_type<scalar_t>* grad_loc,
                                           at::opmath_type<scalar_t>* grad_attn, int64_t begin,
                                           int64_t end) {
  using acc_t = at::opmath_type<scalar_t>;
  const auto& s = p.s;
  const int64_t D = s.channels, M = s.num_heads, row = p.row();
  std::vector<acc_t> grad(D);
  const std::vector<scalar_t> zeros(D, scalar_t(0));
  for (int64_t nm = begin; nm < end; ++nm) {
    const int64_t n = nm / M, m = nm % M;
    const scalar_t* head_value = p.value + nm * s.num_positions * D;
    acc_t* head_grad_value = grad_value + nm * s.num_positions * D;
    for (int64_t q = 0; q < s.num_queries; ++q) {
      const int64_t nq = n * s.num_queries + q;
      const scalar_t* g = grad_out + nq * row + m * D;
      for (int64_t d = 0; d < D; ++d) {
        grad[d] = acc_t(g[d]);
      }
      const int64_t sample0 = (nq * M + m) * p.samples();
      const acc_t* loc = p.locations + 2 * sample0;
      const acc_t* attn = p.weights + sample0;
      acc_t* g_loc = grad_loc + 2 * sample0;
      acc_t* g_attn = grad_attn + sample0;
      for (int64_t l = 0; l < s.num_levels; ++l) {
        const int height = int(p.shapes[2 * l]), width = int(p.shapes[2 * l + 1]);
        for (int64_t pt = 0; pt < s.num_points; ++pt, loc += 2, ++attn, g_loc += 2, ++g_attn) {
          const BilinearSample<acc_t> sample(loc[0], loc[1], height, width);
          if (!sample.touches_map) {
            g_loc[0] = g_loc[1] = g_attn[0] = acc_t(0);
            continue;
          }
          const auto c =
              gather_corners(sample, height, width, p.starts[l], head_value, D, zeros.data());
          acc_t sampled = 0, dx = 0, dy = 0;
          for (int k = 0; k < 4; ++k) {
            if (c.position[k] < 0) {
              continue;
            }
            const acc_t grad_dot_value = dot(grad.data(), c.row[k], D);
            sampled += c.weight[k] * grad_dot_value;
            dx += sample.weight_dx(k) * grad_dot_value;
            dy += sample.weight_dy(k) * grad_dot_value;
            axpy(head_grad_value + c.position[k] * D, *attn * c.weight[k], grad.data(), D);
          }
          g_attn[0] = sampled;
          // pixel x = x_norm * W - 0.5
          g_loc[0] = *attn * dx * acc_t(width);
          g_loc[1] = *attn * dy * acc_t(height);
        }
      }
    }
  }
}

template <typename scalar_t>
void backward_kernel(const Problem<scalar_t>& p, const scalar_t* grad_out,
                     at::opmath_type<scalar_t>* grad_value, at::opmath_type<scalar_t>* grad_loc,
                     at::opmath_type<scalar_t>* grad_attn) {
  at::parallel_for(0, p.s.batch * p.s.num_heads, 1, [&](int64_t begin, int64_t end) {
    backward_heads(p, grad_out, grad_value, grad_loc, grad_attn, begin, end);
  });
}

at::Tensor ms_deform_attn_cpu(const at::Tensor& value, const at::Tensor& spatial_shapes,
                              const at::Tensor& level_start_index,
                              const at::Tensor& sampling_locations,
                              const at::Tensor& attention_weights) {
  const auto in = prepare_ms_deform_attn_inputs(value, spatial_shapes, level_start_index,
                                                sampling_locations, attention_weights);
  const auto& s = in.sizes;
  auto out = at::empty({s.batch, s.num_queries, s.num_heads * s.channels}, value.options());
  if (out.numel() == 0) {
    return out;
  }
  const auto v = value.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_cpu", [&] {
    forward_kernel(make_problem<scalar_t>(in, v), out.data_ptr<scalar_t>());
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cpu(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  const auto in = prepare_ms_deform_attn_inputs(value, spatial_shapes, level_start_index,
                                                sampling_locations, attention_weights,
                                                &grad_output);
  const auto& s = in.sizes;
  const auto acc_options = value.options().dtype(at::toOpMathType(value.scalar_type()));
  // (N, M, S, D), see backward_kernel
  auto grad_value = at::zeros({s.batch, s.num_heads, s.num_positions, s.channels}, acc_options);
  auto grad_loc = at::zeros(sampling_locations.sizes(), acc_options);
  auto grad_attn = at::zeros(attention_weights.sizes(), acc_options);
  if (grad_output.numel() > 0) {
    const auto v = value.permute({0, 2, 1, 3}).contiguous();
    const auto g = grad_output.contiguous();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                    "ms_deform_attn_backward_cpu", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      backward_kernel(make_problem<scalar_t>(in, v), g.data_ptr<scalar_t>(),
                      grad_value.data_ptr<acc_t>(), grad_loc.data_ptr<acc_t>(),
                      grad_attn.data_ptr<acc_t>());
    });
  }
  return {grad_value.permute({0, 2, 1, 3}).to(value.scalar_type()).contiguous(),
          grad_loc.to(sampling_locations.scalar_type()),
          grad_attn.to(attention_weights.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(mask2former, CPU, m) {
  m.impl("ms_deform_attn", &ms_deform_attn_cpu);
  m.impl("ms_deform_attn_backward", &ms_deform_attn_backward_cpu);
}

}  // namespace mask2former
