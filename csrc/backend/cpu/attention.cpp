// Scaled dot-product attention, two ways:
//  * blocked (prefill, encoders): per KV head, blocks of MR query rows run
//    S = Q.K^T and O = P.V on the matmul microkernel over K/V packed one key
//    block at a time, so both products go at GEMM speed instead of one dot
//    per key;
//  * per row (decode, few queries): one pass over the visible keys per
//    (query, head), where packing K/V would cost as much as the dots.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/cpu_util.hpp"
#include "backend/cpu/gemm_internal.hpp"
#include "backend/cpu/softmax_rows.hpp"
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
struct SplitStates;

struct Shape {
  int seq_q, seq_kv, heads, kv_heads, d;
  float scale;
  bool causal, kv_f16;  // K/V elements: binary16 or f32
  int group() const { return heads / kv_heads; }
  size_t kv_elem() const { return kv_f16 ? 2 : 4; }
  size_t kv_stride() const { return static_cast<size_t>(kv_heads) * d * kv_elem(); }  // bytes between keys
  const uint8_t* kv_head_base(const uint8_t* kv, int kv_head) const {
    return kv + static_cast<size_t>(kv_head) * d * kv_elem();
  }
  // Keys query i sees: j <= i + seq_kv - seq_q when causal; may be 0.
  int visible(int i) const {
    long long last = causal ? static_cast<long long>(i) + seq_kv - seq_q : seq_kv - 1;
    return static_cast<int>(std::clamp<long long>(last + 1, 0, seq_kv));
  }
};

// Keys per block. Both paths walk the keys in blocks with an online softmax
// (running max and normalizer, output rescaled when the max grows), so a
// thread's scratch is bounded by this and head_dim, never by seq_kv: a guest
// cannot make the host allocate in proportion to a long (or aliased) K/V.
int key_block(int d) {
  constexpr int kFloats = 1 << 16;  // 256 KiB of packed K (or V) at most
  return std::clamp(kFloats / d, NR, 512) / NR * NR;
}

// Element t of a K/V row: f32, or binary16 (2-byte aligned at best: read byte-wise).
inline float kv_at(const uint8_t* row, int t, bool f16) {
  if (f16) return zw_f16_to_f32(zw_load_u16le(row + 2 * static_cast<size_t>(t)));
  float x;
  std::memcpy(&x, row + 4 * static_cast<size_t>(t), 4);
  return x;
}

// Online-softmax state of one output row: running max and normalizer (the
// unnormalized output is held by the caller).
struct RowState {
  float max = -INFINITY;
  double sum = 0.0;
  // Folds in a block of n scores (exponentiated in place, zeroed up to
  // `padded`); returns the factor the row's output so far must be scaled by.
  float absorb(float* s, int n, int padded) {
    float m = std::max(max, row_max_scaled(s, n, 1.0f));
    float rescale = max == -INFINITY ? 0.0f : zw_expf(max - m);
    sum = sum * rescale + exp_row(s, s, n, 1.0f, m);
    std::fill(s + n, s + padded, 0.0f);
    max = m;
    return rescale;
  }
};

// ---- Per-row path ----
//
// One work item is (query row, KV head, key range): the group's query heads
// that share the KV head go together, so each K and V row is read from memory
// once per step rather than once per query head (3x less traffic for
// SmolLM2's 9/3 heads, 4x for Gemma 3's 4/1), which is what decode at long
// context is bound by. When rows x KV heads are too few to keep every thread
// busy (decode: one row), the visible keys are split into ranges whose online
// softmax states are merged afterwards (split-K).

constexpr int kMinKeysPerSplit = 128;  // a range below this costs more to merge than it saves
constexpr int kMaxSplits = 16;         // bounds the merge scratch whatever seq_kv is
// Keys per block of the per-row path: a block's V rows stay in L1/L2 across the
// add_weighted_rows passes over them (one per 8 floats of head_dim).
constexpr int kRowKeyBlock = 128;

