// CUDA kernels of multi-scale deformable attention.
//
// Work is split by (batch, query, head) "groups". Each group is served by a power-of-two number
// of consecutive threads, each owning VEC adjacent channels (one 4-16 byte vector load per
// corner). Compared with one thread per channel, the location math runs VEC times less often and
// loads are vectorized. In backward, the per-sample gradients of locations and weights are
// reduced inside the group with warp shuffles instead of shared memory, and the value gradient is
// accumulated with one fire-and-forget float atomic per channel and corner (into a float32 buffer
// for half/bfloat16 values, so accumulation is fp32 throughout).
#include "../bilinear.h"
#include "../ms_deform_attn.h"

#include <ATen/Dispatch.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <cstdint>
#include <type_traits>

namespace mask2former {

namespace {

constexpr int kThreadsPerBlock = 256;
constexpr int kWarpSize = 32;

// VEC scalars loaded or stored with one instruction.
template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Pack {
  T v[VEC];
};

// Sizes and thread layout shared by the kernels.
struct Layout {
  int64_t batch, num_positions, num_heads, channels, num_queries, num_levels, num_points;
  int64_t num_groups;  // batch * num_queries * num_heads
  int lanes;           // channels / VEC threads do work in each group
  int group_shift;     // log2 of the threads per group (lanes rounded up to a power of two)
};

template <typename scalar_t, int VEC>
__global__ void __launch_bounds__(kThreadsPerBlock) forward_kernel(
    const scalar_t* __restrict__ value, const int64_t* __restrict__ shapes,
    const int64_t* __restrict__ starts, const at::opmath_type<scalar_t>* __restrict__ locations,
    const at::opmath_type<scalar_t>* __restrict__ weights, scalar_t* __restrict__ out,
    const Layout lay) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t thread = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t group = thread >> lay.group_shift;
  const int lane = int(thread & ((int64_t(1) << lay.group_shift) - 1));
  if (group >= lay.num_groups || lane >= lay.lanes) {
    return;
  }
  const int64_t m = group % lay.num_heads;
  const int64_t nq = group / lay.num_heads;
  const int64_t n = nq / lay.num_queries;
  const int64_t row = lay.num_heads * lay.channels;
  const scalar_t* head_value = value + n * lay.num_positions * row + m * lay.channels + lane * VEC;
  const int64_t samples = lay.num_levels * lay.num_points;
  const acc_t* loc = locations + 2 * group * samples;
  const acc_t* attn = weights + group * samples;

  acc_t acc[VEC] = {};
  for (int64_t l = 0; l < lay.num_levels; ++l) {
    const int height = int(shapes[2 * l]), width = int(shapes[2 * l + 1]);
    const int64_t start = starts[l];
    for (int64_t p = 0; p < lay.num_points; ++p, loc += 2, ++attn) {
      const BilinearSample<acc_t> sample(loc[0], loc[1], height, width);
      if (!sample.touches_map) {
        continue;
      }
      const acc_t a = *attn;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        if (!sample.corner_inside(k, height, width)) {
          continue;
        }
        const int64_t position = start + int64_t(sample.corner_y(k)) * width + sample.corner_x(k);
        const auto v = *reinterpret_cast<const Pack<scalar_t, VEC>*>(head_value + position * row);
        const acc_t w = a * sample.weight(k);
#pragma unroll
        for (int i = 0; i < VEC; ++i) {
          acc[i] += w * acc_t(v.v[i]);
        }
      }
    }
  }
  Pack<scalar_t, VEC> result;
#pragma unroll
  for (int i = 0; i < VEC; ++i) {
    result.v[i] = scalar_t(acc[i]);
  }
  *reinterpret_cast<Pack<scalar_t, VEC>*>(out + nq * row + m * lay.channels + lane * VEC) = result;
}

// Sum over aligned segments of `width` lanes (a power of two <= 32); all lanes must call it.
template <typename T>
__device__ __forceinline__ T segment_sum(T x, int width) {
  for (int offset = width >> 1; offset > 0; offset >>= 1) {
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  }
  return x;
}

