// AVX2 + FMA + F16C matmul kernels (x86-64-v3: Haswell, Zen and later).
//
// Compiled with per-function target attributes rather than -mavx2 so the rest
// of the build stays baseline x86-64 and the same binary runs everywhere;
// avx2_kernels() hands these out only after a runtime CPUID check.
#include "backend/cpu/gemm_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

#include <algorithm>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/x86_simd.hpp"

namespace zw::cpu::gemm {
namespace {
using namespace zw::cpu::x86;

// 6x16 register tile: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16
// ymm registers; 12 independent FMA chains cover FMA latency x 2 ports.
ZW_AVX2 void micro_avx2(int kc, const float* ap, const float* bp, float* c, size_t ldc, int mr,
                        int nr, bool accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int p = 0; p < kc; ++p) {
    __m256 b0 = _mm256_load_ps(bp), b1 = _mm256_load_ps(bp + 8);
    __m256 a = _mm256_broadcast_ss(ap + 0);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(ap + 1);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(ap + 2);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(ap + 3);
    c30 = _mm256_fmadd_ps(a, b0, c30), c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(ap + 4);
    c40 = _mm256_fmadd_ps(a, b0, c40), c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(ap + 5);
    c50 = _mm256_fmadd_ps(a, b0, c50), c51 = _mm256_fmadd_ps(a, b1, c51);
    ap += MR;
    bp += NR;
  }
  __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int i = 0; i < MR; ++i) {
      float* row = c + i * ldc;
      if (accumulate) {
        acc[i][0] = _mm256_add_ps(acc[i][0], _mm256_loadu_ps(row));
        acc[i][1] = _mm256_add_ps(acc[i][1], _mm256_loadu_ps(row + 8));
      }
      _mm256_storeu_ps(row, acc[i][0]);
      _mm256_storeu_ps(row + 8, acc[i][1]);
    }
    return;
  }
  alignas(32) float tile[MR][NR];
  for (int i = 0; i < MR; ++i) {
    _mm256_store_ps(tile[i], acc[i][0]);
    _mm256_store_ps(tile[i] + 8, acc[i][1]);
  }
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    for (int j = 0; j < nr; ++j) row[j] = accumulate ? row[j] + tile[i][j] : tile[i][j];
  }
}

// 8x8 transpose of rows r[0..8) at element p into out[p*NR + j0 .. +8).
ZW_AVX2 inline void transpose8_store(__m256 r[8], float* out) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  _mm256_store_ps(out + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_store_ps(out + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_store_ps(out + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_store_ps(out + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_store_ps(out + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_store_ps(out + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_store_ps(out + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_store_ps(out + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
}

// Dense rows (f32/f16) transpose 8x8 at a time; block types dequantize each
// row slice with load_row and scatter it into the strip.
ZW_AVX2 void pack_b_avx2(const uint8_t* b, size_t row_bytes, DType type, int nb, int p0, int kc,
                         float* out) {
  bool dense = type == DType::f32 || type == DType::f16;
  for (int s = 0; s < nb; s += NR, out += static_cast<size_t>(kc) * NR) {
    int nr = std::min(NR, nb - s);
    if (dense && nr == NR && kc % 8 == 0) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t* rows = b + (s + half * 8) * row_bytes;
        for (int p = 0; p < kc; p += 8) {
          __m256 r[8];
          for (int i = 0; i < 8; ++i) r[i] = load8(rows + i * row_bytes, type, p0 + p);
          transpose8_store(r, out + p * NR + half * 8);
        }
      }
      continue;
    }
    alignas(32) float tmp[KC];
    for (int j = 0; j < NR; ++j) {
      if (j < nr)
        load_row(b + (s + j) * row_bytes, type, p0, kc, tmp);
      else
        std::fill(tmp, tmp + kc, 0.0f);
      for (int p = 0; p < kc; ++p) out[p * NR + j] = tmp[p];
    }
  }
}

}  // namespace

// AVX2, FMA and F16C present and YMM state enabled by the OS. Read from
// CPUID directly: compilers disagree on __builtin_cpu_supports names.
static bool cpu_has_avx2_fma_f16c() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!(fma && osxsave && avx && f16c)) return false;
  unsigned xcr0_lo, xcr0_hi;
  __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if ((xcr0_lo & 6u) != 6u) return false;  // XMM and YMM state saved by the OS
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return b & (1u << 5);  // AVX2
}

const Kernels* avx2_kernels() {
  static const Kernels k{micro_avx2,      row_dots_avx2(),          pack_b_avx2,
                         key_dots_avx2(), add_weighted_rows_avx2(), "avx2+fma"};
  static const bool ok = cpu_has_avx2_fma_f16c();
  return ok ? &k : nullptr;
}

}  // namespace zw::cpu::gemm

#else  // not x86 with GCC/Clang: no AVX2 kernels in this build

namespace zw::cpu::gemm {
const Kernels* avx2_kernels() { return nullptr; }
}  // namespace zw::cpu::gemm

#endif