// Folds keys [j0, j1) (j1 > j0) of one KV head into the online-softmax states
// of `heads` query heads q[g * d] (acc[g * d] their unnormalized outputs).
void attend_keys(const gemm::Kernels& kern, const float* q, const uint8_t* k, const uint8_t* v, size_t stride,
                 bool f16, int j0, int j1, int heads, int d, float scale, int block, float* scores, float* acc,
                 RowState* state) {
  for (int b0 = j0; b0 < j1; b0 += block) {
    int n = std::min(block, j1 - b0);
    kern.key_dots(q, heads, k + static_cast<size_t>(b0) * stride, stride, f16, n, d, scale, scores, block);
    for (int g = 0; g < heads; ++g) {
      float rescale = state[g].absorb(scores + static_cast<size_t>(g) * block, n, n);
      if (rescale != 1.0f)
        for (int t = 0; t < d; ++t) acc[g * d + t] *= rescale;
    }
    kern.add_weighted_rows(scores, block, heads, v + static_cast<size_t>(b0) * stride, stride, f16, n, d, acc);
  }
}

constexpr int kMaxHeadsPerItem = gemm::kMaxAttendHeads;  // query heads of one KV head done together

// Work units before splitting: query row, KV head and a chunk of at most
// kMaxHeadsPerItem of its query heads, [head0, head0 + count). A split item
// leaves, per head, its max and normalizer then its unnormalized output
// (partial_floats()).
struct RowItems {
  const Shape& sh;
  int per_kv, chunks;  // heads per item (last chunk may be shorter), chunks per KV head
  explicit RowItems(const Shape& s)
      : sh(s), per_kv(std::min(s.group(), kMaxHeadsPerItem)), chunks((s.group() + per_kv - 1) / per_kv) {}
  size_t units() const { return static_cast<size_t>(sh.seq_q) * sh.kv_heads * chunks; }  // items before splitting
  int row(size_t unit) const { return static_cast<int>(unit / (static_cast<size_t>(sh.kv_heads) * chunks)); }
  int kv_head(size_t unit) const { return static_cast<int>(unit / chunks % sh.kv_heads); }
  int head0(size_t unit) const { return kv_head(unit) * sh.group() + static_cast<int>(unit % chunks) * per_kv; }
  int count(size_t unit) const { return std::min(per_kv, (kv_head(unit) + 1) * sh.group() - head0(unit)); }
  size_t offset(size_t unit) const {  // of the first head's q / out vector, in floats
    return (static_cast<size_t>(row(unit)) * sh.heads + head0(unit)) * sh.d;
  }
  size_t partial_floats() const { return 2 + static_cast<size_t>(sh.d); }
};

