// zw.matmul: C[m,n] (+)= A[m,k] . B^T, A and C f32, B [n,k] in f32, f16 or
// a GGUF block type (zerowasm_abi.h). Three kernel families per B type:
//
//  zwk_matvec_<t>        m <= ZW_MV_MAX_ROWS (decode): one simdgroup per column
//                        of C; each lane takes 32-value chunks of the B row,
//                        dequantizes a chunk once and uses it for every A row.
//                        Reading B dominates, and B is read exactly once.
//  zwk_matmul_simd_<t>   larger m on GPUs with SIMD-group matrices (Apple7+):
//                        32x64 tiles of C, 4 simdgroups of 16x32 each, 8x8
//                        simdgroup_float8x8 multiply-accumulates.
//  zwk_matmul_tiled_<t>  the same tiling with plain FMAs (4x4 outputs per
//                        thread), for GPUs without SIMD-group matrices.
//
// Both tiled variants stage, per k-step of 32 (one quantized block), A as
// sa[BM][BK] and B dequantized and transposed as sb[BK][BN] in threadgroup
// memory: 64 threads each dequantize one B row chunk, the other 64 load A.
//
// a [[buffer(0)]], b [[buffer(1)]] (bytes), c [[buffer(2)]], params [[buffer(3)]];
// the tiled kernels take ZW_MM_TILE_FLOATS floats of [[threadgroup(0)]] memory.
// Validation guarantees C overlaps neither A nor B.
#include "zw_metal_weights.h"

// ---- mat-vec ---------------------------------------------------------------------

template <typename Type>
inline void zw_matvec(Type type, device const float* a, device const uchar* b, device float* c,
                      constant ZwMatmulParams& p, uint col, uint lane, uint simd_width) {
  if (col >= p.n) return;  // no barriers below: a whole simdgroup leaves together
  device const uchar* brow = b + col * p.b_row_bytes;
  float acc[ZW_MV_MAX_ROWS];
  ZW_UNROLL for (uint r = 0; r < ZW_MV_MAX_ROWS; ++r) acc[r] = 0.0f;

  for (uint k0 = lane * ZW_QBLOCK; k0 < p.k; k0 += simd_width * ZW_QBLOCK) {
    float w[ZW_QBLOCK];
    zw_weight_chunk(type, brow, k0, p.k, w);
    const uint count = min(uint(ZW_QBLOCK), p.k - k0);  // A rows end at k: never read past
    ZW_UNROLL for (uint r = 0; r < ZW_MV_MAX_ROWS; ++r) {  // constant bound: acc stays in registers
      if (r < p.m) {
        device const float* ar = a + r * p.k + k0;
        float s = 0.0f;
        for (uint j = 0; j < count; ++j) s += w[j] * ar[j];
        acc[r] += s;
      }
    }
  }
  ZW_UNROLL for (uint r = 0; r < ZW_MV_MAX_ROWS; ++r) {
    if (r < p.m) {
      const float total = simd_sum(acc[r]);
      if (lane == 0) {
        device float* dst = c + r * p.n + col;
        *dst = p.accumulate != 0 ? *dst + total : total;
      }
    }
  }
}

// ---- tiles shared by both tiled variants -----------------------------------------

template <typename Type>
inline void zw_mm_load_tiles(Type type, device const float* a, device const uchar* b,
                             constant ZwMatmulParams& p, uint m0, uint n0, uint k0, uint tid,
                             threadgroup float* sa, threadgroup float* sb) {
  if (tid < ZW_MM_BN) {  // B: one row chunk per thread, written transposed
    float w[ZW_MM_BK];
    const uint n_row = n0 + tid;
    if (n_row < p.n) {
      zw_weight_chunk(type, b + n_row * p.b_row_bytes, k0, p.k, w);
    } else {
      for (uint j = 0; j < ZW_MM_BK; ++j) w[j] = 0.0f;
    }
    for (uint j = 0; j < ZW_MM_BK; ++j) sb[j * ZW_MM_BN + tid] = w[j];
  } else {  // A: consecutive threads read consecutive k of a row
    for (uint e = tid - ZW_MM_BN; e < ZW_MM_BM * ZW_MM_BK; e += ZW_MM_THREADS - ZW_MM_BN) {
      const uint row = m0 + e / ZW_MM_BK;
      const uint col = k0 + e % ZW_MM_BK;
      sa[e] = (row < p.m && col < p.k) ? a[row * p.k + col] : 0.0f;
    }
  }
}

