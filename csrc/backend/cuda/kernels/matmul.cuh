// C[m,n] (+)= A[m,k] . B^T, A f32 row-major, B [n,k] in f32/f16 or a GGUF block type
// (dequantized on the fly, element by element, as tiles are loaded). Plain
// f32 FMA throughout: no tensor cores, whose TF32 inputs would miss the 1e-5
// relative accuracy zerowasm promises against f64.
#ifndef ZEROWASM_CUDA_MATMUL_CUH
#define ZEROWASM_CUDA_MATMUL_CUH

#include "backend/cuda/kernels/common.cuh"

namespace zw_cuda {

// m <= kGemvMaxM (decode): one warp per row j of B. Lane l takes element l of
// every 32-element block, so each warp load is one contiguous 32-element span
// (for 32-value block types exactly one block or K-quant sub-block, whose scale
// all lanes share), and every
// B element is fetched once and used for all m rows of A.
template <int T>
ZW_DEVICE_FN void gemv(const MatmulParams& p) {
  const int lane = threadIdx.x & 31;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (j >= p.n) return;  // the whole warp leaves together: no shuffles are skipped
  const uint8_t* brow = ptr<const uint8_t>(p.b) + j * p.b_row_bytes;
  const float* a = ptr<const float>(p.a);
  const int m = p.m;
  const int64_t k = p.k;
  float acc[kGemvMaxM];
  ZW_UNROLL
  for (int r = 0; r < kGemvMaxM; ++r) acc[r] = 0.0f;
  for (int64_t e = lane; e < k; e += 32) {
    const float w = load_weight<T>(brow, e);
    ZW_UNROLL
    for (int r = 0; r < kGemvMaxM; ++r)
      if (r < m) acc[r] += a[r * k + e] * w;
  }
  float* c = ptr<float>(p.c);
  ZW_UNROLL
  for (int r = 0; r < kGemvMaxM; ++r) {
    if (r < m) {  // uniform across the warp
      const float s = warp_sum(acc[r]);
      if (lane == 0) {
        float* cj = c + static_cast<int64_t>(r) * p.n + j;
        *cj = p.accumulate ? *cj + s : s;
      }
    }
  }
}

// Shared-memory tiled GEMM: a block computes a BM x BN tile of C with 256
// threads, each owning TM x TN outputs strided by BM/TM rows and BN/TN columns
// (conflict-free shared reads, coalesced C writes). Tiles of A and B, BK deep,
// are staged transposed in shared memory, padded by one column so the
// transposing stores don't hit one bank.
template <int T, int BM, int BN, int BK, int TM, int TN>
ZW_DEVICE_FN void gemm(const MatmulParams& p) {
  constexpr int kRowThreads = BM / TM, kColThreads = BN / TN;
  constexpr int kThreads = kRowThreads * kColThreads;
  static_assert(kThreads == kGemmThreads, "tile shape must use kGemmThreads threads");
  ZW_SHARED float a_tile[BK][BM + 1];
  ZW_SHARED float b_tile[BK][BN + 1];

  const int tid = threadIdx.x;
  const int tx = tid % kColThreads, ty = tid / kColThreads;
  const int64_t row0 = static_cast<int64_t>(blockIdx.x / p.tiles_n) * BM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x % p.tiles_n) * BN;
  const int64_t m = p.m, n = p.n, k = p.k;
  const float* a = ptr<const float>(p.a);
  const uint8_t* b = ptr<const uint8_t>(p.b);

  float acc[TM][TN];
  ZW_UNROLL
  for (int i = 0; i < TM; ++i)
    ZW_UNROLL
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < k; k0 += BK) {
    // Consecutive threads take consecutive k of one row: coalesced loads.
    for (int idx = tid; idx < BM * BK; idx += kThreads) {
      const int r = idx / BK, kk = idx % BK;
      const int64_t gr = row0 + r, gk = k0 + kk;
      a_tile[kk][r] = (gr < m && gk < k) ? a[gr * k + gk] : 0.0f;
    }
    for (int idx = tid; idx < BN * BK; idx += kThreads) {
      const int cc = idx / BK, kk = idx % BK;
      const int64_t gc = col0 + cc, gk = k0 + kk;
      b_tile[kk][cc] = (gc < n && gk < k) ? load_weight<T>(b + gc * p.b_row_bytes, gk) : 0.0f;
    }
    zw_sync_block();
    ZW_UNROLL
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
      ZW_UNROLL
      for (int i = 0; i < TM; ++i) av[i] = a_tile[kk][ty + i * kRowThreads];
      ZW_UNROLL
      for (int j = 0; j < TN; ++j) bv[j] = b_tile[kk][tx + j * kColThreads];
      ZW_UNROLL
      for (int i = 0; i < TM; ++i)
        ZW_UNROLL
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    zw_sync_block();
  }

  float* c = ptr<float>(p.c);
  ZW_UNROLL
  for (int i = 0; i < TM; ++i) {
    const int64_t gr = row0 + ty + i * kRowThreads;
    if (gr >= m) continue;
    ZW_UNROLL
    for (int j = 0; j < TN; ++j) {
      const int64_t gc = col0 + tx + j * kColThreads;
      if (gc >= n) continue;
      float* cij = c + gr * n + gc;
      *cij = p.accumulate ? *cij + acc[i][j] : acc[i][j];
    }
  }
}

}  // namespace zw_cuda

#define ZW_MATMUL_KERNELS(suffix, dtype)                                                            \
  ZW_GLOBAL void zw_gemv_##suffix(zw_cuda::MatmulParams p) { zw_cuda::gemv<dtype>(p); }            \
  ZW_GLOBAL void ZW_LAUNCH_BOUNDS(zw_cuda::kGemmThreads) zw_gemm64_##suffix(zw_cuda::MatmulParams p) { \
    zw_cuda::gemm<dtype, 64, 64, 32, 4, 4>(p);                                                     \
  }                                                                                                \
  ZW_GLOBAL void ZW_LAUNCH_BOUNDS(zw_cuda::kGemmThreads) zw_gemm128_##suffix(zw_cuda::MatmulParams p) { \
    zw_cuda::gemm<dtype, 128, 128, 32, 8, 8>(p);                                                   \
  }

ZW_MATMUL_KERNELS(f32, ZW_DTYPE_F32)
ZW_MATMUL_KERNELS(f16, ZW_DTYPE_F16)
ZW_MATMUL_KERNELS(q8_0, ZW_DTYPE_Q8_0)
ZW_MATMUL_KERNELS(q4_1, ZW_DTYPE_Q4_1)
ZW_MATMUL_KERNELS(q4_0, ZW_DTYPE_Q4_0)
ZW_MATMUL_KERNELS(q5_0, ZW_DTYPE_Q5_0)
ZW_MATMUL_KERNELS(q4_k, ZW_DTYPE_Q4_K)
ZW_MATMUL_KERNELS(q5_k, ZW_DTYPE_Q5_K)
ZW_MATMUL_KERNELS(q6_k, ZW_DTYPE_Q6_K)

#undef ZW_MATMUL_KERNELS

#endif  // ZEROWASM_CUDA_MATMUL_CUH
