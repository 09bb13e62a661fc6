// zw.attention: scaled dot-product attention with GQA and causal masking.
//
// One threadgroup per (query row, head); its simdgroups split the visible
// keys between them (key j goes to simdgroup j % simdgroups) and each keeps
// an online softmax (running max m, running sum l, weighted sum of values in
// threadgroup memory). The partial results are merged at the end, so a
// decode step (seq_q == 1) still spreads a long KV cache over the threadgroup.
// Lanes of a simdgroup split head_dim, so any head_dim works.
//
// K/V are f32, or binary16 with ZW_KV_F16 (an f16 KV cache): read through
// zw_kv_at by element index.
//
// q [[buffer(0)]], k [[buffer(1)]], v [[buffer(2)]], out [[buffer(3)]],
// params [[buffer(4)]]; threadgroup memory [[threadgroup(0)]] of
// (head_dim * (1 + simdgroups) + 2 * simdgroups) floats.
// Grid: (heads, seq_q) threadgroups of simdgroups * simd width threads.
#include "zw_metal_common.h"

inline float zw_kv_at(device const uchar* kv, uint idx, bool f16) {
  if (f16) return zw_f16_to_f32(zw_load_u16le(kv + 2 * idx));
  return ((device const float*)kv)[idx];
}

kernel void zwk_attention(device const float* q [[buffer(0)]], device const uchar* k [[buffer(1)]],
                          device const uchar* v [[buffer(2)]], device float* out [[buffer(3)]],
                          constant ZwAttentionParams& p [[buffer(4)]],
                          threadgroup float* tg_mem ZW_THREADGROUP_ARG(0),
                          uint2 tg [[threadgroup_position_in_grid]],
                          uint tid [[thread_index_in_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint simdgroups [[simdgroups_per_threadgroup]],
                          uint simd_width [[threads_per_simdgroup]]) {
  const uint head = tg.x;
  const uint qi = tg.y;
  const uint hd = p.head_dim;
  const uint threads = simdgroups * simd_width;  // the host sends whole simdgroups
  const uint kv_head = head / (p.heads / p.kv_heads);
  const uint kv_stride = p.kv_heads * hd;  // elements between consecutive keys
  const bool f16 = (p.flags & ZW_KV_F16) != 0;

  // Keys [0, n_keys) are visible; causal: j <= qi + seq_kv - seq_q.
  uint n_keys = p.seq_kv;
  if ((p.flags & ZW_CAUSAL) != 0) {
    const int last = int(qi) + int(p.seq_kv) - int(p.seq_q);
    n_keys = last < 0 ? 0u : min(uint(last) + 1u, p.seq_kv);
  }

  threadgroup float* q_s = tg_mem;                   // [hd] this query row
  threadgroup float* m_s = q_s + hd;                 // [simdgroups] running maxima
  threadgroup float* l_s = m_s + simdgroups;         // [simdgroups] running sums
  threadgroup float* acc_all = l_s + simdgroups;     // [simdgroups][hd] weighted values
  threadgroup float* acc = acc_all + sg * hd;

  device const float* qr = q + (qi * p.heads + head) * hd;
  for (uint d = tid; d < hd; d += threads) q_s[d] = qr[d];
  for (uint d = lane; d < hd; d += simd_width) acc[d] = 0.0f;
  threadgroup_barrier(mem_flags::mem_threadgroup);

  const uint kv_head_at = kv_head * hd;  // element index of this KV head in key 0
  float m = -INFINITY;  // uniform across the simdgroup (built from simd_sum results)
  float l = 0.0f;
  for (uint j = sg; j < n_keys; j += simdgroups) {
    const uint kj = kv_head_at + j * kv_stride;
    float part = 0.0f;
    for (uint d = lane; d < hd; d += simd_width) part += q_s[d] * zw_kv_at(k, kj + d, f16);
    const float score = simd_sum(part) * p.scale;
    const float m_new = max(m, score);
    const float rescale = zw_expf(m - m_new);  // 0 on the first key (m = -inf)
    const float w = zw_expf(score - m_new);
    l = l * rescale + w;
    const uint vj = kv_head_at + j * kv_stride;
    for (uint d = lane; d < hd; d += simd_width) acc[d] = acc[d] * rescale + w * zw_kv_at(v, vj + d, f16);
    m = m_new;
  }
  if (lane == 0) {
    m_s[sg] = m;
    l_s[sg] = l;
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);

  // Merge: out = sum_s acc_s * e^(m_s - M) / sum_s l_s * e^(m_s - M).
  float big_m = -INFINITY;
  for (uint s = 0; s < simdgroups; ++s) big_m = max(big_m, m_s[s]);
  device float* o = out + (qi * p.heads + head) * hd;
  if (n_keys == 0) {  // nothing visible: zeros, not NaN
    for (uint d = tid; d < hd; d += threads) o[d] = 0.0f;
    return;
  }
  float total = 0.0f;
  for (uint s = 0; s < simdgroups; ++s) total += l_s[s] * zw_expf(m_s[s] - big_m);
  const float inv_total = 1.0f / total;
  for (uint d = tid; d < hd; d += threads) {
    float sum = 0.0f;
    for (uint s = 0; s < simdgroups; ++s) sum += acc_all[s * hd + d] * zw_expf(m_s[s] - big_m);
    o[d] = sum * inv_total;
  }
}
