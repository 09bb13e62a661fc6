// zw.matmul for m <= 8 (decode steps): C[m, n] (+)= A[m, k] . B[n, k]^T.
// One workgroup per output column n (looping): its 64 invocations split k,
// each keeping up to 8 row sums, then a shared-memory tree reduction.
// Compiled once per weight type: -DW_DTYPE=ZW_DTYPE_*.
#version 460
#include "common.glsl"

#define MAX_M 8u
layout(local_size_x = 64) in;
layout(push_constant) uniform Push {  // vk_params.h MatmulPush
  uint64_t a, b, c, b_row_bytes;
  uint m, n, k, accumulate;
} p;

shared float red[MAX_M][64];

void main() {
  uint t = gl_LocalInvocationID.x;
  F32 a = F32(p.a);
  F32 c = F32(p.c);
  for (uint col = gl_WorkGroupID.x; col < p.n; col += gl_NumWorkGroups.x) {
    uint64_t row = p.b + uint64_t(col) * p.b_row_bytes;
    float sums[MAX_M];
    for (uint r = 0u; r < MAX_M; ++r) sums[r] = 0.0;
    for (uint e = t; e < p.k; e += 64u) {
      float w = zw_load_weight(row, e, W_DTYPE);
      for (uint r = 0u; r < p.m; ++r) sums[r] += a.v[r * p.k + e] * w;
    }
    for (uint r = 0u; r < MAX_M; ++r) red[r][t] = sums[r];
    barrier();
    for (uint s = 32u; s > 0u; s >>= 1) {
      if (t < s)
        for (uint r = 0u; r < p.m; ++r) red[r][t] += red[r][t + s];
      barrier();
    }
    if (t < p.m) {
      uint idx = t * p.n + col;
      float v = red[t][0];
      c.v[idx] = p.accumulate != 0u ? c.v[idx] + v : v;
    }
    barrier();  // red is reused by the next column
  }
}
