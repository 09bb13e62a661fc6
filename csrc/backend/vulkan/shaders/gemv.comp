// zw.matmul for m <= 8 (decode steps): C[m, n] (+)= A[m, k] . B[n, k]^T.
// One invocation per output column (grid-stride), summing k in order for each
// of the m rows: no barriers or shared memory, which suits CPU-like devices
// (lavapipe runs invocations as SIMD lanes) and keeps the CPU backend's
// summation order. The rows' sums live in two vec4 (no dynamically indexed
// array, which a SIMD compiler spills to memory); m == 1, the decode step,
// has its own loop that reads one activation per weight. Compiled once per
// weight type: -DW_DTYPE=ZW_DTYPE_*.
#version 460
#include "common.glsl"

layout(local_size_x = 64) in;
layout(push_constant) uniform Push {  // vk_params.h MatmulPush
  uint64_t a, b, c, b_row_bytes;
  uint m, n, k, accumulate;
} p;

void store(F32 c, uint r, uint col, float sum) {
  if (r < p.m) {
    uint idx = r * p.n + col;
    c.v[idx] = p.accumulate != 0u ? c.v[idx] + sum : sum;
  }
}

void main() {
  F32 a = F32(p.a);
  F32 c = F32(p.c);
  uint stride = gl_NumWorkGroups.x * 64u;
  uint last = p.m - 1u;  // rows past m read row m - 1 and are not stored
  for (uint col = gl_GlobalInvocationID.x; col < p.n; col += stride) {
    uint64_t row = p.b + uint64_t(col) * p.b_row_bytes;
    if (p.m == 1u) {
      float sum = 0.0;
      uint e = 0u;
      for (; e + 4u <= p.k; e += 4u) {
        vec4 w = zw_load_weight4(row, e, W_DTYPE);
        vec4 x = F32x4(p.a + uint64_t(e) * 4ul).v;
        sum += x.x * w.x;
        sum += x.y * w.y;
        sum += x.z * w.z;
        sum += x.w * w.w;
      }
      for (; e < p.k; ++e) sum += a.v[e] * zw_load_weight(row, e, W_DTYPE);
      store(c, 0u, col, sum);
      continue;
    }
    vec4 lo = vec4(0.0), hi = vec4(0.0);  // rows 0..3, 4..7
    for (uint e = 0u; e < p.k; ++e) {
      float w = zw_load_weight(row, e, W_DTYPE);
      lo += w * vec4(a.v[e], a.v[min(1u, last) * p.k + e], a.v[min(2u, last) * p.k + e], a.v[min(3u, last) * p.k + e]);
      if (p.m > 4u)
        hi += w * vec4(a.v[4u * p.k + e], a.v[min(5u, last) * p.k + e], a.v[min(6u, last) * p.k + e],
                       a.v[min(7u, last) * p.k + e]);
    }
    for (uint r = 0u; r < 4u; ++r) {
      store(c, r, col, lo[r]);
      store(c, r + 4u, col, hi[r]);
    }
  }
}
