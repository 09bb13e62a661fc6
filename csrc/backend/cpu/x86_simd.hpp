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

// 32 int8 (q) as four vectors of floats, scaled: x[v] = d_v * q[8v .. 8v+8).
ZW_AVX2 inline void i8x32_scaled(__m256i q, __m256 d_lo, __m256 d_hi, __m256 x[4]) {
  __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  x[0] = _mm256_mul_ps(d_lo, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)));
  x[1] = _mm256_mul_ps(d_lo, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))));
  x[2] = _mm256_mul_ps(d_hi, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)));
  x[3] = _mm256_mul_ps(d_hi, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))));
}

// 16 bytes of nibbles as 32 bytes: low nibbles (elements 0..15), then high (16..31).
ZW_AVX2 inline __m256i nibbles_lo_hi(const uint8_t* p) {
  __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i low4 = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q, 4), low4), _mm_and_si128(q, low4));
}

// Byte j = 0xff where bit j of the 32-bit little-endian word at p is set.
ZW_AVX2 inline __m256i bytes_from_bits32(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, 4);
  const __m256i spread = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), spread);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));  // all bits but bit j%8
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

ZW_AVX2 inline void dequant_q4_0(const uint8_t* blk, __m256 x[4]) {
  __m256 d = _mm256_broadcastss_ps(halves_at(blk));
  i8x32_scaled(_mm256_sub_epi8(nibbles_lo_hi(blk + 2), _mm256_set1_epi8(8)), d, d, x);
}

ZW_AVX2 inline void dequant_q5_0(const uint8_t* blk, __m256 x[4]) {
  __m256 d = _mm256_broadcastss_ps(halves_at(blk));
  __m256i high = _mm256_and_si256(bytes_from_bits32(blk + 2), _mm256_set1_epi8(0x10));
  __m256i q = _mm256_or_si256(nibbles_lo_hi(blk + 6), high);
  i8x32_scaled(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), d, d, x);
}

ZW_AVX2 inline float f16_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// K-quant chunk c (values 32c .. 32c+31) of the super-block at sb.
ZW_AVX2 inline void dequant_q4_k(const uint8_t* sb, int c, __m256 x[4]) {
  const uint8_t* sc = sb + 4;
  int scale = c < 4 ? (sc[c] & 63) : ((sc[c + 4] & 0x0f) | ((sc[c - 4] >> 6) << 4));
  int min = c < 4 ? (sc[c + 4] & 63) : ((sc[c + 4] >> 4) | ((sc[c] >> 6) << 4));
  __m256 d = _mm256_set1_ps(f16_at(sb) * static_cast<float>(scale));
  __m256 m = _mm256_set1_ps(f16_at(sb + 2) * static_cast<float>(min));
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16 + 32 * (c >> 1)));
  q = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128((c & 1) * 4)), _mm256_set1_epi8(0x0f));
  i8x32_scaled(q, d, d, x);
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) x[v] = _mm256_sub_ps(x[v], m);
}

ZW_AVX2 inline void dequant_q5_k(const uint8_t* sb, int c, __m256 x[4]) {
  const uint8_t* sc = sb + 4;
  int scale = c < 4 ? (sc[c] & 63) : ((sc[c + 4] & 0x0f) | ((sc[c - 4] >> 6) << 4));
  int min = c < 4 ? (sc[c + 4] & 63) : ((sc[c + 4] >> 4) | ((sc[c] >> 6) << 4));
  __m256 d = _mm256_set1_ps(f16_at(sb) * static_cast<float>(scale));
  __m256 m = _mm256_set1_ps(f16_at(sb + 2) * static_cast<float>(min));
  __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 48 + 32 * (c >> 1)));
  q = _mm256_and_si256(_mm256_srl_epi16(q, _mm_cvtsi32_si128((c & 1) * 4)), _mm256_set1_epi8(0x0f));
  __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16));
  qh = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(c)), _mm256_set1_epi8(0x01));
  q = _mm256_or_si256(q, _mm256_slli_epi16(qh, 4));
  i8x32_scaled(q, d, d, x);
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v) x[v] = _mm256_sub_ps(x[v], m);
}

ZW_AVX2 inline void dequant_q6_k(const uint8_t* sb, int c, __m256 x[4]) {
  int h = c >> 2, s = c & 3;
  float d = f16_at(sb + 208);
  __m256 d_lo = _mm256_set1_ps(d * static_cast<float>(static_cast<int8_t>(sb[192 + 2 * c])));
  __m256 d_hi = _mm256_set1_ps(d * static_cast<float>(static_cast<int8_t>(sb[193 + 2 * c])));
  __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * h + 32 * (s & 1)));
  ql = _mm256_and_si256(_mm256_srl_epi16(ql, _mm_cvtsi32_si128(s < 2 ? 0 : 4)), _mm256_set1_epi8(0x0f));
  __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * h));
  qh = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * s)), _mm256_set1_epi8(0x03));
  __m256i q = _mm256_sub_epi8(_mm256_or_si256(ql, _mm256_slli_epi16(qh, 4)), _mm256_set1_epi8(32));
  i8x32_scaled(q, d_lo, d_hi, x);
}

}  // namespace zw::cpu::x86