inline void zw_mm_store(device float* c, constant ZwMatmulParams& p, uint row, uint col, float v) {
  if (row < p.m && col < p.n) {
    device float* dst = c + row * p.n + col;
    *dst = p.accumulate != 0 ? *dst + v : v;
  }
}

// ---- tiled, plain FMAs -------------------------------------------------------------

template <typename Type>
inline void zw_matmul_tiled(Type type, device const float* a, device const uchar* b,
                            device float* c, constant ZwMatmulParams& p, uint2 tg, uint tid,
                            threadgroup float* tile_mem) {
  threadgroup float* sa = tile_mem;
  threadgroup float* sb = tile_mem + ZW_MM_BM * ZW_MM_BK;
  const uint m0 = tg.y * ZW_MM_BM;
  const uint n0 = tg.x * ZW_MM_BN;
  const uint tm = tid / 16;  // rows tm*4 .. tm*4+3 of the tile
  const uint tn = tid % 16;  // columns tn + 16*j: neighbours read neighbouring sb words
  float acc[4][4];
  ZW_UNROLL for (uint i = 0; i < 4; ++i) {
    ZW_UNROLL for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0f;
  }

  for (uint k0 = 0; k0 < p.k; k0 += ZW_MM_BK) {
    zw_mm_load_tiles(type, a, b, p, m0, n0, k0, tid, sa, sb);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint kk = 0; kk < ZW_MM_BK; ++kk) {
      float av[4], bv[4];
      ZW_UNROLL for (uint i = 0; i < 4; ++i) av[i] = sa[(tm * 4 + i) * ZW_MM_BK + kk];
      ZW_UNROLL for (uint j = 0; j < 4; ++j) bv[j] = sb[kk * ZW_MM_BN + tn + 16 * j];
      ZW_UNROLL for (uint i = 0; i < 4; ++i) {
        ZW_UNROLL for (uint j = 0; j < 4; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);  // before the next load overwrites
  }
  ZW_UNROLL for (uint i = 0; i < 4; ++i) {
    ZW_UNROLL for (uint j = 0; j < 4; ++j) zw_mm_store(c, p, m0 + tm * 4 + i, n0 + tn + 16 * j, acc[i][j]);
  }
}

// ---- tiled, SIMD-group matrices (MSL 2.3+) ----------------------------------------

#if __METAL_VERSION__ >= 230
template <typename Type>
inline void zw_matmul_simd(Type type, device const float* a, device const uchar* b,
                           device float* c, constant ZwMatmulParams& p, uint2 tg, uint tid,
                           uint sg, threadgroup float* tile_mem) {
  threadgroup float* sa = tile_mem;
  threadgroup float* sb = tile_mem + ZW_MM_BM * ZW_MM_BK;
  const uint m0 = tg.y * ZW_MM_BM;
  const uint n0 = tg.x * ZW_MM_BN;
  const uint sg_m = sg / 2;  // rows sg_m*16 .. +16 of the tile
  const uint sg_n = sg % 2;  // columns sg_n*32 .. +32
  simdgroup_float8x8 acc[2][4];
  ZW_UNROLL for (uint i = 0; i < 2; ++i) {
    ZW_UNROLL for (uint j = 0; j < 4; ++j) acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
  }

  for (uint k0 = 0; k0 < p.k; k0 += ZW_MM_BK) {
    zw_mm_load_tiles(type, a, b, p, m0, n0, k0, tid, sa, sb);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    ZW_UNROLL for (uint kk = 0; kk < ZW_MM_BK; kk += 8) {
      simdgroup_float8x8 fa[2];
      simdgroup_float8x8 fb[4];
      ZW_UNROLL for (uint i = 0; i < 2; ++i) {
        simdgroup_load(fa[i], sa + (sg_m * 16 + i * 8) * ZW_MM_BK + kk, ZW_MM_BK);
      }
      ZW_UNROLL for (uint j = 0; j < 4; ++j) {
        simdgroup_load(fb[j], sb + kk * ZW_MM_BN + sg_n * 32 + j * 8, ZW_MM_BN);
      }
      ZW_UNROLL for (uint i = 0; i < 2; ++i) {
        ZW_UNROLL for (uint j = 0; j < 4; ++j) {
          simdgroup_multiply_accumulate(acc[i][j], fa[i], fb[j], acc[i][j]);
        }
      }
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
  }

  // Stage the C tile (BM x BN floats, fits in the tile buffer) and write
  // only its in-bounds part.
  threadgroup float* sc = tile_mem;
  ZW_UNROLL for (uint i = 0; i < 2; ++i) {
    ZW_UNROLL for (uint j = 0; j < 4; ++j) {
      simdgroup_store(acc[i][j], sc + (sg_m * 16 + i * 8) * ZW_MM_BN + sg_n * 32 + j * 8, ZW_MM_BN);
    }
  }
  threadgroup_barrier(mem_flags::mem_threadgroup);
  for (uint e = tid; e < ZW_MM_BM * ZW_MM_BN; e += ZW_MM_THREADS) {
    zw_mm_store(c, p, m0 + e / ZW_MM_BN, n0 + e % ZW_MM_BN, sc[e]);
  }
}
#endif

// ---- entry points ------------------------------------------------------------------
// One set per B dtype. Threadgroups: matvec ZW_MV_SIMDGROUPS simdgroups
// (grid ceil(n / ZW_MV_SIMDGROUPS)); tiled ZW_MM_THREADS threads (grid
// (ceil(n / BN), ceil(m / BM))); simd additionally needs 32-wide simdgroups.

#define ZW_MATMUL_ARGS                                                                        \
  device const float *a [[buffer(0)]], device const uchar *b [[buffer(1)]],                   \
      device float *c [[buffer(2)]], constant ZwMatmulParams &p [[buffer(3)]]

#define ZW_MATMUL_KERNELS(suffix, Type)                                                       \
  kernel void zwk_matvec_##suffix(ZW_MATMUL_ARGS, uint tg [[threadgroup_position_in_grid]],   \
                                  uint lane [[thread_index_in_simdgroup]],                    \
                                  uint sg [[simdgroup_index_in_threadgroup]],                 \
                                  uint simdgroups [[simdgroups_per_threadgroup]],             \
                                  uint simd_width [[threads_per_simdgroup]]) {                \
    zw_matvec(Type(), a, b, c, p, tg * simdgroups + sg, lane, simd_width);                    \
  }                                                                                           \
  kernel void zwk_matmul_tiled_##suffix(ZW_MATMUL_ARGS,                                       \
                                        threadgroup float* tile_mem ZW_THREADGROUP_ARG(0),    \
                                        uint2 tg [[threadgroup_position_in_grid]],            \
                                        uint tid [[thread_index_in_threadgroup]]) {           \
    zw_matmul_tiled(Type(), a, b, c, p, tg, tid, tile_mem);                                   \
  }

