// AVX2/FMA/F16C helpers shared by the x86 kernel files. Include only inside
// an x86 + GCC/Clang guard; every function carries the target attribute, so
// the including file needs no -mavx2.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "ops/op_args.hpp"

#define ZW_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace zw::cpu::x86 {

ZW_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Eight f32 (or f16) values of a dense B row at element p.
ZW_AVX2 inline __m256 load8(const uint8_t* row, DType type, int p) {
  if (type == DType::f16)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * p)));
  return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + p);
}

// Eight int8 at p as floats; eight uint8 (low bytes of v) as floats.
ZW_AVX2 inline __m256 i8x8_to_ps(const uint8_t* p) {
  return _mm256_cvtepi32_ps(
      _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
ZW_AVX2 inline __m256 u8x8_to_ps(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }

// The two halves at p (a block header: d, or d and m) as floats in lanes 0, 1.
// Reads 4 bytes: for Q8_0 the other two are the block's first quants.
ZW_AVX2 inline __m128 halves_at(const uint8_t* p) {
  int32_t bits;
  std::memcpy(&bits, p, 4);  // one unaligned load (x86 is little-endian, like GGUF)
  return _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
}

// Dequantize one 32-value block into x[0..4).
ZW_AVX2 inline void dequant_q8_0(const uint8_t* blk, __m256 x[4]) {
  __m256 d = _mm256_broadcastss_ps(halves_at(blk));
#pragma GCC unroll 4  // keep x[] in registers: a rolled loop spills it to the stack
  for (int v = 0; v < 4; ++v) x[v] = _mm256_mul_ps(d, i8x8_to_ps(blk + 2 + 8 * v));
}
ZW_AVX2 inline void dequant_q4_1(const uint8_t* blk, __m256 x[4]) {
  __m128 dm = halves_at(blk);
  __m256 d = _mm256_broadcastss_ps(dm), m = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
  __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 4));
  __m128i low4 = _mm_set1_epi8(0x0f);
  __m128i lo = _mm_and_si128(q, low4);                     // elements 0..15
  __m128i hi = _mm_and_si128(_mm_srli_epi16(q, 4), low4);  // elements 16..31
  x[0] = _mm256_fmadd_ps(d, u8x8_to_ps(lo), m);
  x[1] = _mm256_fmadd_ps(d, u8x8_to_ps(_mm_srli_si128(lo, 8)), m);
  x[2] = _mm256_fmadd_ps(d, u8x8_to_ps(hi), m);
  x[3] = _mm256_fmadd_ps(d, u8x8_to_ps(_mm_srli_si128(hi, 8)), m);
}

}  // namespace zw::cpu::x86