void attention_rows(const float* q, const uint8_t* k, const uint8_t* v, float* out, const Shape& sh) {
  ThreadPool& pool = ThreadPool::instance();
  const gemm::Kernels& kern = gemm::active_kernels();
  const int d = sh.d, block = std::min(key_block(d), kRowKeyBlock);
  // Splits: enough items for ~4 per thread, each range at least kMinKeysPerSplit keys.
  const RowItems it(sh);
  size_t units = it.units(), want = static_cast<size_t>(pool.size()) * 4;
  int splits = 1;
  if (units < want)
    splits = std::clamp(std::min(static_cast<int>((want + units - 1) / units), sh.seq_kv / kMinKeysPerSplit), 1,
                        kMaxSplits);
  const size_t items = units * splits, pfloats = it.partial_floats();
  // Split items leave partial states here, merged below (bounded: splits > 1
  // only when there are fewer than 4 units per thread). The caller's scratch:
  // live until the merge, read by every thread.
  float* partial = splits > 1 ? scratch_floats<SplitStates>(items * it.per_kv * pfloats) : nullptr;
  size_t cost = static_cast<size_t>(sh.seq_kv) / splits * d * 2 * it.per_kv;  // MACs per item
  size_t min_items = std::max<size_t>(1, 32768 / std::max<size_t>(cost, 1));
  pool.parallel_for(items, pool.grain_for(items, min_items, 4), [&](size_t begin, size_t end) {
    float* scores = scratch_floats<Scores>(static_cast<size_t>(it.per_kv) * block);
    float* acc = scratch_floats<AttnAcc>(static_cast<size_t>(it.per_kv) * d);
    for (size_t item = begin; item < end; ++item) {
      size_t unit = item / splits;
      int split = static_cast<int>(item % splits), n = it.count(unit), kv_head = it.kv_head(unit);
      long long visible = sh.visible(it.row(unit));
      int j0 = static_cast<int>(visible * split / splits), j1 = static_cast<int>(visible * (split + 1) / splits);
      RowState state[kMaxHeadsPerItem];
      std::fill(acc, acc + static_cast<size_t>(n) * d, 0.0f);
      if (j1 > j0)
        attend_keys(kern, q + it.offset(unit), sh.kv_head_base(k, kv_head), sh.kv_head_base(v, kv_head),
                    sh.kv_stride(), sh.kv_f16, j0, j1, n, d, sh.scale, block, scores, acc, state);
      for (int g = 0; g < n; ++g) {
        const float* a = acc + static_cast<size_t>(g) * d;
        if (splits > 1) {
          float* p = partial + (item * it.per_kv + g) * pfloats;
          p[0] = state[g].max;
          p[1] = static_cast<float>(state[g].sum);
          std::copy(a, a + d, p + 2);
          continue;
        }
        float* o = out + it.offset(unit) + static_cast<size_t>(g) * d;
        if (state[g].sum == 0.0) {  // no key to attend to: zeros, not 0/0
          std::fill(o, o + d, 0.0f);
          continue;
        }
        float inv = static_cast<float>(1.0 / state[g].sum);
        for (int t = 0; t < d; ++t) o[t] = a[t] * inv;
      }
    }
  });
  if (splits == 1) return;
  // Merge each head's ranges: every partial scaled by exp(its max - the overall max).
  for (size_t unit = 0; unit < units; ++unit) {
    for (int g = 0; g < it.count(unit); ++g) {
      float* o = out + it.offset(unit) + static_cast<size_t>(g) * d;
      auto part = [&](int s) { return partial + ((unit * splits + s) * it.per_kv + g) * pfloats; };
      float m = -INFINITY;
      for (int s = 0; s < splits; ++s) m = std::max(m, part(s)[0]);
      std::fill(o, o + d, 0.0f);
      if (m == -INFINITY) continue;  // no key to attend to: zeros
      double sum = 0.0;
      for (int s = 0; s < splits; ++s) {
        const float* p = part(s);
        if (p[0] == -INFINITY) continue;
        float w = zw_expf(p[0] - m);
        sum += static_cast<double>(p[1]) * w;
        for (int t = 0; t < d; ++t) o[t] += w * p[2 + t];
      }
      float inv = static_cast<float>(1.0 / sum);
      for (int t = 0; t < d; ++t) o[t] *= inv;
    }
  }
}

// ---- Blocked path ----

constexpr int kRowsPerTask = 8 * MR;  // packing K/V once per task is then ~2% of its MACs
constexpr int kMaxBlockedHeadDim = 512;

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

// `keys` keys of K^T as NR-key strips (d x NR, d-major) and of V as NR-column
// strips (keys x NR, key-major), zero padded: the microkernel's B layout for
// S = Q.K^T and O = P.V.
void pack_kv(const uint8_t* k, const uint8_t* v, const Shape& sh, int keys, float* kp, float* vp) {
  size_t stride = sh.kv_stride();
  const bool f16 = sh.kv_f16;
  int kstrips = (keys + NR - 1) / NR;
  for (int s = 0; s < kstrips; ++s) {
    float* strip = kp + static_cast<size_t>(s) * sh.d * NR;
    for (int j = 0; j < NR; ++j) {
      int key = s * NR + j;
      const uint8_t* row = k + static_cast<size_t>(key) * stride;
      for (int t = 0; t < sh.d; ++t) strip[t * NR + j] = key < keys ? kv_at(row, t, f16) : 0.0f;
    }
  }
  int vstrips = (sh.d + NR - 1) / NR;
  for (int s = 0; s < vstrips; ++s) {
    float* strip = vp + static_cast<size_t>(s) * keys * NR;
    int cols = std::min(NR, sh.d - s * NR);
    for (int key = 0; key < keys; ++key) {
      const uint8_t* row = v + static_cast<size_t>(key) * stride;
      float* dst = strip + static_cast<size_t>(key) * NR;
      for (int j = 0; j < cols; ++j) dst[j] = kv_at(row, s * NR + j, f16);
      for (int j = cols; j < NR; ++j) dst[j] = 0.0f;
    }
  }
}

