// AVX2/FMA kernels of decode attention (gemm_internal.hpp: KeyDots,
// AddWeightedRows). Scores come eight keys at a time: eight dot-product
// accumulators per query head, reduced together by one transpose-add, so the
// horizontal sums cost a few shuffles per eight keys instead of per key. The
// weighted sum of V keeps each head's 8-float slice of the output in a
// register across the keys and reads each V slice once for all heads.
#include "backend/cpu/gemm_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))

#include <algorithm>

#include "backend/cpu/x86_simd.hpp"

namespace zw::cpu::gemm {
namespace {

// Lane u of the result is the sum of the eight lanes of a[u].
ZW_AVX2 inline __m256 transpose_sum8(const __m256 a[8]) {
  __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // a0..a3 | a4..a7, per 128-bit half
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

ZW_AVX2 void key_dots(const float* q, int heads, const float* k, size_t stride, int keys, int d, float scale,
                      float* scores, int lds) {
  const int d8 = d / 8 * 8;
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int j = 0; j < keys; j += 8) {
    const int nk = std::min(8, keys - j);
    const float* kr[8];
    for (int u = 0; u < 8; ++u) kr[u] = k + static_cast<size_t>(j + std::min(u, nk - 1)) * stride;  // pad: repeat
    for (int g = 0; g < heads; ++g) {
      const float* qg = q + static_cast<size_t>(g) * d;
      __m256 acc[8];
#pragma GCC unroll 8
      for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
      for (int t = 0; t < d8; t += 8) {
        __m256 qv = _mm256_loadu_ps(qg + t);
#pragma GCC unroll 8
        for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[u] + t), acc[u]);
      }
      __m256 s = transpose_sum8(acc);
      if (d8 < d) {
        alignas(32) float tail[8];
        for (int u = 0; u < 8; ++u) {
          float sum = 0.0f;
          for (int t = d8; t < d; ++t) sum += qg[t] * kr[u][t];
          tail[u] = sum;
        }
        s = _mm256_add_ps(s, _mm256_load_ps(tail));
      }
      s = _mm256_mul_ps(s, vscale);
      float* out = scores + static_cast<size_t>(g) * lds + j;
      if (nk == 8) {
        _mm256_storeu_ps(out, s);
      } else {
        alignas(32) float part[8];
        _mm256_store_ps(part, s);
        std::copy(part, part + nk, out);
      }
    }
  }
}

template <int H>
ZW_AVX2 void add_weighted_rows_fixed(const float* p, int lds, const float* v, size_t stride, int keys, int d,
                                     float* acc) {
  const int d8 = d / 8 * 8;
  for (int t = 0; t < d8; t += 8) {
    __m256 a[H];
#pragma GCC unroll 8
    for (int g = 0; g < H; ++g) a[g] = _mm256_loadu_ps(acc + static_cast<size_t>(g) * d + t);
    const float* vt = v + t;
    for (int j = 0; j < keys; ++j, vt += stride) {
      __m256 vv = _mm256_loadu_ps(vt);
#pragma GCC unroll 8
      for (int g = 0; g < H; ++g)
        a[g] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + static_cast<size_t>(g) * lds + j), vv, a[g]);
    }
#pragma GCC unroll 8
    for (int g = 0; g < H; ++g) _mm256_storeu_ps(acc + static_cast<size_t>(g) * d + t, a[g]);
  }
  for (int t = d8; t < d; ++t)
    for (int g = 0; g < H; ++g) {
      float sum = acc[static_cast<size_t>(g) * d + t];
      for (int j = 0; j < keys; ++j) sum += p[static_cast<size_t>(g) * lds + j] * v[static_cast<size_t>(j) * stride + t];
      acc[static_cast<size_t>(g) * d + t] = sum;
    }
}

ZW_AVX2 void add_weighted_rows(const float* p, int lds, int heads, const float* v, size_t stride, int keys, int d,
                               float* acc) {
  switch (heads) {
    case 1: return add_weighted_rows_fixed<1>(p, lds, v, stride, keys, d, acc);
    case 2: return add_weighted_rows_fixed<2>(p, lds, v, stride, keys, d, acc);
    case 3: return add_weighted_rows_fixed<3>(p, lds, v, stride, keys, d, acc);
    case 4: return add_weighted_rows_fixed<4>(p, lds, v, stride, keys, d, acc);
    case 5: return add_weighted_rows_fixed<5>(p, lds, v, stride, keys, d, acc);
    case 6: return add_weighted_rows_fixed<6>(p, lds, v, stride, keys, d, acc);
    case 7: return add_weighted_rows_fixed<7>(p, lds, v, stride, keys, d, acc);
    default: return add_weighted_rows_fixed<8>(p, lds, v, stride, keys, d, acc);
  }
}

}  // namespace

KeyDots key_dots_avx2() { return key_dots; }
AddWeightedRows add_weighted_rows_avx2() { return add_weighted_rows; }

}  // namespace zw::cpu::gemm

#else

namespace zw::cpu::gemm {
KeyDots key_dots_avx2() { return nullptr; }
AddWeightedRows add_weighted_rows_avx2() { return nullptr; }
}  // namespace zw::cpu::gemm

#endif
