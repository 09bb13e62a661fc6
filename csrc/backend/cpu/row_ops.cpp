// Per-row ops: layernorm, rmsnorm, softmax.
//
// Row statistics accumulate in double across eight lanes: a cols=4096 row
// summed in f32 can drift ~1e-5 relative, in double it is exact to f32
// output precision, and on 8 fixed lanes the vectorizer still handles it.
// out may equal x exactly: each row is fully read before its first write
// (norms) or written then read back only at the same index (softmax).
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/softmax_rows.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu {
namespace {

constexpr size_t kMinElemsPerChunk = 32768;

double sum8(const double* l) { return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7])); }

ZW_MULTIVERSION double row_sum(const float* x, int n) {
  double l[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) l[j] += static_cast<double>(x[i + j]);
  for (; i < n; ++i) l[0] += static_cast<double>(x[i]);
  return sum8(l);
}

// sum((x - c)^2); c = 0 gives the plain sum of squares.
ZW_MULTIVERSION double row_sq_dev(const float* x, int n, double c) {
  double l[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      double d = static_cast<double>(x[i + j]) - c;
      l[j] += d * d;
    }
  for (; i < n; ++i) {
    double d = static_cast<double>(x[i]) - c;
    l[0] += d * d;
  }
  return sum8(l);
}

ZW_MULTIVERSION void affine_row(const float* x, const float* gamma, const float* beta, float* out,
                                int n, float mean, float rstd) {
  for (int i = 0; i < n; ++i) out[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
}

ZW_MULTIVERSION void scale_gamma_row(const float* x, const float* gamma, float* out, int n,
                                     float rstd) {
  for (int i = 0; i < n; ++i) out[i] = x[i] * rstd * gamma[i];
}

ZW_MULTIVERSION void scale_row(float* out, int n, float s) {
  for (int i = 0; i < n; ++i) out[i] *= s;
}

template <class RowFn>
void for_rows(int rows, int cols, RowFn&& fn) {
  ThreadPool& pool = ThreadPool::instance();
  size_t min_rows = std::max<size_t>(1, kMinElemsPerChunk / static_cast<size_t>(cols));
  pool.parallel_for(static_cast<size_t>(rows), pool.grain_for(rows, min_rows, 2),
                    [&](size_t begin, size_t end) {
                      for (size_t r = begin; r < end; ++r) fn(r);
                    });
}

}  // namespace

ZW_MULTIVERSION float row_max_scaled(const float* x, int n, float scale) {
  float l[8];
  for (float& v : l) v = -INFINITY;
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) l[j] = std::max(l[j], scale * x[i + j]);
  float m = -INFINITY;
  for (; i < n; ++i) m = std::max(m, scale * x[i]);
  for (float v : l) m = std::max(m, v);
  return m;
}

// out[i] = exp(scale*x[i] - m); returns the sum in double.
ZW_MULTIVERSION double exp_row(const float* x, float* out, int n, float scale, float m) {
  double l[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) {
      float e = zw_expf(scale * x[i + j] - m);
      out[i + j] = e;
      l[j] += static_cast<double>(e);
    }
  for (; i < n; ++i) {
    float e = zw_expf(scale * x[i] - m);
    out[i] = e;
    l[0] += static_cast<double>(e);
  }
  return sum8(l);
}

void layernorm(const float* x, const float* gamma, const float* beta, float* out, int rows,
               int cols, float eps) {
  for_rows(rows, cols, [&](size_t r) {
    const float* xr = x + r * cols;
    // Two passes (mean, then squared deviations) avoid E[x^2]-E[x]^2 cancellation.
    double mean = row_sum(xr, cols) / cols;
    double var = row_sq_dev(xr, cols, mean) / cols;
    float rstd = static_cast<float>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    affine_row(xr, gamma, beta, out + r * cols, cols, static_cast<float>(mean), rstd);
  });
}

void rmsnorm(const float* x, const float* gamma, float* out, int rows, int cols, float eps) {
  for_rows(rows, cols, [&](size_t r) {
    const float* xr = x + r * cols;
    double ms = row_sq_dev(xr, cols, 0.0) / cols;
    float rstd = static_cast<float>(1.0 / std::sqrt(ms + static_cast<double>(eps)));
    scale_gamma_row(xr, gamma, out + r * cols, cols, rstd);
  });
}

void softmax(const float* x, float* out, int rows, int cols, float scale, bool causal) {
  for_rows(rows, cols, [&](size_t r) {
    const float* xr = x + r * cols;
    float* yr = out + r * cols;
    // Row r keeps columns <= r + (cols - rows); with rows > cols the first
    // rows keep none and come out all zero (no 0/0).
    long long last = causal ? static_cast<long long>(r) + cols - rows : cols - 1;
    int keep = static_cast<int>(std::clamp<long long>(last + 1, 0, cols));
    if (keep > 0) {
      float m = row_max_scaled(xr, keep, scale);
      double sum = exp_row(xr, yr, keep, scale, m);
      scale_row(yr, keep, static_cast<float>(1.0 / sum));
    }
    std::fill(yr + keep, yr + cols, 0.0f);
  });
}

}  // namespace zw::cpu