// Rows [r0, r1) (at most kRowsPerTask) of one KV head: K/V are packed one key
// block at a time and every MR-row block of the task folds it in.
void attention_block_task(const float* q, const uint8_t* k, const uint8_t* v, float* out,
                          const Shape& sh, const gemm::Kernels& kern, int kv_head, int r0, int r1) {
  HeadRows rows{sh, kv_head};
  const int d = sh.d, vstrips = (d + NR - 1) / NR, dpad = vstrips * NR;
  const int nblocks = (r1 - r0 + MR - 1) / MR, block = key_block(d);
  const int keys = sh.visible(rows.query(r1 - 1));  // the last row sees the most keys
  float* kp = scratch_floats<PackedK>(static_cast<size_t>(block) * d);
  float* vp = scratch_floats<PackedV>(static_cast<size_t>(block) * dpad);
  float* qp = scratch_floats<PackedQ>(static_cast<size_t>(nblocks) * MR * d);
  float* pp = scratch_floats<PackedP>(static_cast<size_t>(MR) * block);
  float* scores = scratch_floats<Scores>(static_cast<size_t>(MR) * block);
  float* acc = scratch_floats<OutTile>(static_cast<size_t>(nblocks) * MR * dpad);
  RowState state[kRowsPerTask];
  std::fill(acc, acc + static_cast<size_t>(nblocks) * MR * dpad, 0.0f);
  for (int b = 0; b < nblocks; ++b) {  // scaled Q rows, d-major per MR block (the A layout)
    float* qb = qp + static_cast<size_t>(b) * MR * d;
    for (int i = 0; i < MR; ++i) {
      int r = r0 + b * MR + i;
      for (int t = 0; t < d; ++t) qb[t * MR + i] = r < r1 ? q[rows.offset(r) + t] * sh.scale : 0.0f;
    }
  }
  const size_t stride = sh.kv_stride();
  const uint8_t* kh = sh.kv_head_base(k, kv_head);
  const uint8_t* vh = sh.kv_head_base(v, kv_head);

  for (int j0 = 0; j0 < keys; j0 += block) {
    int nk = std::min(block, keys - j0);
    pack_kv(kh + static_cast<size_t>(j0) * stride, vh + static_cast<size_t>(j0) * stride, sh, nk, kp, vp);
    for (int b = 0; b < nblocks; ++b) {
      int b0 = r0 + b * MR, mr = std::min(MR, r1 - b0);
      int bk = std::min(nk, sh.visible(rows.query(b0 + mr - 1)) - j0);  // keys here the block sees
      if (bk <= 0) continue;  // causal: this key block lies entirely in the block's future
      int bpad = (bk + NR - 1) / NR * NR;
      for (int s = 0; s * NR < bk; ++s)
        kern.micro(d, qp + static_cast<size_t>(b) * MR * d, kp + static_cast<size_t>(s) * d * NR,
                   scores + s * NR, bpad, mr, NR, false);
      float* acc_b = acc + static_cast<size_t>(b) * MR * dpad;
      for (int i = 0; i < mr; ++i) {
        float* srow = scores + static_cast<size_t>(i) * bpad;
        int vis = std::clamp(sh.visible(rows.query(b0 + i)) - j0, 0, bk);
        if (vis == 0) {  // sees none of these keys: contributes nothing
          std::fill(srow, srow + bk, 0.0f);
          continue;
        }
        float rescale = state[b0 - r0 + i].absorb(srow, vis, bk);
        if (rescale != 1.0f)
          for (int c = 0; c < dpad; ++c) acc_b[static_cast<size_t>(i) * dpad + c] *= rescale;
      }
      for (int j = 0; j < bk; ++j)  // P rows, key-major (the A layout)
        for (int i = 0; i < MR; ++i) pp[j * MR + i] = i < mr ? scores[static_cast<size_t>(i) * bpad + j] : 0.0f;
      for (int s = 0; s < vstrips; ++s)
        kern.micro(bk, pp, vp + static_cast<size_t>(s) * nk * NR, acc_b + s * NR, dpad, mr, NR, true);
    }
  }

  for (int r = r0; r < r1; ++r) {
    float* o = out + rows.offset(r);
    const RowState& st = state[r - r0];
    if (st.sum == 0.0) {  // no visible key: zeros, not 0/0
      std::fill(o, o + d, 0.0f);
      continue;
    }
    float inv = static_cast<float>(1.0 / st.sum);
    const float* a = acc + static_cast<size_t>(r - r0) * dpad;
    for (int c = 0; c < d; ++c) o[c] = a[c] * inv;
  }
}

