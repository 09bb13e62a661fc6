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
#include "kernels/kernel_math.h"

namespace zw::cpu::gemm {
namespace {

// Lane u of the result is the sum of the eight lanes of a[u].
ZW_AVX2 inline __m256 transpose_sum8(const __m256 a[8]) {
  __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
  __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
  __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);  // a0..a3 | a4..a7, per 128-bit half
  return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Eight K/V elements at t of a row: f32, or binary16 widened by F16C.
template <bool F16>
ZW_AVX2 inline __m256 kv8(const uint8_t* row, int t) {
  if constexpr (F16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * t)));
  else return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + t);
}
template <bool F16>
inline float kv1(const uint8_t* row, int t) {
  if constexpr (F16) return zw_f16_to_f32(zw_load_u16le(row + 2 * t));
  else return reinterpret_cast<const float*>(row)[t];
}

template <bool F16>
ZW_AVX2 void key_dots_t(const float* q, int heads, const uint8_t* k, size_t stride, int keys, int d, float scale,
                        float* scores, int lds) {
  const int d8 = d / 8 * 8;
  const __m256 vscale = _mm256_set1_ps(scale);
  for (int j = 0; j < keys; j += 8) {
    const int nk = std::min(8, keys - j);
    const uint8_t* kr[8];
    for (int u = 0; u < 8; ++u) kr[u] = k + static_cast<size_t>(j + std::min(u, nk - 1)) * stride;  // pad: repeat
    for (int g = 0; g < heads; ++g) {
      const float* qg = q + static_cast<size_t>(g) * d;
      __m256 acc[8];
#pragma GCC unroll 8
      for (int u = 0; u < 8; ++u) acc[u] = _mm256_setzero_ps();
      for (int t = 0; t < d8; t += 8) {
        __m256 qv = _mm256_loadu_ps(qg + t);
#pragma GCC unroll 8
        for (int u = 0; u < 8; ++u) acc[u] = _mm256_fmadd_ps(qv, kv8<F16>(kr[u], t), acc[u]);
      }
      __m256 s = transpose_sum8(acc);
      if (d8 < d) {
        alignas(32) float tail[8];
        for (int u = 0; u < 8; ++u) {
          float sum = 0.0f;
          for (int t = d8; t < d; ++t) sum += qg[t] * kv1<F16>(kr[u], t);
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

ZW_AVX2 void key_dots(const float* q, int heads, const uint8_t* k, size_t stride, bool f16, int keys, int d,
                      float scale, float* scores, int lds) {
  if (f16) key_dots_t<true>(q, heads, k, stride, keys, d, scale, scores, lds);
  else key_dots_t<false>(q, heads, k, stride, keys, d, scale, scores, lds);
}

template <int H, bool F16>
ZW_AVX2 void add_weighted_rows_fixed(const float* p, int lds, const uint8_t* v, size_t stride, int keys, int d,
                                     float* acc) {
  const int d8 = d / 8 * 8;
  for (int t = 0; t < d8; t += 8) {
    __m256 a[H];
#pragma GCC unroll 8
    for (int g = 0; g < H; ++g) a[g] = _mm256_loadu_ps(acc + static_cast<size_t>(g) * d + t);
    const uint8_t* vj = v;
    for (int j = 0; j < keys; ++j, vj += stride) {
      __m256 vv = kv8<F16>(vj, t);
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
      for (int j = 0; j < keys; ++j)
        sum += p[static_cast<size_t>(g) * lds + j] * kv1<F16>(v + static_cast<size_t>(j) * stride, t);
      acc[static_cast<size_t>(g) * d + t] = sum;
    }
}

template <bool F16>
ZW_AVX2 void add_weighted_rows_t(const float* p, int lds, int heads, const uint8_t* v, size_t stride, int keys, int d,
                                 float* acc) {
  switch (heads) {
    case 1: return add_weighted_rows_fixed<1, F16>(p, lds, v, stride, keys, d, acc);
    case 2: return add_weighted_rows_fixed<2, F16>(p, lds, v, stride, keys, d, acc);
    case 3: return add_weighted_rows_fixed<3, F16>(p, lds, v, stride, keys, d, acc);
    case 4: return add_weighted_rows_fixed<4, F16>(p, lds, v, stride, keys, d, acc);
    case 5: return add_weighted_rows_fixed<5, F16>(p, lds, v, stride, keys, d, acc);
    case 6: return add_weighted_rows_fixed<6, F16>(p, lds, v, stride, keys, d, acc);
    case 7: return add_weighted_rows_fixed<7, F16>(p, lds, v, stride, keys, d, acc);
    default: return add_weighted_rows_fixed<8, F16>(p, lds, v, stride, keys, d, acc);
  }
}

ZW_AVX2 void add_weighted_rows(const float* p, int lds, int heads, const uint8_t* v, size_t stride, bool f16, int keys,
                               int d, float* acc) {
  if (f16) add_weighted_rows_t<true>(p, lds, heads, v, stride, keys, d, acc);
  else add_weighted_rows_t<false>(p, lds, heads, v, stride, keys, d, acc);
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
