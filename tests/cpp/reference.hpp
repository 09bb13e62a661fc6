// Naive float64 references for every op, written from the ABI text
// (guest/include/zerowasm.h), deliberately sharing no code with the kernels.
#pragma once

#include <cmath>
#include <vector>

#include "ops/op_args.hpp"

namespace zwtest {

using Vec = std::vector<float>;
using DVec = std::vector<double>;

inline DVec ref_matmul(const Vec& a, const DVec& b, const Vec* c0, int m, int n, int k) {
  DVec c(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = c0 ? (*c0)[static_cast<size_t>(i) * n + j] : 0.0;
      for (int p = 0; p < k; ++p) s += static_cast<double>(a[static_cast<size_t>(i) * k + p]) * b[static_cast<size_t>(j) * k + p];
      c[static_cast<size_t>(i) * n + j] = s;
    }
  return c;
}

inline DVec ref_elementwise(zw::Elementwise op, const Vec& a, const Vec& b, float s) {
  DVec r(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    double x = a[i];
    switch (op) {
      case zw::Elementwise::add: r[i] = x + b[i]; break;
      case zw::Elementwise::mul: r[i] = x * b[i]; break;
      case zw::Elementwise::scale: r[i] = x * s; break;
      case zw::Elementwise::gelu: r[i] = 0.5 * x * std::erfc(-x / std::sqrt(2.0)); break;
      case zw::Elementwise::silu: r[i] = x / (1.0 + std::exp(-x)); break;
    }
  }
  return r;
}

inline DVec ref_norm(bool rms, const Vec& x, const Vec& g, const Vec& b, int rows, int cols,
                     float eps) {
  DVec r(x.size());
  for (int i = 0; i < rows; ++i) {
    const float* xr = &x[static_cast<size_t>(i) * cols];
    double mean = 0, var = 0;
    for (int j = 0; j < cols; ++j) mean += xr[j];
    mean /= cols;
    for (int j = 0; j < cols; ++j) {
      double d = rms ? xr[j] : xr[j] - mean;
      var += d * d;
    }
    var /= cols;
    double rstd = 1.0 / std::sqrt(var + eps);
    for (int j = 0; j < cols; ++j)
      r[static_cast<size_t>(i) * cols + j] =
          rms ? xr[j] * rstd * g[j] : (xr[j] - mean) * rstd * g[j] + b[j];
  }
  return r;
}

inline DVec ref_softmax(const Vec& x, int rows, int cols, float scale, bool causal) {
  DVec r(x.size(), 0.0);
  for (int i = 0; i < rows; ++i) {
    int keep = causal ? std::min(cols, std::max(0, i + cols - rows + 1)) : cols;
    if (keep == 0) continue;
    double m = -INFINITY, s = 0;
    for (int j = 0; j < keep; ++j) m = std::max(m, static_cast<double>(scale) * x[static_cast<size_t>(i) * cols + j]);
    for (int j = 0; j < keep; ++j) s += std::exp(static_cast<double>(scale) * x[static_cast<size_t>(i) * cols + j] - m);
    for (int j = 0; j < keep; ++j)
      r[static_cast<size_t>(i) * cols + j] = std::exp(static_cast<double>(scale) * x[static_cast<size_t>(i) * cols + j] - m) / s;
  }
  return r;
}

inline DVec ref_rope(const Vec& x, int rows, int heads, int d, int pos0, float theta,
                     bool adjacent) {
  DVec r(x.size());
  for (int row = 0; row < rows; ++row)
    for (int h = 0; h < heads; ++h) {
      size_t base = (static_cast<size_t>(row) * heads + h) * d;
      for (int i = 0; i < d / 2; ++i) {
        double ang = (pos0 + row) * std::pow(static_cast<double>(theta), -2.0 * i / d);
        int i0 = adjacent ? 2 * i : i, i1 = adjacent ? 2 * i + 1 : i + d / 2;
        double x0 = x[base + i0], x1 = x[base + i1];
        r[base + i0] = x0 * std::cos(ang) - x1 * std::sin(ang);
        r[base + i1] = x0 * std::sin(ang) + x1 * std::cos(ang);
      }
    }
  return r;
}

inline DVec ref_attention(const Vec& q, const Vec& k, const Vec& v, int sq, int skv, int heads,
                          int kvh, int d, float scale, bool causal) {
  DVec out(q.size(), 0.0);
  for (int i = 0; i < sq; ++i)
    for (int h = 0; h < heads; ++h) {
      int g = h / (heads / kvh);
      int visible = causal ? std::min(skv, std::max(0, i + skv - sq + 1)) : skv;
      if (visible == 0) continue;
      DVec s(visible);
      double m = -INFINITY, sum = 0;
      for (int j = 0; j < visible; ++j) {
        double dot = 0;
        for (int t = 0; t < d; ++t)
          dot += static_cast<double>(q[(static_cast<size_t>(i) * heads + h) * d + t]) *
                 k[(static_cast<size_t>(j) * kvh + g) * d + t];
        s[j] = scale * dot;
        m = std::max(m, s[j]);
      }
      for (double& e : s) sum += (e = std::exp(e - m));
      for (int j = 0; j < visible; ++j)
        for (int t = 0; t < d; ++t)
          out[(static_cast<size_t>(i) * heads + h) * d + t] +=
              s[j] / sum * v[(static_cast<size_t>(j) * kvh + g) * d + t];
    }
  return out;
}

}  // namespace zwtest
