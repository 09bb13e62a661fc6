// Kernel parameter blocks, shared verbatim by the Metal shaders (constant
// address space, bound with setBytes) and the Objective-C++ executor.
//
// Only 4-byte scalar fields, so C++ and Metal Shading Language lay every
// struct out identically without any packing pragmas; the static_asserts
// check that on both sides. Counts are unsigned: validation has already
// proved them positive and every byte range they imply lies below 4 GiB.
#ifndef ZW_METAL_PARAMS_H
#define ZW_METAL_PARAMS_H

#if !defined(__METAL_VERSION__)
#include <stdint.h>
#endif

// Matmul: C[m,n] (+)= A[m,k] . B^T, B stored [n,k].
struct ZwMatmulParams {
  uint32_t m, n, k;
  uint32_t b_row_bytes;  // bytes of one B row (row_bytes(b_type, k))
  uint32_t accumulate;   // 1: C += A.B^T
};

// Elementwise over n values; s is the factor of scale.
struct ZwElementwiseParams {
  uint32_t n;
  float s;
};

// layernorm / rmsnorm over rows of cols.
struct ZwNormParams {
  uint32_t rows, cols;
  float eps;
};

// softmax(scale * x) per row; causal keeps cols <= r + (cols - rows).
struct ZwSoftmaxParams {
  uint32_t rows, cols;
  float scale;
  uint32_t causal;
};

// Rotary embedding over [rows, heads, head_dim].
struct ZwRopeParams {
  uint32_t rows, heads, head_dim;
  uint32_t pos0;
  float theta;
  uint32_t adjacent;
  // 1: buffer(2) holds head_dim/2 (hi, lo) float pairs whose sum is the
  // frequency theta^(-2i/head_dim) computed in double on the host.
  uint32_t has_freq_table;
  // 1: buffer(4) holds head_dim/2 f32 divisors of the frequencies (zw.rope_factors).
  uint32_t has_factors;
};
// Largest frequency table sent with setBytes (2 KiB: Metal wants under 4 KiB
// there); head_dim <= 512. Larger heads compute frequencies in float.
#define ZW_ROPE_MAX_TABLE_PAIRS 256

// Attention: q, out [seq_q, heads, head_dim]; k, v [seq_kv, kv_heads, head_dim].
struct ZwAttentionParams {
  uint32_t seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  uint32_t flags;  // ZW_CAUSAL | ZW_KV_F16
};

// Gather rows of a table into f32 rows.
struct ZwGatherParams {
  uint32_t n, dim;
  uint32_t row_bytes;  // bytes of one table row
  uint32_t rows;       // table rows: ids are re-checked against [0, rows) on the GPU
};

// Tile shape of the tiled matmul kernels (both variants): a threadgroup of
// ZW_MM_THREADS threads computes a ZW_MM_BM x ZW_MM_BN block of C, stepping
// k by ZW_MM_BK (one quantized block).
#define ZW_MM_BM 32
#define ZW_MM_BN 64
#define ZW_MM_BK 32
#define ZW_MM_THREADS 128
// Threadgroup memory of the tiled kernels: A tile, then B tile (the C tile
// reuses it at the end).
#define ZW_MM_TILE_FLOATS (ZW_MM_BM * ZW_MM_BK + ZW_MM_BK * ZW_MM_BN)
// Mat-vec kernels serve m <= ZW_MV_MAX_ROWS (one simdgroup per output column).
#define ZW_MV_MAX_ROWS 8
#define ZW_MV_SIMDGROUPS 4
// Reductions (norms, softmax) keep one partial per simdgroup in threadgroup
// memory: 64 covers a 1024-thread threadgroup with 16-wide simdgroups.
#define ZW_MAX_SIMDGROUPS 64

static_assert(sizeof(ZwMatmulParams) == 20, "layout shared with Metal");
static_assert(sizeof(ZwElementwiseParams) == 8, "layout shared with Metal");
static_assert(sizeof(ZwNormParams) == 12, "layout shared with Metal");
static_assert(sizeof(ZwSoftmaxParams) == 16, "layout shared with Metal");
static_assert(sizeof(ZwRopeParams) == 32, "layout shared with Metal");
static_assert(sizeof(ZwAttentionParams) == 28, "layout shared with Metal");
static_assert(sizeof(ZwGatherParams) == 16, "layout shared with Metal");

#endif  // ZW_METAL_PARAMS_H
