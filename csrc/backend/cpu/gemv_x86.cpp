// AVX2 row-dot kernels for small m (decode): C[i, j] (+)= A row i . B row j.
//
// No packing: B streams straight from guest memory once per call, each
// vector of it (dequantized in registers for block types, converted for f16)
// feeding up to kRowDotsMaxA rows of A. Accumulators are fixed-size arrays
// over compile-time counts, fully unrolled so they live in ymm registers.
#include "backend/cpu/gemm_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <algorithm>

#include "backend/cpu/x86_simd.hpp"
#include "kernels/kernel_math.h"

namespace zw::cpu::gemm {
namespace {
using namespace zw::cpu::x86;

inline void store(float* c, float v, bool accumulate) { *c = accumulate ? *c + v : v; }

// Dense (f32/f16) B: RB rows of B x IA rows of A per pass (RB*IA <= 8 accumulators).
template <int IA>
ZW_AVX2 void dense_rows(const float* a, size_t lda, const uint8_t* b, size_t row_bytes, DType type,
                        int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  constexpr int RB = IA == 1 ? 4 : 2;
  int k8 = k / 8 * 8;
  for (int j = 0; j < rows_b; j += RB) {
    const uint8_t* r[RB];
    for (int t = 0; t < RB; ++t)  // past the end: repeat the last row, discard its result
      r[t] = b + static_cast<size_t>(std::min(j + t, rows_b - 1)) * row_bytes;
    __m256 acc[RB][IA];
#pragma GCC unroll 8
    for (int t = 0; t < RB; ++t)
#pragma GCC unroll 4
      for (int i = 0; i < IA; ++i) acc[t][i] = _mm256_setzero_ps();
    for (int p = 0; p < k8; p += 8) {
      __m256 bv[RB];
#pragma GCC unroll 4
      for (int t = 0; t < RB; ++t) bv[t] = load8(r[t], type, p);
#pragma GCC unroll 4
      for (int i = 0; i < IA; ++i) {
        __m256 av = _mm256_loadu_ps(a + i * lda + p);
#pragma GCC unroll 4
        for (int t = 0; t < RB; ++t) acc[t][i] = _mm256_fmadd_ps(av, bv[t], acc[t][i]);
      }
    }
    for (int t = 0; t < RB && j + t < rows_b; ++t)
      for (int i = 0; i < IA; ++i) {
        float dot = hsum(acc[t][i]);
        for (int p = k8; p < k; ++p)
          dot += a[i * lda + p] * (type == DType::f16 ? zw_f16_to_f32(zw_load_u16le(r[t] + 2 * p))
                                                      : reinterpret_cast<const float*>(r[t])[p]);
        store(c + i * ldc + j + t, dot, accumulate);
      }
  }
}

// Block-quantized B: each 32-value chunk (a block, or a sub-block of a
// K-quant super-block) is dequantized once (4 vectors) and dotted with IA rows
// of A. With few A rows the FMA latency chain, not throughput, is the limit,
// so each row then keeps 4 accumulators (one per vector).
template <DType T>
ZW_AVX2 inline void dequant_chunk(const uint8_t* row, int c, __m256 x[4]) {
  if constexpr (T == DType::q8_0) dequant_q8_0(row + c * ZW_Q8_0_BYTES, x);
  else if constexpr (T == DType::q4_1) dequant_q4_1(row + c * ZW_Q4_1_BYTES, x);
  else if constexpr (T == DType::q4_0) dequant_q4_0(row + c * ZW_Q4_0_BYTES, x);
  else if constexpr (T == DType::q5_0) dequant_q5_0(row + c * ZW_Q5_0_BYTES, x);
  else if constexpr (T == DType::q4_k) dequant_q4_k(row + (c >> 3) * ZW_Q4_K_BYTES, c & 7, x);
  else if constexpr (T == DType::q5_k) dequant_q5_k(row + (c >> 3) * ZW_Q5_K_BYTES, c & 7, x);
  else dequant_q6_k(row + (c >> 3) * ZW_Q6_K_BYTES, c & 7, x);
}

template <int IA, DType T>
ZW_AVX2 void quant_rows(const float* a, size_t lda, const uint8_t* b, size_t row_bytes,
                        int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  constexpr int NACC = IA <= 2 ? 4 : 2;
  int chunks = k / ZW_QBLOCK;
  for (int j = 0; j < rows_b; ++j) {
    const uint8_t* row = b + static_cast<size_t>(j) * row_bytes;
    __m256 acc[IA][NACC];
#pragma GCC unroll 4
    for (int i = 0; i < IA; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NACC; ++v) acc[i][v] = _mm256_setzero_ps();
    for (int q = 0; q < chunks; ++q) {
      __m256 x[4];
      dequant_chunk<T>(row, q, x);
      const float* ap = a + q * ZW_QBLOCK;
#pragma GCC unroll 4
      for (int i = 0; i < IA; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < 4; ++v)
          acc[i][v % NACC] =
              _mm256_fmadd_ps(x[v], _mm256_loadu_ps(ap + i * lda + 8 * v), acc[i][v % NACC]);
    }
    for (int i = 0; i < IA; ++i) {
      __m256 sum = acc[i][0];
      for (int v = 1; v < NACC; ++v) sum = _mm256_add_ps(sum, acc[i][v]);
      store(c + i * ldc + j, hsum(sum), accumulate);
    }
  }
}

template <int IA>
ZW_AVX2 void rows_fixed(const float* a, size_t lda, const uint8_t* b, size_t row_bytes,
                        DType type, int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  switch (type) {
    case DType::f32:
    case DType::f16:
      return dense_rows<IA>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
    case DType::q8_0:
      return quant_rows<IA, DType::q8_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_1:
      return quant_rows<IA, DType::q4_1>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_0:
      return quant_rows<IA, DType::q4_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q5_0:
      return quant_rows<IA, DType::q5_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_k:
      return quant_rows<IA, DType::q4_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q5_k:
      return quant_rows<IA, DType::q5_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q6_k:
      return quant_rows<IA, DType::q6_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
  }
}

void row_dots(const float* a, size_t lda, int rows_a, const uint8_t* b, size_t row_bytes,
              DType type, int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  switch (rows_a) {
    case 1: return rows_fixed<1>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
    case 2: return rows_fixed<2>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
    case 3: return rows_fixed<3>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
    default: return rows_fixed<4>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
  }
}

}  // namespace

RowDots row_dots_avx2() { return row_dots; }

}  // namespace zw::cpu::gemm

#else

namespace zw::cpu::gemm {
RowDots row_dots_avx2() { return nullptr; }
}  // namespace zw::cpu::gemm

#endif