template <typename scalar_t, int VEC>
__global__ void __launch_bounds__(kThreadsPerBlock) backward_kernel(
    const scalar_t* __restrict__ value, const int64_t* __restrict__ shapes,
    const int64_t* __restrict__ starts, const at::opmath_type<scalar_t>* __restrict__ locations,
    const at::opmath_type<scalar_t>* __restrict__ weights, const scalar_t* __restrict__ grad_out,
    at::opmath_type<scalar_t>* __restrict__ grad_value,
    at::opmath_type<scalar_t>* __restrict__ grad_locations,
    at::opmath_type<scalar_t>* __restrict__ grad_weights, const Layout lay) {
  using acc_t = at::opmath_type<scalar_t>;
  const int64_t thread = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const int group_size = 1 << lay.group_shift;
  const int64_t group_unclamped = thread >> lay.group_shift;
  const int lane = int(thread & (group_size - 1));
  // Threads past the end or without channels still run the loop (the shuffles need every lane
  // of the warp); they read a valid group's locations and contribute zeros.
  const bool has_channels = group_unclamped < lay.num_groups && lane < lay.lanes;
  const int64_t group = group_unclamped < lay.num_groups ? group_unclamped : lay.num_groups - 1;
  const int shuffle_width = group_size < kWarpSize ? group_size : kWarpSize;
  // With groups wider than a warp, each warp adds its partial sums atomically.
  const bool writes_sums = (lane & (shuffle_width - 1)) == 0 && group_unclamped < lay.num_groups;
  const bool atomic_sums = group_size > kWarpSize;

  const int64_t m = group % lay.num_heads;
  const int64_t nq = group / lay.num_heads;
  const int64_t n = nq / lay.num_queries;
  const int64_t row = lay.num_heads * lay.channels;
  const int64_t channel0 = m * lay.channels + (has_channels ? lane * VEC : 0);
  const scalar_t* head_value = value + n * lay.num_positions * row + channel0;
  acc_t* head_grad_value = grad_value + n * lay.num_positions * row + channel0;
  const int64_t samples = lay.num_levels * lay.num_points;
  const acc_t* loc = locations + 2 * group * samples;
  const acc_t* attn = weights + group * samples;
  acc_t* g_loc = grad_locations + 2 * group * samples;
  acc_t* g_attn = grad_weights + group * samples;

  acc_t grad[VEC] = {};
  if (has_channels) {
    const auto g = *reinterpret_cast<const Pack<scalar_t, VEC>*>(grad_out + nq * row + channel0);
#pragma unroll
    for (int i = 0; i < VEC; ++i) {
      grad[i] = acc_t(g.v[i]);
    }
  }

  for (int64_t l = 0; l < lay.num_levels; ++l) {
    const int height = int(shapes[2 * l]), width = int(shapes[2 * l + 1]);
    const int64_t start = starts[l];
    for (int64_t p = 0; p < lay.num_points; ++p, loc += 2, ++attn, g_loc += 2, ++g_attn) {
      const BilinearSample<acc_t> sample(loc[0], loc[1], height, width);
      const acc_t a = *attn;
      acc_t sampled = 0, dx = 0, dy = 0;
      if (has_channels && sample.touches_map) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          if (!sample.corner_inside(k, height, width)) {
            continue;
          }
          const int64_t position =
              (start + int64_t(sample.corner_y(k)) * width + sample.corner_x(k)) * row;
          const auto v = *reinterpret_cast<const Pack<scalar_t, VEC>*>(head_value + position);
          const acc_t w = sample.weight(k);
          acc_t dot = 0;
#pragma unroll
          for (int i = 0; i < VEC; ++i) {
            dot += grad[i] * acc_t(v.v[i]);
            atomicAdd(head_grad_value + position + i, a * w * grad[i]);
          }
          sampled += w * dot;
          dx += sample.weight_dx(k) * dot;
          dy += sample.weight_dy(k) * dot;
        }
      }
      sampled = segment_sum(sampled, shuffle_width);
      dx = segment_sum(dx, shuffle_width);
      dy = segment_sum(dy, shuffle_width);
      if (writes_sums) {
        // pixel x = x_norm * W - 0.5
        const acc_t gx = a * dx * acc_t(width), gy = a * dy * acc_t(height);
        if (atomic_sums) {
          atomicAdd(g_attn, sampled);
          atomicAdd(g_loc, gx);
          atomicAdd(g_loc + 1, gy);
        } else {
          *g_attn = sampled;
          g_loc[0] = gx;
          g_loc[1] = gy;
        }
      }
    }
  }
}

bool aligned(const void* ptr, int64_t bytes) {
  return reinterpret_cast<std::uintptr_t>(ptr) % bytes == 0;
}

// Widest vector (at most 16 bytes) that divides the channels and fits the pointers' alignment.
int choose_vec(int64_t channels, int64_t element_size, std::initializer_list<const void*> ptrs) {
  for (int vec : {8, 4, 2}) {
    if (vec * element_size > 16 || channels % vec != 0) {
      continue;
    }
    bool all_aligned = true;
    for (const void* ptr : ptrs) {
      all_aligned = all_aligned && aligned(ptr, vec * element_size);
    }
    if (all_aligned) {
      return vec;
    }
  }
  return 1;
}

