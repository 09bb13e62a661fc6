// Scaled dot-product attention, two ways:
//  * blocked (prefill, encoders): per KV head, blocks of MR query rows run
//    S = Q.K^T and O = P.V on the matmul microkernel over K/V packed once per
//    task, so both products go at GEMM speed instead of one dot per key;
//  * per row (decode, few queries): one pass over the visible keys per
//    (query, head), where packing K/V would cost as much as the dots.
#include <algorithm>
#include <cmath>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/gemm_internal.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu {
namespace {

using gemm::MR;
using gemm::NR;

struct Scores;  // scratch slots
struct AttnAcc;
struct PackedK;
struct PackedV;
struct PackedQ;
struct PackedP;
struct OutTile;

struct Shape {
  int seq_q, seq_kv, heads, kv_heads, d;
  float scale;
  bool causal;
  int group() const { return heads / kv_heads; }
  size_t kv_stride() const { return static_cast<size_t>(kv_heads) * d; }
  // Keys query i sees: j <= i + seq_kv - seq_q when causal; may be 0.
  int visible(int i) const {
    long long last = causal ? static_cast<long long>(i) + seq_kv - seq_q : seq_kv - 1;
    return static_cast<int>(std::clamp<long long>(last + 1, 0, seq_kv));
  }
};

// exp(s - max) over the first `visible` scores (zero after them, up to `padded`);
// returns their sum. The sum is kept in double: exact enough for any seq_kv.
ZW_MULTIVERSION double softmax_numerators(float* s, int visible, int padded) {
  float m = -INFINITY;
  for (int j = 0; j < visible; ++j) m = std::max(m, s[j]);
  double lanes[8] = {};
  int j = 0;
  for (; j + 8 <= visible; j += 8)
    for (int l = 0; l < 8; ++l) {
      s[j + l] = zw_expf(s[j + l] - m);
      lanes[l] += static_cast<double>(s[j + l]);
    }
  for (; j < visible; ++j) {
    s[j] = zw_expf(s[j] - m);
    lanes[0] += static_cast<double>(s[j]);
  }
  for (j = visible; j < padded; ++j) s[j] = 0.0f;
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
}

// ---- Per-row path ----

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

// out = softmax(scale * q.K^T) . V over `visible` (> 0) keys; K/V rows `stride` floats apart.
ZW_MULTIVERSION void attend_one(const float* qi, const float* k, const float* v, size_t stride,
                                int visible, int d, float scale, float* scores, float* acc,
                                float* out) {
  for (int j = 0; j < visible; ++j) scores[j] = scale * dot(qi, k + j * stride, d);
  double sum = softmax_numerators(scores, visible, visible);
  for (int t = 0; t < d; ++t) acc[t] = 0.0f;
  for (int jj = 0; jj < visible; ++jj) {
    const float* vj = v + jj * stride;
    float p = scores[jj];
    for (int t = 0; t < d; ++t) acc[t] += p * vj[t];
  }
  float inv = static_cast<float>(1.0 / sum);
  for (int t = 0; t < d; ++t) out[t] = acc[t] * inv;
}

void attention_rows(const float* q, const float* k, const float* v, float* out, const Shape& sh) {
  size_t items = static_cast<size_t>(sh.seq_q) * sh.heads;
  size_t cost = static_cast<size_t>(sh.seq_kv) * sh.d * 2;  // MACs per (query, head)
  ThreadPool& pool = ThreadPool::instance();
  size_t min_items = std::max<size_t>(1, 32768 / std::max<size_t>(cost, 1));
  pool.parallel_for(items, pool.grain_for(items, min_items, 4), [&](size_t begin, size_t end) {
    float* scores = scratch_floats<Scores>(sh.seq_kv);
    float* acc = scratch_floats<AttnAcc>(sh.d);
    for (size_t item = begin; item < end; ++item) {
      int i = static_cast<int>(item / sh.heads), h = static_cast<int>(item % sh.heads);
      size_t kv_head = static_cast<size_t>(h / sh.group());
      float* o = out + item * sh.d;
      int visible = sh.visible(i);
      if (visible == 0) {  // no key to attend to: zeros, not 0/0
        std::fill(o, o + sh.d, 0.0f);
        continue;
      }
      attend_one(q + item * sh.d, k + kv_head * sh.d, v + kv_head * sh.d, sh.kv_stride(), visible,
                 sh.d, sh.scale, scores, acc, o);
    }
  });
}

// ---- Blocked path ----

// Rows of one KV head's problem: row r is query r / group of query head
// kv_head * group + r % group, so a block of MR rows shares K and V.
struct HeadRows {
  const Shape& sh;
  int kv_head;
  int query(int r) const { return r / sh.group(); }
  size_t offset(int r) const {  // of the row's q / out vector, in floats
    int h = kv_head * sh.group() + r % sh.group();
    return (static_cast<size_t>(query(r)) * sh.heads + h) * sh.d;
  }
};

// K^T as NR-key strips (d x NR, d-major) and V as NR-column strips (keys x NR,
// key-major), zero padded: the microkernel's B layout for S = Q.K^T and O = P.V.
void pack_kv(const float* k, const float* v, const Shape& sh, int keys, float* kp, float* vp) {
  size_t stride = sh.kv_stride();
  int kstrips = (keys + NR - 1) / NR;
  for (int s = 0; s < kstrips; ++s) {
    float* strip = kp + static_cast<size_t>(s) * sh.d * NR;
    for (int j = 0; j < NR; ++j) {
      int key = s * NR + j;
      const float* row = k + static_cast<size_t>(key) * stride;
      for (int t = 0; t < sh.d; ++t) strip[t * NR + j] = key < keys ? row[t] : 0.0f;
    }
  }
  int vstrips = (sh.d + NR - 1) / NR;
  for (int s = 0; s < vstrips; ++s) {
    float* strip = vp + static_cast<size_t>(s) * keys * NR;
    int cols = std::min(NR, sh.d - s * NR);
    for (int key = 0; key < keys; ++key) {
      const float* row = v + static_cast<size_t>(key) * stride + s * NR;
      float* dst = strip + static_cast<size_t>(key) * NR;
      for (int j = 0; j < cols; ++j) dst[j] = row[j];
      for (int j = cols; j < NR; ++j) dst[j] = 0.0f;
    }
  }
}

// Rows [r0, r1) of one KV head, r1 - r0 <= a multiple of MR.
void attention_block_task(const float* q, const float* k, const float* v, float* out,
                          const Shape& sh, const gemm::Kernels& kern, int kv_head, int r0, int r1) {
  HeadRows rows{sh, kv_head};
  int keys = sh.visible(rows.query(r1 - 1));  // the last row sees the most keys
  int kpad = (keys + NR - 1) / NR * NR;
  int vstrips = (sh.d + NR - 1) / NR;
  float* kp = scratch_floats<PackedK>(static_cast<size_t>(kpad) * sh.d);
  float* vp = scratch_floats<PackedV>(static_cast<size_t>(std::max(keys, 1)) * vstrips * NR);
  float* qp = scratch_floats<PackedQ>(static_cast<size_t>(MR) * sh.d);
  float* pp = scratch_floats<PackedP>(static_cast<size_t>(MR) * std::max(kpad, 1));
  float* scores = scratch_floats<Scores>(static_cast<size_t>(MR) * std::max(kpad, 1));
  float* tile = scratch_floats<OutTile>(static_cast<size_t>(MR) * vstrips * NR);
  const float* kh = k + static_cast<size_t>(kv_head) * sh.d;
  const float* vh = v + static_cast<size_t>(kv_head) * sh.d;
  pack_kv(kh, vh, sh, keys, kp, vp);

  for (int b0 = r0; b0 < r1; b0 += MR) {
    int mr = std::min(MR, r1 - b0);
    int block_keys = sh.visible(rows.query(b0 + mr - 1));
    int block_pad = (block_keys + NR - 1) / NR * NR;
    for (int t = 0; t < sh.d; ++t)  // Q rows, d-major (the microkernel's A layout)
      for (int i = 0; i < MR; ++i) qp[t * MR + i] = i < mr ? q[rows.offset(b0 + i) + t] * sh.scale : 0.0f;
    for (int s = 0; s * NR < block_keys; ++s)
      kern.micro(sh.d, qp, kp + static_cast<size_t>(s) * sh.d * NR, scores + s * NR, block_pad, mr, NR,
                 false);
    double sums[MR] = {};
    for (int i = 0; i < mr; ++i) {
      int vis = sh.visible(rows.query(b0 + i));
      sums[i] = softmax_numerators(scores + static_cast<size_t>(i) * block_pad, vis, block_keys);
    }
    if (block_keys > 0) {
      for (int j = 0; j < block_keys; ++j)  // P rows, key-major
        for (int i = 0; i < MR; ++i) pp[j * MR + i] = i < mr ? scores[static_cast<size_t>(i) * block_pad + j] : 0.0f;
      for (int s = 0; s < vstrips; ++s)
        kern.micro(block_keys, pp, vp + static_cast<size_t>(s) * keys * NR, tile + s * NR,
                   static_cast<size_t>(vstrips) * NR, mr, NR, false);
    }
    for (int i = 0; i < mr; ++i) {
      float* o = out + rows.offset(b0 + i);
      if (sums[i] == 0.0) {  // no visible key: zeros, not 0/0
        std::fill(o, o + sh.d, 0.0f);
        continue;
      }
      float inv = static_cast<float>(1.0 / sums[i]);
      const float* t = tile + static_cast<size_t>(i) * vstrips * NR;
      for (int c = 0; c < sh.d; ++c) o[c] = t[c] * inv;
    }
  }
}

void attention_blocked(const float* q, const float* k, const float* v, float* out, const Shape& sh) {
  const gemm::Kernels& kern = gemm::active_kernels();
  int rows = sh.seq_q * sh.group();
  constexpr int kRowsPerTask = 8 * MR;  // packing K/V once per task is then ~2% of its MACs
  int chunks = (rows + kRowsPerTask - 1) / kRowsPerTask;
  size_t tasks = static_cast<size_t>(sh.kv_heads) * chunks;
  ThreadPool::instance().parallel_for(tasks, 1, [&](size_t begin, size_t end) {
    for (size_t t = begin; t < end; ++t) {
      int kv_head = static_cast<int>(t % sh.kv_heads), chunk = static_cast<int>(t / sh.kv_heads);
      int r0 = chunk * kRowsPerTask;
      attention_block_task(q, k, v, out, sh, kern, kv_head, r0, std::min(rows, r0 + kRowsPerTask));
    }
  });
}

}  // namespace

void attention(const float* q, const float* k, const float* v, float* out, int seq_q, int seq_kv,
               int heads, int kv_heads, int head_dim, float scale, bool causal) {
  Shape sh{seq_q, seq_kv, heads, kv_heads, head_dim, scale, causal};
  // Below a few blocks of rows per head, packing K/V costs about what it saves.
  if (seq_q * sh.group() >= 2 * MR)
    attention_blocked(q, k, v, out, sh);
  else
    attention_rows(q, k, v, out, sh);
}

}  // namespace zw::cpu
