// RoPE and scaled dot-product attention.
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
struct Scores;
struct AttnAcc;

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

// Inlined into attend_one (one multiversioned body per (query, head)):
// calling a dispatched function per key costs more than a d=32 dot itself.
ZW_INLINE float dot(const float* a, const float* b, int n) {
  float l[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) l[j] += a[i + j] * b[i + j];
  float t = 0.0f;
  for (; i < n; ++i) t += a[i] * b[i];
  return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7])) + t;
}

// out = softmax(scale * q.K^T) . V over `visible` keys; K/V rows `stride` floats apart.
ZW_MULTIVERSION void attend_one(const float* qi, const float* k, const float* v, size_t stride,
                                int visible, int d, float scale, float* scores, float* acc,
                                float* out) {
  float m = -INFINITY;
  for (int j = 0; j < visible; ++j) {
    scores[j] = scale * dot(qi, k + j * stride, d);
    m = std::max(m, scores[j]);
  }
  double lanes[8] = {};  // normalizer in double: exact enough for any seq_kv
  int j = 0;
  for (; j + 8 <= visible; j += 8)
    for (int l = 0; l < 8; ++l) {
      scores[j + l] = zw_expf(scores[j + l] - m);
      lanes[l] += static_cast<double>(scores[j + l]);
    }
  for (; j < visible; ++j) {
    scores[j] = zw_expf(scores[j] - m);
    lanes[0] += static_cast<double>(scores[j]);
  }
  double sum = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) +
               ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
  for (int t = 0; t < d; ++t) acc[t] = 0.0f;
  for (int jj = 0; jj < visible; ++jj) {
    const float* vj = v + jj * stride;
    float p = scores[jj];
    for (int t = 0; t < d; ++t) acc[t] += p * vj[t];
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int t = 0; t < d; ++t) out[t] = acc[t] * inv;
}

}  // namespace

void rope(const float* x, float* out, int rows, int heads, int head_dim, int pos0, float theta,
          bool adjacent) {
  int half = head_dim / 2;
  // Angles in double: in f32, pos * freq loses ~pos * 6e-8 rad, which at a
  // few thousand positions is already past 1e-4 error in sin/cos.
  std::vector<double> inv_freq(half);
  for (int i = 0; i < half; ++i) inv_freq[i] = zw_rope_angle_f64(1, i, head_dim, theta);
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

void attention(const float* q, const float* k, const float* v, float* out, int seq_q, int seq_kv,
               int heads, int kv_heads, int head_dim, float scale, bool causal) {
  int group = heads / kv_heads;  // query heads per kv head (GQA)
  size_t items = static_cast<size_t>(seq_q) * heads;
  size_t cost = static_cast<size_t>(seq_kv) * head_dim * 2;  // MACs per (query, head)
  ThreadPool& pool = ThreadPool::instance();
  size_t min_items = std::max<size_t>(1, 32768 / std::max<size_t>(cost, 1));
  pool.parallel_for(items, pool.grain_for(items, min_items, 4), [&](size_t begin, size_t end) {
    float* scores = scratch_floats<Scores>(seq_kv);
    float* acc = scratch_floats<AttnAcc>(head_dim);
    for (size_t item = begin; item < end; ++item) {
      int i = static_cast<int>(item / heads), h = static_cast<int>(item % heads);
      size_t kv_head = static_cast<size_t>(h / group);
      float* o = out + item * head_dim;
      // Query i sees keys j <= i + seq_kv - seq_q; none visible -> zeros, not 0/0.
      long long last = causal ? static_cast<long long>(i) + seq_kv - seq_q : seq_kv - 1;
      int visible = static_cast<int>(std::clamp<long long>(last + 1, 0, seq_kv));
      if (visible == 0) {
        std::fill(o, o + head_dim, 0.0f);
        continue;
      }
      size_t stride = static_cast<size_t>(kv_heads) * head_dim;
      attend_one(q + item * head_dim, k + kv_head * head_dim, v + kv_head * head_dim, stride,
                 visible, head_dim, scale, scores, acc, o);
    }
  });
}

}  // namespace zw::cpu
