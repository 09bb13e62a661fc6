// zw.matmul for m > 8: C[m, n] (+)= A[m, k] . B[n, k]^T, 16 x 16 output tiles
// (one per workgroup, looping), k in steps of 16 through shared memory; B is
// decoded to f32 as it is loaded. Compiled once per weight type.
#version 460
#include "common.glsl"

#define TILE 16u
layout(local_size_x = 16, local_size_y = 16) in;
layout(push_constant) uniform Push {  // vk_params.h MatmulPush
  uint64_t a, b, c, b_row_bytes;
  uint m, n, k, accumulate;
} p;

shared float as_[TILE][TILE + 1u];
shared float bs[TILE][TILE + 1u];

void main() {
  uint tx = gl_LocalInvocationID.x;
  uint ty = gl_LocalInvocationID.y;
  uint tiles_n = (p.n + TILE - 1u) / TILE;
  uint tiles = ((p.m + TILE - 1u) / TILE) * tiles_n;
  F32 a = F32(p.a);
  F32 c = F32(p.c);
  for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
    uint r0 = (tile / tiles_n) * TILE;
    uint c0 = (tile % tiles_n) * TILE;
    float sum = 0.0;
    for (uint k0 = 0u; k0 < p.k; k0 += TILE) {
      uint ka = k0 + tx;
      // as_[ty][tx] = A[r0 + ty, k0 + tx]; bs[ty][tx] = B[c0 + ty, k0 + tx]
      as_[ty][tx] = (r0 + ty < p.m && ka < p.k) ? a.v[(r0 + ty) * p.k + ka] : 0.0;
      bs[ty][tx] = (c0 + ty < p.n && ka < p.k)
                       ? zw_load_weight(p.b + uint64_t(c0 + ty) * p.b_row_bytes, ka, W_DTYPE)
                       : 0.0;
      barrier();
      for (uint u = 0u; u < TILE; ++u) sum += as_[ty][u] * bs[tx][u];
      barrier();
    }
    uint row = r0 + ty;
    uint col = c0 + tx;
    if (row < p.m && col < p.n) {
      uint idx = row * p.n + col;
      c.v[idx] = p.accumulate != 0u ? c.v[idx] + sum : sum;
    }
  }
}
