// zw.attention: one workgroup per (query row, head), looping when there are
// more than a dispatch holds. q, out [seq_q, heads, d]; k, v [seq_kv,
// kv_heads, d]; head h reads KV head h / (heads / kv_heads) (GQA). Causal:
// query i sees keys j <= i + seq_kv - seq_q. Keys go in chunks of 64 with an
// online softmax (running max and sum, accumulator rescaled per chunk), so
// any seq_kv works; q and the accumulator live in shared memory (d <= 1024,
// checked by the host). out may alias q exactly: q is copied to shared memory
// before the only writes, which go to the same (row, head) slice. K/V are f32,
// or binary16 with ZW_KV_F16 (an f16 KV cache).
#version 460
#include "common.glsl"

#define CHUNK 64u
#define MAX_D 1024u
layout(local_size_x = 64) in;
layout(push_constant) uniform Push {  // vk_params.h AttentionPush
  uint64_t q, k, v, out_;
  uint seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  uint flags, pad;
} p;

// Element idx of K or V (base: its address).
float kv_at(uint64_t base, uint64_t idx) {
  if ((p.flags & ZW_KV_F16) != 0u) return zw_f16_to_f32(uint(U16(base + idx * 2ul).v[0]));
  return F32(base + idx * 4ul).v[0];
}

shared float qs[MAX_D];
shared float acc[MAX_D];
shared float pw[CHUNK];

void main() {
  uint t = gl_LocalInvocationID.x;
  uint d = p.head_dim;
  uint group = p.heads / p.kv_heads;
  uint items = p.seq_q * p.heads;
  for (uint item = gl_WorkGroupID.x; item < items; item += gl_NumWorkGroups.x) {
    uint i = item / p.heads;
    uint h = item % p.heads;
    uint kvh = h / group;
    F32 q = F32(zw_f32_at(p.q, uint64_t(item) * d));
    for (uint e = t; e < d; e += CHUNK) {
      qs[e] = q.v[e];
      acc[e] = 0.0;
    }
    uint kept = p.seq_kv;
    if ((p.flags & ZW_CAUSAL) != 0u) {
      int last = int(i) + int(p.seq_kv) - int(p.seq_q);
      kept = last < 0 ? 0u : min(uint(last) + 1u, p.seq_kv);
    }
    barrier();
    float m = -1.0 / 0.0;  // identical in every invocation: computed from shared data in one order
    float l = 0.0;
    for (uint j0 = 0u; j0 < kept; j0 += CHUNK) {
      uint j = j0 + t;
      float s = -1.0 / 0.0;
      if (j < kept) {
        uint64_t kr = (uint64_t(j) * p.kv_heads + kvh) * d;
        float dot_ = 0.0;
        for (uint e = 0u; e < d; ++e) dot_ += qs[e] * kv_at(p.k, kr + e);
        s = dot_ * p.scale;
      }
      pw[t] = s;
      barrier();
      float cm = m;
      for (uint u = 0u; u < CHUNK; ++u) cm = max(cm, pw[u]);
      barrier();
      pw[t] = j < kept ? zw_expf(s - cm) : 0.0;
      barrier();
      float csum = 0.0;
      for (uint u = 0u; u < CHUNK; ++u) csum += pw[u];
      float corr = zw_expf(m - cm);  // m = -inf on the first chunk: 0
      l = l * corr + csum;
      m = cm;
      uint n = min(CHUNK, kept - j0);
      for (uint e = t; e < d; e += CHUNK) {
        float a = acc[e] * corr;
        for (uint u = 0u; u < n; ++u) a += pw[u] * kv_at(p.v, (uint64_t(j0 + u) * p.kv_heads + kvh) * d + e);
        acc[e] = a;
      }
      barrier();
    }
    float inv = kept > 0u ? 1.0 / l : 0.0;
    F32 o = F32(zw_f32_at(p.out_, uint64_t(item) * d));
    for (uint e = t; e < d; e += CHUNK) o.v[e] = acc[e] * inv;
    barrier();  // qs / acc are reused by the next item
  }
}