Layout make_layout(const MSDeformAttnSizes& s, int vec) {
  Layout lay{s.batch, s.num_positions, s.num_heads, s.channels, s.num_queries, s.num_levels,
             s.num_points, s.batch * s.num_queries * s.num_heads, int(s.channels / vec), 0};
  while ((1 << lay.group_shift) < lay.lanes) {
    ++lay.group_shift;
  }
  return lay;
}

int64_t num_blocks(const Layout& lay) {
  const int64_t threads = lay.num_groups << lay.group_shift;
  return (threads + kThreadsPerBlock - 1) / kThreadsPerBlock;
}

// Calls body.template operator()<VEC>() with vec as a compile-time constant.
template <typename Body>
void with_vec(int vec, const Body& body) {
  switch (vec) {
    case 8: body(std::integral_constant<int, 8>{}); break;
    case 4: body(std::integral_constant<int, 4>{}); break;
    case 2: body(std::integral_constant<int, 2>{}); break;
    default: body(std::integral_constant<int, 1>{}); break;
  }
}

at::Tensor ms_deform_attn_cuda(const at::Tensor& value, const at::Tensor& spatial_shapes,
                               const at::Tensor& level_start_index,
                               const at::Tensor& sampling_locations,
                               const at::Tensor& attention_weights) {
  const auto in = prepare_ms_deform_attn_inputs(value, spatial_shapes, level_start_index,
                                                sampling_locations, attention_weights);
  const auto& s = in.sizes;
  const c10::cuda::CUDAGuard guard(value.device());
  auto out = at::empty({s.batch, s.num_queries, s.num_heads * s.channels}, value.options());
  if (out.numel() == 0) {
    return out;
  }
  const auto v = value.contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                  "ms_deform_attn_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const int vec = choose_vec(s.channels, sizeof(scalar_t), {v.data_ptr(), out.data_ptr()});
    const Layout lay = make_layout(s, vec);
    with_vec(vec, [&](auto vec_constant) {
      forward_kernel<scalar_t, decltype(vec_constant)::value>
          <<<num_blocks(lay), kThreadsPerBlock, 0, stream>>>(
              v.data_ptr<scalar_t>(), in.spatial_shapes.data_ptr<int64_t>(),
              in.level_start_index.data_ptr<int64_t>(), in.sampling_locations.data_ptr<acc_t>(),
              in.attention_weights.data_ptr<acc_t>(), out.data_ptr<scalar_t>(), lay);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> ms_deform_attn_backward_cuda(
    const at::Tensor& grad_output, const at::Tensor& value, const at::Tensor& spatial_shapes,
    const at::Tensor& level_start_index, const at::Tensor& sampling_locations,
    const at::Tensor& attention_weights) {
  const auto in = prepare_ms_deform_attn_inputs(value, spatial_shapes, level_start_index,
                                                sampling_locations, attention_weights,
                                                &grad_output);
  const auto& s = in.sizes;
  const c10::cuda::CUDAGuard guard(value.device());
  const auto acc_options = value.options().dtype(at::toOpMathType(value.scalar_type()));
  // Accumulated atomically, hence zeroed and in the accumulation dtype.
  auto grad_value = at::zeros(value.sizes(), acc_options);
  auto grad_loc = at::zeros(sampling_locations.sizes(), acc_options);
  auto grad_attn = at::zeros(attention_weights.sizes(), acc_options);
  if (grad_output.numel() > 0) {
    const auto v = value.contiguous();
    const auto g = grad_output.contiguous();
    const auto stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, value.scalar_type(),
                                    "ms_deform_attn_backward_cuda", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const int vec = choose_vec(s.channels, sizeof(scalar_t), {v.data_ptr(), g.data_ptr()});
      const Layout lay = make_layout(s, vec);
      with_vec(vec, [&](auto vec_constant) {
        backward_kernel<scalar_t, decltype(vec_constant)::value>
            <<<num_blocks(lay), kThreadsPerBlock, 0, stream>>>(
                v.data_ptr<scalar_t>(), in.spatial_shapes.data_ptr<int64_t>(),
                in.level_start_index.data_ptr<int64_t>(), in.sampling_locations.data_ptr<acc_t>(),
                in.attention_weights.data_ptr<acc_t>(), g.data_ptr<scalar_t>(),
                grad_value.data_ptr<acc_t>(), grad_loc.data_ptr<acc_t>(),
                grad_attn.data_ptr<acc_t>(), lay);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }
  return {grad_value.to(value.scalar_type()), grad_loc.to(sampling_locations.scalar_type()),
          grad_attn.to(attention_weights.scalar_type())};
}

}  // namespace

TORCH_LIBRARY_IMPL(mask2former, CUDA, m) {
  m.impl("ms_deform_attn", &ms_deform_attn_cuda);
  m.impl("ms_deform_attn_backward", &ms_deform_attn_backward_cuda);
}

}  // namespace mask2former