#define ZW_MATMUL_SIMD_KERNEL(suffix, Type)                                                   \
  kernel void zwk_matmul_simd_##suffix(ZW_MATMUL_ARGS,                                        \
                                       threadgroup float* tile_mem ZW_THREADGROUP_ARG(0),     \
                                       uint2 tg [[threadgroup_position_in_grid]],             \
                                       uint tid [[thread_index_in_threadgroup]],              \
                                       uint sg [[simdgroup_index_in_threadgroup]]) {          \
    zw_matmul_simd(Type(), a, b, c, p, tg, tid, sg, tile_mem);                                \
  }

ZW_MATMUL_KERNELS(f32, ZwF32)
ZW_MATMUL_KERNELS(f16, ZwF16)
ZW_MATMUL_KERNELS(q8_0, ZwQ8_0)
ZW_MATMUL_KERNELS(q4_1, ZwQ4_1)
ZW_MATMUL_KERNELS(q4_0, ZwQ4_0)
ZW_MATMUL_KERNELS(q5_0, ZwQ5_0)
ZW_MATMUL_KERNELS(q4_k, ZwQ4_K)
ZW_MATMUL_KERNELS(q5_k, ZwQ5_K)
ZW_MATMUL_KERNELS(q6_k, ZwQ6_K)

#if __METAL_VERSION__ >= 230
ZW_MATMUL_SIMD_KERNEL(f32, ZwF32)
ZW_MATMUL_SIMD_KERNEL(f16, ZwF16)
ZW_MATMUL_SIMD_KERNEL(q8_0, ZwQ8_0)
ZW_MATMUL_SIMD_KERNEL(q4_1, ZwQ4_1)
ZW_MATMUL_SIMD_KERNEL(q4_0, ZwQ4_0)
ZW_MATMUL_SIMD_KERNEL(q5_0, ZwQ5_0)
ZW_MATMUL_SIMD_KERNEL(q4_k, ZwQ4_K)
ZW_MATMUL_SIMD_KERNEL(q5_k, ZwQ5_K)
ZW_MATMUL_SIMD_KERNEL(q6_k, ZwQ6_K)
#endif
