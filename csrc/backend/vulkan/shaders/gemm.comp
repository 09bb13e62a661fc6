// zw.matmul for m > 8: C[m, n] (+)= A[m, k] . B[n, k]^T.
//
// Register-blocked tiles: a workgroup of 16 x 8 invocations owns 32 rows x 64
// columns of C (looping over tiles), each invocation 4 rows x 4 columns held in
// four vec4 accumulators. k advances in steps of 16 through shared memory, where
// A and B (decoded to f32 as it is loaded) are stored k-major as vec4 of 4 rows /
// 4 columns, so the inner loop does 16 FMAs per two vec4 reads. Compared with one
// output per invocation this reads shared memory 8x less per FMA, which is what
// bounds a CPU-backed device such as lavapipe, and holds more work per barrier.
// Each output still sums k in order, one product at a time.
// Compiled once per weight type: -DW_DTYPE=ZW_DTYPE_*.
#version 460
#include "common.glsl"

#define TK 16u  // k per step
#define TM 32u  // rows of C per tile
#define TN 64u  // columns of C per tile
layout(local_size_x = 16, local_size_y = 8) in;  // x: column quads, y: row quads
layout(push_constant) uniform Push {  // vk_params.h MatmulPush
  uint64_t a, b, c, b_row_bytes;
  uint m, n, k, accumulate;
} p;

shared vec4 as4[TK][TM / 4u];  // as4[kk][q] = A[r0 + 4q + (0..3), k0 + kk]
shared vec4 bs4[TK][TN / 4u];  // bs4[kk][q] = B[c0 + 4q + (0..3), k0 + kk]

float a_at(F32 a, uint row, uint kk) { return (row < p.m && kk < p.k) ? a.v[row * p.k + kk] : 0.0; }
float b_at(uint col, uint kk) {
  return (col < p.n && kk < p.k) ? zw_load_weight(p.b + uint64_t(col) * p.b_row_bytes, kk, W_DTYPE) : 0.0;
}

void main() {
  uint tx = gl_LocalInvocationID.x;
  uint ty = gl_LocalInvocationID.y;
  uint t = ty * 16u + tx;  // 0..127
  uint lk = t % TK;        // the k this invocation loads
  uint lq = t / TK;        // 0..7: the row quad (A) / column quads lq, lq + 8 (B) it loads
  uint tiles_n = (p.n + TN - 1u) / TN;
  uint tiles = ((p.m + TM - 1u) / TM) * tiles_n;
  F32 a = F32(p.a);
  F32 c = F32(p.c);
  for (uint tile = gl_WorkGroupID.x; tile < tiles; tile += gl_NumWorkGroups.x) {
    uint r0 = (tile / tiles_n) * TM;
    uint c0 = (tile % tiles_n) * TN;
    vec4 acc0 = vec4(0.0), acc1 = vec4(0.0), acc2 = vec4(0.0), acc3 = vec4(0.0);
    for (uint k0 = 0u; k0 < p.k; k0 += TK) {
      uint kk = k0 + lk;
      uint ra = r0 + 4u * lq;
      as4[lk][lq] = vec4(a_at(a, ra, kk), a_at(a, ra + 1u, kk), a_at(a, ra + 2u, kk), a_at(a, ra + 3u, kk));
      for (uint h = 0u; h < 2u; ++h) {
        uint q = lq + 8u * h;
        uint cb = c0 + 4u * q;
        bs4[lk][q] = vec4(b_at(cb, kk), b_at(cb + 1u, kk), b_at(cb + 2u, kk), b_at(cb + 3u, kk));
      }
      barrier();
      for (uint u = 0u; u < TK; ++u) {
        vec4 av = as4[u][ty];
        vec4 bv = bs4[u][tx];
        acc0 += av.x * bv;
        acc1 += av.y * bv;
        acc2 += av.z * bv;
        acc3 += av.w * bv;
      }
      barrier();
    }
    vec4 accs[4] = vec4[4](acc0, acc1, acc2, acc3);
    for (uint i = 0u; i < 4u; ++i) {
      uint row = r0 + 4u * ty + i;
      for (uint j = 0u; j < 4u; ++j) {
        uint col = c0 + 4u * tx + j;
        if (row < p.m && col < p.n) {
          uint idx = row * p.n + col;
          c.v[idx] = p.accumulate != 0u ? c.v[idx] + accs[i][j] : accs[i][j];
        }
      }
    }
  }
}