void attention_blocked(const float* q, const uint8_t* k, const uint8_t* v, float* out, const Shape& sh) {
  const gemm::Kernels& kern = gemm::active_kernels();
  int rows = sh.seq_q * sh.group();
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

void attention(const float* q, const uint8_t* k, const uint8_t* v, float* out, int seq_q, int seq_kv,
               int heads, int kv_heads, int head_dim, float scale, bool causal, bool kv_f16) {
  Shape sh{seq_q, seq_kv, heads, kv_heads, head_dim, scale, causal, kv_f16};
  // Below a few blocks of rows per head, packing K/V costs about what it saves;
  // past kMaxBlockedHeadDim the packed buffers would outgrow their fixed budget.
  if (seq_q * sh.group() >= 2 * MR && head_dim <= kMaxBlockedHeadDim)
    attention_blocked(q, k, v, out, sh);
  else
    attention_rows(q, k, v, out, sh);
}

}  // namespace zw::cpu

namespace zw::cpu::gemm {
namespace {

// Elements [t0, t0 + n) of a K/V row as f32: in place for f32 rows, else
// widened into buf (n <= kMaxBlockedHeadDim).
const float* kv_slice(const uint8_t* row, bool f16, int t0, int n, float* buf) {
  if (!f16) return reinterpret_cast<const float*>(row) + t0;
  load_row(row, DType::f16, t0, n, buf);
  return buf;
}

}  // namespace

// dot_lanes8 inlined into one multiversioned body: calling a dispatched
// function per key costs more than a d=32 dot itself.
ZW_MULTIVERSION void key_dots_generic(const float* q, int heads, const uint8_t* k, size_t stride, bool f16, int keys,
                                      int d, float scale, float* scores, int lds) {
  float buf[kMaxBlockedHeadDim];  // f16 keys: converted once per key for all heads
  for (int j = 0; j < keys; ++j) {
    for (int t0 = 0; t0 < d; t0 += kMaxBlockedHeadDim) {  // d may exceed the buffer: in slices
      int n = std::min(d - t0, kMaxBlockedHeadDim);
      const float* kt = kv_slice(k + static_cast<size_t>(j) * stride, f16, t0, n, buf);
      for (int g = 0; g < heads; ++g) {
        float dot = dot_lanes8(q + static_cast<size_t>(g) * d + t0, kt, n);
        float* s = scores + static_cast<size_t>(g) * lds + j;
        *s = t0 == 0 ? scale * dot : *s + scale * dot;
      }
    }
  }
}

ZW_MULTIVERSION void add_weighted_rows_generic(const float* p, int lds, int heads, const uint8_t* v, size_t stride,
                                               bool f16, int keys, int d, float* acc) {
  float buf[kMaxBlockedHeadDim];
  for (int j = 0; j < keys; ++j) {
    for (int t0 = 0; t0 < d; t0 += kMaxBlockedHeadDim) {
      int n = std::min(d - t0, kMaxBlockedHeadDim);
      const float* vt = kv_slice(v + static_cast<size_t>(j) * stride, f16, t0, n, buf);
      for (int g = 0; g < heads; ++g) {
        float pj = p[static_cast<size_t>(g) * lds + j];
        float* a = acc + static_cast<size_t>(g) * d + t0;
        for (int t = 0; t < n; ++t) a[t] += pj * vt[t];
      }
    }
  }
}

}  // namespace zw::cpu::gemm
