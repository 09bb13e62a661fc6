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

// The two halves at p (a block header: d, or d and m) as floats in lanes 0, 1.
// Reads 4 bytes: for Q8_0 the other two are the block's first quants.
ZW_AVX2 inline __m128 halves_at(const uint8_t* p) {
  int32_t bits;
  std::memcpy(&bits, p, 4);  // one unaligned load (x86 is little-endian, like GGUF)
  return _mm_cvtph_ps(_mm_cvtsi32_si128(bits));
}

ZW_AVX2 inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

}  // namespace zw::cpu::x86
