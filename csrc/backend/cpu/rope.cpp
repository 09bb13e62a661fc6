// RoPE: rotate (x0, x1) pairs of every head by position-dependent angles.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu {
namespace {

struct RopeCos;  // scratch slots
struct RopeSin;

ZW_MULTIVERSION void rotate_halves(const float* x, float* y, int half, const float* c,
                                   const float* s) {
  for (int i = 0; i < half; ++i) {
    float x0 = x[i], x1 = x[i + half];
    zw_pair r = zw_rope_rotate(x0, x1, c[i], s[i]);
    y[i] = r.first;
    y[i + half] = r.second;
  }
}

ZW_MULTIVERSION void rotate_adjacent(const float* x, float* y, int half, const float* c,
                                     const float* s) {
  for (int i = 0; i < half; ++i) {
    float x0 = x[2 * i], x1 = x[2 * i + 1];
    zw_pair r = zw_rope_rotate(x0, x1, c[i], s[i]);
    y[2 * i] = r.first;
    y[2 * i + 1] = r.second;
  }
}

}  // namespace

void rope(const float* x, float* out, int rows, int heads, int head_dim, int pos0, float theta,
          bool adjacent, const float* factors) {
  int half = head_dim / 2;
  // Angles in double: in f32, pos * freq loses ~pos * 6e-8 rad, which at a
  // few thousand positions is already past 1e-4 error in sin/cos.
  std::vector<double> inv_freq(half);
  for (int i = 0; i < half; ++i) {
    inv_freq[i] = zw_rope_angle_f64(1, i, head_dim, theta);
    if (factors) inv_freq[i] /= static_cast<double>(factors[i]);
  }
  size_t row_elems = static_cast<size_t>(heads) * head_dim;
  ThreadPool& pool = ThreadPool::instance();
  size_t min_rows = std::max<size_t>(1, 16384 / row_elems);
  pool.parallel_for(static_cast<size_t>(rows), pool.grain_for(rows, min_rows, 2),
                    [&](size_t begin, size_t end) {
                      float* c = scratch_floats<RopeCos>(half);
                      float* s = scratch_floats<RopeSin>(half);
                      for (size_t r = begin; r < end; ++r) {
                        double pos = static_cast<double>(pos0) + static_cast<double>(r);
                        for (int i = 0; i < half; ++i) {
                          double angle = pos * inv_freq[i];
                          c[i] = static_cast<float>(std::cos(angle));
                          s[i] = static_cast<float>(std::sin(angle));
                        }
                        for (int h = 0; h < heads; ++h) {
                          size_t off = r * row_elems + static_cast<size_t>(h) * head_dim;
                          if (adjacent)
                            rotate_adjacent(x + off, out + off, half, c, s);
                          else
                            rotate_halves(x + off, out + off, half, c, s);
                        }
                      }
                    });
}

}  // namespace zw::cpu
