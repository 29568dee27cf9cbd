// Geometry of one bilinear sample, shared by the CPU and CUDA kernels.
//
// A normalized location (x, y) addresses the continuous plane of a level of size H x W; pixel
// (i, j) has its centre at ((j + 0.5) / W, (i + 0.5) / H). Outside the map the level is zero
// (grid_sample with align_corners=False and zero padding).
#pragma once

#include <c10/macros/Macros.h>

#include <cmath>

namespace mask2former {

template <typename acc_t>
struct BilinearSample {
  int y0 = 0, x0 = 0;       // top-left corner of the 2x2 footprint; may be -1
  acc_t ly = 0, lx = 0;     // position inside the footprint, in [0, 1)
  bool touches_map = false; // false when no corner lies inside the map

  C10_HOST_DEVICE BilinearSample(acc_t x_norm, acc_t y_norm, int height, int width) {
    const acc_t y = y_norm * height - acc_t(0.5);
    const acc_t x = x_norm * width - acc_t(0.5);
    // Written so that NaN locations count as outside.
    touches_map = y > acc_t(-1) && x > acc_t(-1) && y < height && x < width;
    if (touches_map) {
      const acc_t yf = ::floor(y), xf = ::floor(x);
      y0 = static_cast<int>(yf);
      x0 = static_cast<int>(xf);
      ly = y - yf;
      lx = x - xf;
    }
  }

  // Corners are numbered 0: (y0, x0), 1: (y0, x0 + 1), 2: (y0 + 1, x0), 3: (y0 + 1, x0 + 1).
  C10_HOST_DEVICE int corner_y(int k) const { return y0 + (k >> 1); }
  C10_HOST_DEVICE int corner_x(int k) const { return x0 + (k & 1); }
  C10_HOST_DEVICE bool corner_inside(int k, int height, int width) const {
    const int y = corner_y(k), x = corner_x(k);
    return y >= 0 && x >= 0 && y < height && x < width;
  }
  C10_HOST_DEVICE acc_t weight(int k) const {
    return ((k >> 1) ? ly : acc_t(1) - ly) * ((k & 1) ? lx : acc_t(1) - lx);
  }
  // Derivatives of weight(k) with respect to the pixel coordinates x and y.
  C10_HOST_DEVICE acc_t weight_dx(int k) const {
    return ((k >> 1) ? ly : acc_t(1) - ly) * ((k & 1) ? acc_t(1) : acc_t(-1));
  }
  C10_HOST_DEVICE acc_t weight_dy(int k) const {
    return ((k & 1) ? lx : acc_t(1) - lx) * ((k >> 1) ? acc_t(1) : acc_t(-1));
  }
};

}  // namespace mask2former
