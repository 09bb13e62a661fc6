// zw.matmul for m <= 8 (decode steps): C[m, n] (+)= A[m, k] . B[n, k]^T.
// One invocation per output column (grid-stride), summing k in order for each
// of the m rows: no barriers or shared memory, which suits CPU-like devices
// (lavapipe runs invocations as SIMD lanes) and keeps the CPU backend's
// summation order. Compiled once per weight type: -DW_DTYPE=ZW_DTYPE_*.
#version 460
#include "common.glsl"

#define MAX_M 8u
layout(local_size_x = 64) in;
layout(push_constant) uniform Push {  // vk_params.h MatmulPush
  uint64_t a, b, c, b_row_bytes;
  uint m, n, k, accumulate;
} p;

void main() {
  F32 a = F32(p.a);
  F32 c = F32(p.c);
  uint stride = gl_NumWorkGroups.x * 64u;
  for (uint col = gl_GlobalInvocationID.x; col < p.n; col += stride) {
    uint64_t row = p.b + uint64_t(col) * p.b_row_bytes;
    float sums[MAX_M];
    for (uint r = 0u; r < MAX_M; ++r) sums[r] = 0.0;
    for (uint e = 0u; e < p.k; ++e) {
      float w = zw_load_weight(row, e, W_DTYPE);
      for (uint r = 0u; r < p.m; ++r) sums[r] += a.v[r * p.k + e] * w;
    }
    for (uint r = 0u; r < p.m; ++r) {
      uint idx = r * p.n + col;
      c.v[idx] = p.accumulate != 0u ? c.v[idx] + sums[r] : sums[r];
    }
  }
}
