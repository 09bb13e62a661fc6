// AVX2 row-dot kernels for small m (decode): C[i, j] (+)= A row i . B row j.
//
// No packing: B streams straight from guest memory once per call, each
// vector of it (dequantized in registers for block types, converted for f16)
// feeding up to kRowDotsMaxA rows of A. Accumulators are fixed-size arrays
// over compile-time counts, fully unrolled so they live in ymm registers.
#include "backend/cpu/gemm_internal.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "backend/cpu/cpu_util.hpp"
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

// Block-quantized B. Every format is x = d * q (+ offset or min) per 32 (Q6_K:
// 16) values, so a block's dot with A is d * sum(a * q) plus (d or m) * sum(a):
// the quants convert to exact floats and multiply A unscaled, and the scale
// costs one FMA per block instead of one multiply per 8 values. The sums of A
// per 32 values (asum) are computed once per call, for all B rows. A thread's
// decode GEMV is bound by these vector ops, not by memory, so each one saved
// counts. (Measured and dropped, all slower than one F16C convert per block:
// converting 8 blocks' f16 scales at once, staged with 2-byte stores (which
// defeat store forwarding), gathered, or packed in general registers. Also
// 4 accumulator slots instead of 2.)
struct GemvScratch {};

// B streams from DRAM in a real decode (a model's weights far exceed the
// caches), and the hardware prefetcher alone leaves a thread short of the
// bandwidth: each block prefetches what its thread reads this far ahead (a
// prefetch past the end of B does not fault). Measured +12-16% on a 178 MB
// Q8_0 output head, +2-3% on Q5_0, neutral on cache-resident B. (On the
// K-quants, a prefetch per 64 bytes of super-block was neutral to -12%: not used.)
constexpr int kPrefetchBytes = 4096;

// Sums of A row i over each G (32, or 16 for Q6_K) values: asum[i * nb + b], nb = k / G.
template <int IA, int G = ZW_QBLOCK>
ZW_AVX2 void block_sums(const float* a, size_t lda, int k, float* asum) {
  const int nb = k / G;
  for (int i = 0; i < IA; ++i)
    for (int b = 0; b < nb; ++b) {
      const float* p = a + i * lda + b * G;
      __m256 s = _mm256_add_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8));
      if constexpr (G == 32) s = _mm256_add_ps(s, _mm256_add_ps(_mm256_loadu_ps(p + 16), _mm256_loadu_ps(p + 24)));
      asum[i * nb + b] = hsum(s);
    }
}

// Q5_0's fifth bits: entry b holds, in byte l, 16 if bit l of b is set. One
// byte of qh covers eight consecutive quants, so a load of its entry widened
// to 32-bit lanes is those quants' high parts.
constexpr auto kHigh16 = [] {
  std::array<uint64_t, 256> t{};
  for (int b = 0; b < 256; ++b)
    for (int l = 0; l < 8; ++l) t[b] |= static_cast<uint64_t>((b >> l) & 1 ? 16 : 0) << (8 * l);
  return t;
}();

ZW_AVX2 inline __m256i u8x8_epi32(const void* p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64(static_cast<const __m128i*>(p)));
}

// Block blk's 32 quants as floats, without scale or offset (Q8_0: int8; Q4_0,
// Q4_1: 0..15; Q5_0: 0..31). The nibble formats widen 8 bytes straight to
// 32-bit lanes: their low nibbles are quants 0..7 (8..15), their high ones
// quants 16..23 (24..31).
template <DType T>
ZW_AVX2 inline void block_quants(const uint8_t* blk, __m256 x[4]) {
  if constexpr (T == DType::q8_0) {
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v)
      x[v] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(blk + 2 + 8 * v))));
  } else {
    const uint8_t* qs = blk + (T == DType::q4_1 ? 4 : T == DType::q5_0 ? 6 : 2);
    __m256i v0 = u8x8_epi32(qs), v1 = u8x8_epi32(qs + 8), low4 = _mm256_set1_epi32(0x0f);
    __m256i q[4] = {_mm256_and_si256(v0, low4), _mm256_and_si256(v1, low4), _mm256_srli_epi32(v0, 4),
                    _mm256_srli_epi32(v1, 4)};
#pragma GCC unroll 4
    for (int v = 0; v < 4; ++v) {
      if constexpr (T == DType::q5_0) q[v] = _mm256_or_si256(q[v], u8x8_epi32(&kHigh16[blk[2 + v]]));
      x[v] = _mm256_cvtepi32_ps(q[v]);
    }
  }
}

template <DType T>
constexpr int kBlockBytes = T == DType::q8_0   ? ZW_Q8_0_BYTES
                            : T == DType::q4_1 ? ZW_Q4_1_BYTES
                            : T == DType::q4_0 ? ZW_Q4_0_BYTES
                                               : ZW_Q5_0_BYTES;
// What multiplies d * sum(a) (Q4_1: m * sum(a)) in a block's dot.
template <DType T>
constexpr float kOffset = T == DType::q4_0 ? -8.0f : T == DType::q5_0 ? -16.0f : 1.0f;

// acc += d * (x . a), for the IA rows of A at ap.
template <int IA, int NACC>
ZW_AVX2 inline void scaled_dot(const __m256 x[4], const float* ap, size_t lda, __m256 dv,
                               __m256 (&acc)[IA][NACC], int slot) {
#pragma GCC unroll 4
  for (int i = 0; i < IA; ++i) {
    const float* p = ap + i * lda;
    __m256 s = _mm256_mul_ps(x[0], _mm256_loadu_ps(p));
#pragma GCC unroll 4
    for (int v = 1; v < 4; ++v) s = _mm256_fmadd_ps(x[v], _mm256_loadu_ps(p + 8 * v), s);
    acc[i][slot] = _mm256_fmadd_ps(dv, s, acc[i][slot]);
  }
}

// C row j of each A row i: the accumulators' sum plus offset * corr.
template <int IA, int NACC>
ZW_AVX2 inline void store_rows(const __m256 (&acc)[IA][NACC], const __m256* corr, float offset, float* c,
                               size_t ldc, bool accumulate) {
  for (int i = 0; i < IA; ++i) {
    __m256 sum = acc[i][0];
    for (int v = 1; v < NACC; ++v) sum = _mm256_add_ps(sum, acc[i][v]);
    if (corr) sum = _mm256_fmadd_ps(_mm256_set1_ps(offset), corr[i], sum);
    store(c + i * ldc, hsum(sum), accumulate);
  }
}

// For the block at blk and the IA rows of A at a: acc += d * (q . a), and
// corr += (d or m) * sum(a) (the offset's factor, kOffset, applied at the end).
template <int IA, int NACC, DType T>
ZW_AVX2 inline void block_dot(const uint8_t* blk, const float* a, size_t lda, const float* asum, int nb,
                              __m256 (&acc)[IA][NACC], __m128 (&corr)[IA], int slot) {
  _mm_prefetch(reinterpret_cast<const char*>(blk) + kPrefetchBytes, _MM_HINT_T0);
  __m256 x[4];
  block_quants<T>(blk, x);
  __m128 dm = halves_at(blk);
  scaled_dot<IA, NACC>(x, a, lda, _mm256_broadcastss_ps(dm), acc, slot);
  if constexpr (T != DType::q8_0) {
    if constexpr (T == DType::q4_1) dm = _mm_movehdup_ps(dm);
#pragma GCC unroll 4
    for (int i = 0; i < IA; ++i) corr[i] = _mm_fmadd_ss(dm, _mm_load_ss(asum + i * nb), corr[i]);
  }
}

template <int IA, DType T>
ZW_AVX2 void quant_rows(const float* a, size_t lda, const uint8_t* b, size_t row_bytes, int rows_b, int k,
                        float* c, size_t ldc, bool accumulate) {
  constexpr int NACC = IA <= 2 ? 2 : 1;  // 2 alternate blocks: the scale FMA's latency chain
  constexpr int kBytes = kBlockBytes<T>;
  const int nb = k / ZW_QBLOCK;
  float* asum = scratch_floats<GemvScratch>(static_cast<size_t>(IA) * nb);
  if (T != DType::q8_0) block_sums<IA>(a, lda, k, asum);
  for (int j = 0; j < rows_b; ++j) {
    const uint8_t* row = b + static_cast<size_t>(j) * row_bytes;
    __m256 acc[IA][NACC];
    __m128 corr[IA];
#pragma GCC unroll 4
    for (int i = 0; i < IA; ++i) {
      corr[i] = _mm_setzero_ps();
#pragma GCC unroll 2
      for (int v = 0; v < NACC; ++v) acc[i][v] = _mm256_setzero_ps();
    }
    int q = 0;
    for (; q + NACC <= nb; q += NACC)
#pragma GCC unroll 2
      for (int s = 0; s < NACC; ++s)
        block_dot<IA, NACC, T>(row + (q + s) * kBytes, a + (q + s) * ZW_QBLOCK, lda, asum + q + s, nb, acc, corr, s);
    for (; q < nb; ++q) block_dot<IA, NACC, T>(row + q * kBytes, a + q * ZW_QBLOCK, lda, asum + q, nb, acc, corr, 0);
    for (int i = 0; i < IA; ++i) {
      __m256 sum = acc[i][0];
      for (int v = 1; v < NACC; ++v) sum = _mm256_add_ps(sum, acc[i][v]);
      store(c + i * ldc + j, hsum(sum) + kOffset<T> * _mm_cvtss_f32(corr[i]), accumulate);
    }
  }
}

// One row of A (decode) against Q8_0/Q4_0/Q4_1/Q5_0 (and Q4_K, below): the
// quants stay integers. Once per call, each block of 32 values of A splits
// into a power-of-two scale and two int16 pieces,
//   a = 2^(e-14) * (hi + lo * 2^-15),  max |a| of the block < 2^e,
// |hi|, |lo| <= 2^14, which is a to within 2^-29 of the block's max (f32
// keeps 2^-24 of each value: this is no activation quantization). Per block
// of B, vpmaddwd of the int16 quants with hi and with lo gives exact int32
// sums (|q * hi| summed over 32 values < 2^27), converted once, and
// d * 2^(e-14) * (H + L * 2^-15) is one FMA. Against the f32 path that is 2
// widenings and 2 converts per block instead of 4 and 4, for 4 vpmaddwd and
// 2 adds, and Q4_0/Q5_0's offsets fold into the quants (no sum-of-A term
// to cancel). Measured single-thread (bench/quant_gemv_ab.cpp, Zen 3):
// 1.09-1.23x on the decode shapes, the 170 MiB Q8_0 output head included.
// With two or more rows of A each row pays its own 4 vpmaddwd, and there the
// f32 path is as fast or faster (0.91-1.03x): those keep it. So does Q6_K:
// its scale per 16 values splits H and L in two, which eats the gain (Q5_K,
// not tried, would take Q4_K's path plus its fifth bits).
// A block whose max is not finite or outside [2^-60, 2^60] (zero blocks
// excepted), where the pieces or d * 2^(e-14) could lose bits, sends the
// whole call to the f32 path, which keeps NaN and inf propagating as before.
struct GemvSplitA {};
struct GemvSplitScale {};

// The split costs about what the int16 path saves on ~50 B rows (measured at
// k = 640 and 2048: 0.80-0.97x at 16-32 rows, 1.03-1.10x at 64): fewer rows
// (a thread's chunk of a small matmul) stay on the f32 path.
constexpr int kIntMinRows = 64;

// packs_epi32 interleaves the 128-bit halves of its operands; the permute restores the order.
ZW_AVX2 inline __m256i pack_i16(__m256i x, __m256i y) {
  return _mm256_permute4x64_epi64(_mm256_packs_epi32(x, y), 0xd8);
}

// 2^n for a normal float's exponent range (std::ldexp is a library call).
inline float pow2(int n) {
  const uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Splits row a into hl (per block: hi[32], lo[32]) and sc (per block:
// 2^(e-14)). False if a block is out of range (see above).
ZW_AVX2 bool split_a(const float* a, int k, int16_t* hl, float* sc) {
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  constexpr int kRound = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
  for (int b = 0; b < k / ZW_QBLOCK; ++b) {
    __m256 v[4], m = _mm256_setzero_ps(), nan = _mm256_setzero_ps();
    for (int t = 0; t < 4; ++t) {
      v[t] = _mm256_loadu_ps(a + b * ZW_QBLOCK + 8 * t);
      m = _mm256_max_ps(m, _mm256_and_ps(v[t], abs_mask));  // drops NaN: checked apart
      nan = _mm256_or_ps(nan, _mm256_cmp_ps(v[t], v[t], _CMP_UNORD_Q));
    }
    if (_mm256_movemask_ps(nan)) return false;
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const uint32_t max_bits = static_cast<uint32_t>(_mm_cvtsi128_si32(_mm_castps_si128(m4)));
    int16_t* out = hl + b * 64;
    if (max_bits == 0) {
      std::memset(out, 0, 64 * sizeof(int16_t));
      sc[b] = 0.0f;
      continue;
    }
    const int biased = static_cast<int>(max_bits >> 23);
    if (biased < 127 - 60 || biased > 127 + 60) return false;
    const int e = biased - 126;  // max < 2^e
    sc[b] = pow2(e - 14);
    const __m256 up = _mm256_set1_ps(pow2(14 - e)), two15 = _mm256_set1_ps(32768.0f);
    __m256i hi[4], lo[4];
    for (int t = 0; t < 4; ++t) {
      const __m256 y = _mm256_mul_ps(v[t], up);  // exact: a power of two, no under/overflow
      const __m256 h = _mm256_round_ps(y, kRound);
      hi[t] = _mm256_cvtps_epi32(h);
      lo[t] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_sub_ps(y, h), two15), kRound));  // y - h exact
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(out), pack_i16(hi[0], hi[1]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + 16), pack_i16(hi[2], hi[3]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + 32), pack_i16(lo[0], lo[1]));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out + 48), pack_i16(lo[2], lo[3]));
  }
  return true;
}

// Q5_0's fifth bits and offset as int16: entry b holds, in lane l, 0 if bit
// l of b is set, else -16 (q - 16 = low 4 bits + 16 * fifth bit - 16).
alignas(16) constexpr auto kHigh16w = [] {
  std::array<std::array<int16_t, 8>, 256> t{};
  for (int b = 0; b < 256; ++b)
    for (int l = 0; l < 8; ++l) t[b][l] = static_cast<int16_t>((b >> l) & 1 ? 0 : -16);
  return t;
}();

ZW_AVX2 inline __m256i high16(uint8_t b0, uint8_t b1) {
  const __m128i lo = _mm_load_si128(reinterpret_cast<const __m128i*>(kHigh16w[b0].data()));
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo),
                                 _mm_load_si128(reinterpret_cast<const __m128i*>(kHigh16w[b1].data())), 1);
}

// Block blk's 32 quants as int16, q0 = quants 0..15, q1 = 16..31: Q8_0, and
// Q4_0 and Q5_0 with their offset (-8, -16) applied, signed; Q4_1 0..15.
template <DType T>
ZW_AVX2 inline void block_quants16(const uint8_t* blk, __m256i& q0, __m256i& q1) {
  if constexpr (T == DType::q8_0) {
    q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2)));
    q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 18)));
  } else {
    const uint8_t* qs = blk + (T == DType::q4_1 ? 4 : T == DType::q5_0 ? 6 : 2);
    const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    q0 = _mm256_and_si256(w, _mm256_set1_epi16(0x0f));
    q1 = _mm256_srli_epi16(w, 4);
    if constexpr (T == DType::q5_0) {
      q0 = _mm256_add_epi16(q0, high16(blk[2], blk[3]));
      q1 = _mm256_add_epi16(q1, high16(blk[4], blk[5]));
    } else if constexpr (T == DType::q4_0) {
      q0 = _mm256_sub_epi16(q0, _mm256_set1_epi16(8));
      q1 = _mm256_sub_epi16(q1, _mm256_set1_epi16(8));
    }
  }
}

ZW_AVX2 inline __m256i load_i16x16(const int16_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }

// H + L * 2^-15 (8 partial sums) for quants q0, q1 and A's split block at hl.
ZW_AVX2 inline __m256 split_dot(__m256i q0, __m256i q1, const int16_t* hl) {
  const __m256i H =
      _mm256_add_epi32(_mm256_madd_epi16(q0, load_i16x16(hl)), _mm256_madd_epi16(q1, load_i16x16(hl + 16)));
  const __m256i L =
      _mm256_add_epi32(_mm256_madd_epi16(q0, load_i16x16(hl + 32)), _mm256_madd_epi16(q1, load_i16x16(hl + 48)));
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(L), _mm256_set1_ps(0x1p-15f), _mm256_cvtepi32_ps(H));
}

// acc += d * 2^(e-14) * (H + L * 2^-15) for the block at blk and A's split
// block at hl, sc; Q4_1 also corr += m * sum(a) (its min's term).
template <DType T>
ZW_AVX2 inline void int_block(const uint8_t* blk, const int16_t* hl, const float* sc, const float* asum, __m256& acc,
                              __m128& corr) {
  _mm_prefetch(reinterpret_cast<const char*>(blk) + kPrefetchBytes, _MM_HINT_T0);
  __m256i q0, q1;
  block_quants16<T>(blk, q0, q1);
  const __m256 f = split_dot(q0, q1, hl);
  const __m128 dm = halves_at(blk);
  acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_mul_ss(dm, _mm_load_ss(sc))), f, acc);
  if constexpr (T == DType::q4_1) corr = _mm_fmadd_ss(_mm_movehdup_ps(dm), _mm_load_ss(asum), corr);
}

// The int16 path for one row of A; false (nothing written) if A is out of its range.
template <DType T>
ZW_AVX2 bool int_rows(const float* a, const uint8_t* b, size_t row_bytes, int rows_b, int k, float* c,
                      bool accumulate) {
  constexpr int kBytes = kBlockBytes<T>;
  const int nb = k / ZW_QBLOCK;
  int16_t* hl = reinterpret_cast<int16_t*>(scratch_floats<GemvSplitA>(static_cast<size_t>(nb) * 32));
  float* sc = scratch_floats<GemvSplitScale>(static_cast<size_t>(nb));
  if (!split_a(a, k, hl, sc)) return false;
  float* asum = scratch_floats<GemvScratch>(static_cast<size_t>(nb));
  if (T == DType::q4_1) block_sums<1>(a, k, k, asum);
  for (int j = 0; j < rows_b; ++j) {
    const uint8_t* row = b + static_cast<size_t>(j) * row_bytes;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};  // 2 alternate blocks: the FMA's latency chain
    __m128 corr = _mm_setzero_ps();
    int q = 0;
    for (; q + 2 <= nb; q += 2)
#pragma GCC unroll 2
      for (int s = 0; s < 2; ++s)
        int_block<T>(row + (q + s) * kBytes, hl + (q + s) * 64, sc + q + s, asum + q + s, acc[s], corr);
    if (q < nb) int_block<T>(row + q * kBytes, hl + q * 64, sc + q, asum + q, acc[0], corr);
    store(c + j, hsum(_mm256_add_ps(acc[0], acc[1])) + _mm_cvtss_f32(corr), accumulate);
  }
  return true;
}

// K-quants: a super-block's eight chunk scales (and mins) unpack to 8-wide
// vectors with integer ops on the 12 packed bytes (as llama.cpp does), the
// mins' term is one FMA with the chunks' sums of A, and the chunk loop is
// unrolled so every bit shift is a constant.
//
// Q4_K chunks 2p and 2p+1 are the low and high nibbles of the same 32 bytes:
// each 8 bytes widened to 32-bit lanes give 8 quants of both.
template <int IA, int NACC, int P>
ZW_AVX2 inline void q4k_pair_dot(const uint8_t* sb, const float* ds, const float* ap, size_t lda,
                                 __m256 (&acc)[IA][NACC]) {
  __m256 lo[4], hi[4];
#pragma GCC unroll 4
  for (int g = 0; g < 4; ++g) {
    __m256i v = u8x8_epi32(sb + 16 + 32 * P + 8 * g);
    lo[g] = _mm256_cvtepi32_ps(_mm256_and_si256(v, _mm256_set1_epi32(0x0f)));
    hi[g] = _mm256_cvtepi32_ps(_mm256_srli_epi32(v, 4));
  }
  scaled_dot<IA, NACC>(lo, ap + 64 * P, lda, _mm256_broadcast_ss(ds + 2 * P), acc, 0);
  scaled_dot<IA, NACC>(hi, ap + 64 * P + 32, lda, _mm256_broadcast_ss(ds + 2 * P + 1), acc, NACC - 1);
}

// Q5_K and Q6_K chunk C: its 32 quants as bytes, unsigned (Q6_K's offset -32 is left to the correction).
template <int C, DType T>
ZW_AVX2 inline __m256i kquant_chunk(const uint8_t* sb) {
  if constexpr (T == DType::q6_k) {
    constexpr int h = C >> 2, s = C & 3;
    __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 64 * h + 32 * (s & 1)));
    if constexpr (s >= 2) ql = _mm256_srli_epi16(ql, 4);
    ql = _mm256_and_si256(ql, _mm256_set1_epi8(0x0f));
    __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 128 + 32 * h));
    if constexpr (s < 2) qh = _mm256_slli_epi16(qh, 4 - 2 * s);  // bits 2s, 2s+1 to 4, 5
    else if constexpr (s == 3) qh = _mm256_srli_epi16(qh, 2);
    return _mm256_or_si256(ql, _mm256_and_si256(qh, _mm256_set1_epi8(0x30)));
  } else {
    __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 48 + 32 * (C >> 1)));
    if constexpr (C & 1) q = _mm256_srli_epi16(q, 4);
    q = _mm256_and_si256(q, _mm256_set1_epi8(0x0f));
    __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(sb + 16));
    qh = _mm256_and_si256(_mm256_srli_epi16(qh, C), _mm256_set1_epi8(0x01));
    return _mm256_or_si256(q, _mm256_slli_epi16(qh, 4));
  }
}

template <int IA, int NACC, int C, DType T>
ZW_AVX2 inline void kquant_chunk_dot(const uint8_t* sb, const float* ds, const float* ap, size_t lda,
                                     __m256 (&acc)[IA][NACC]) {
  __m256i q = kquant_chunk<C, T>(sb);
  __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
  __m128i part[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  __m256 x[4];
#pragma GCC unroll 4
  for (int v = 0; v < 4; ++v)
    x[v] = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(part[v]));
  const float* a = ap + C * ZW_QBLOCK;
  if constexpr (T == DType::q6_k) {  // one scale per 16 values
    __m256 d0 = _mm256_broadcast_ss(ds + 2 * C), d1 = _mm256_broadcast_ss(ds + 2 * C + 1);
#pragma GCC unroll 4
    for (int i = 0; i < IA; ++i) {
      const float* p = a + i * lda;
      __m256 s0 = _mm256_fmadd_ps(x[1], _mm256_loadu_ps(p + 8), _mm256_mul_ps(x[0], _mm256_loadu_ps(p)));
      __m256 s1 = _mm256_fmadd_ps(x[3], _mm256_loadu_ps(p + 24), _mm256_mul_ps(x[2], _mm256_loadu_ps(p + 16)));
      acc[i][0] = _mm256_fmadd_ps(d0, s0, acc[i][0]);
      acc[i][NACC - 1] = _mm256_fmadd_ps(d1, s1, acc[i][NACC - 1]);
    }
  } else {
    scaled_dot<IA, NACC>(x, a, lda, _mm256_broadcast_ss(ds + C), acc, C % NACC);
  }
}

template <int IA, int NACC, DType T, int... C>
ZW_AVX2 inline void kquant_super_dot(const uint8_t* sb, const float* ds, const float* ap, size_t lda,
                                     __m256 (&acc)[IA][NACC], std::integer_sequence<int, C...>) {
  if constexpr (T == DType::q4_k)
    (q4k_pair_dot<IA, NACC, C>(sb, ds, ap, lda, acc), ...);
  else
    (kquant_chunk_dot<IA, NACC, C, T>(sb, ds, ap, lda, acc), ...);
}

// Q4_K/Q5_K: the 12 bytes of 6-bit scales and mins at sc as 8 scale bytes
// (low half) and 8 min bytes (high half).
inline __m128i k4_scales_mins(const uint8_t* sc) {
  uint32_t u[3];
  std::memcpy(u, sc, 12);
  constexpr uint32_t k6 = 0x3f3f3f3f, k4 = 0x0f0f0f0f, k2 = 0x03030303;
  uint32_t s_lo = u[0] & k6, s_hi = (u[2] & k4) | (((u[0] >> 6) & k2) << 4);
  uint32_t m_lo = u[1] & k6, m_hi = ((u[2] >> 4) & k4) | (((u[1] >> 6) & k2) << 4);
  return _mm_set_epi32(static_cast<int>(m_hi), static_cast<int>(m_lo), static_cast<int>(s_hi),
                       static_cast<int>(s_lo));
}

template <int IA, DType T>
ZW_AVX2 void kquant_rows(const float* a, size_t lda, const uint8_t* b, size_t row_bytes, int rows_b, int k,
                         float* c, size_t ldc, bool accumulate) {
  constexpr int NACC = IA <= 2 ? 2 : 1;
  constexpr bool q6 = T == DType::q6_k;
  constexpr int kBytes = T == DType::q4_k ? ZW_Q4_K_BYTES : T == DType::q5_k ? ZW_Q5_K_BYTES : ZW_Q6_K_BYTES;
  constexpr int G = q6 ? 16 : ZW_QBLOCK;  // values per scale
  const int supers = k / ZW_QK_K, nb = k / G;
  float* asum = scratch_floats<GemvScratch>(static_cast<size_t>(IA) * nb);
  block_sums<IA, G>(a, lda, k, asum);
  for (int j = 0; j < rows_b; ++j) {
    const uint8_t* sb = b + static_cast<size_t>(j) * row_bytes;
    __m256 acc[IA][NACC], corr[IA];
#pragma GCC unroll 4
    for (int i = 0; i < IA; ++i) {
      corr[i] = _mm256_setzero_ps();
#pragma GCC unroll 2
      for (int v = 0; v < NACC; ++v) acc[i][v] = _mm256_setzero_ps();
    }
    for (int s = 0; s < supers; ++s, sb += kBytes) {
      alignas(32) float ds[16];
      if constexpr (T == DType::q6_k) {
        __m256 d = _mm256_set1_ps(f16_at(sb + 208));
        __m128i sc = _mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 192));
        __m256 d0 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc)));
        __m256 d1 = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(sc, 8))));
        _mm256_store_ps(ds, d0);
        _mm256_store_ps(ds + 8, d1);
        for (int i = 0; i < IA; ++i) {
          const float* as = asum + i * nb + 16 * s;
          corr[i] = _mm256_fmadd_ps(d1, _mm256_loadu_ps(as + 8), _mm256_fmadd_ps(d0, _mm256_loadu_ps(as), corr[i]));
        }
      } else {
        __m128 dm = halves_at(sb);
        __m128i sm = k4_scales_mins(sb + 4);
        __m256 d = _mm256_broadcastss_ps(dm), dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
        _mm256_store_ps(ds, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm))));
        __m256 ms = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
        for (int i = 0; i < IA; ++i) corr[i] = _mm256_fmadd_ps(ms, _mm256_loadu_ps(asum + i * nb + 8 * s), corr[i]);
      }
      kquant_super_dot<IA, NACC, T>(sb, ds, a + s * ZW_QK_K, lda, acc,
                                    std::make_integer_sequence<int, T == DType::q4_k ? 4 : 8>{});
    }
    store_rows<IA, NACC>(acc, corr, q6 ? -32.0f : -1.0f, c + j, ldc, accumulate);
  }
}

// Q4_K for one row of A on the int16 path (see int_rows; 1.17-1.23x): each
// 32 bytes of quants widen to int16 once and give chunks 2p (low nibbles)
// and 2p + 1; the A block scales fold into the chunk scales, 8 at a time.
ZW_AVX2 bool q4k_int_rows(const float* a, const uint8_t* b, size_t row_bytes, int rows_b, int k, float* c,
                          bool accumulate) {
  const int supers = k / ZW_QK_K, nb = k / ZW_QBLOCK;
  int16_t* hl = reinterpret_cast<int16_t*>(scratch_floats<GemvSplitA>(static_cast<size_t>(nb) * 32));
  float* sc = scratch_floats<GemvSplitScale>(static_cast<size_t>(nb));
  if (!split_a(a, k, hl, sc)) return false;
  float* asum = scratch_floats<GemvScratch>(static_cast<size_t>(nb));
  block_sums<1>(a, k, k, asum);
  for (int j = 0; j < rows_b; ++j) {
    const uint8_t* sb = b + static_cast<size_t>(j) * row_bytes;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()}, corr = _mm256_setzero_ps();
    for (int s = 0; s < supers; ++s, sb += ZW_Q4_K_BYTES) {
      const __m128 dm = halves_at(sb);
      const __m128i sm = k4_scales_mins(sb + 4);
      const __m256 d = _mm256_broadcastss_ps(dm), dmin = _mm256_broadcastss_ps(_mm_movehdup_ps(dm));
      alignas(32) float ds[8];  // d * chunk scale * A block scale
      _mm256_store_ps(ds, _mm256_mul_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(sm))),
                                        _mm256_loadu_ps(sc + 8 * s)));
      const __m256 ms = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(sm, 8))));
      corr = _mm256_fmadd_ps(ms, _mm256_loadu_ps(asum + 8 * s), corr);
      const int16_t* h = hl + static_cast<size_t>(8 * s) * 64;
#pragma GCC unroll 4
      for (int p = 0; p < 4; ++p) {
        const __m256i w0 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 16 + 32 * p)));
        const __m256i w1 = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(sb + 32 + 32 * p)));
        const __m256i low4 = _mm256_set1_epi16(0x0f);
        const __m256 f0 = split_dot(_mm256_and_si256(w0, low4), _mm256_and_si256(w1, low4), h + 128 * p);
        const __m256 f1 = split_dot(_mm256_srli_epi16(w0, 4), _mm256_srli_epi16(w1, 4), h + 128 * p + 64);
        acc[0] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + 2 * p), f0, acc[0]);
        acc[1] = _mm256_fmadd_ps(_mm256_broadcast_ss(ds + 2 * p + 1), f1, acc[1]);
      }
    }
    store(c + j, hsum(_mm256_sub_ps(_mm256_add_ps(acc[0], acc[1]), corr)), accumulate);
  }
  return true;
}

template <int IA>
ZW_AVX2 void rows_fixed(const float* a, size_t lda, const uint8_t* b, size_t row_bytes,
                        DType type, int rows_b, int k, float* c, size_t ldc, bool accumulate) {
  const bool int16_path = IA == 1 && rows_b >= kIntMinRows;  // else, or if A is out of its range: f32
  switch (type) {
    case DType::f32:
    case DType::f16:
      return dense_rows<IA>(a, lda, b, row_bytes, type, rows_b, k, c, ldc, accumulate);
    case DType::q8_0:
      if (int16_path && int_rows<DType::q8_0>(a, b, row_bytes, rows_b, k, c, accumulate)) return;
      return quant_rows<IA, DType::q8_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_1:
      if (int16_path && int_rows<DType::q4_1>(a, b, row_bytes, rows_b, k, c, accumulate)) return;
      return quant_rows<IA, DType::q4_1>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_0:
      if (int16_path && int_rows<DType::q4_0>(a, b, row_bytes, rows_b, k, c, accumulate)) return;
      return quant_rows<IA, DType::q4_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q5_0:
      if (int16_path && int_rows<DType::q5_0>(a, b, row_bytes, rows_b, k, c, accumulate)) return;
      return quant_rows<IA, DType::q5_0>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q4_k:
      if (int16_path && q4k_int_rows(a, b, row_bytes, rows_b, k, c, accumulate)) return;
      return kquant_rows<IA, DType::q4_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q5_k:
      return kquant_rows<IA, DType::q5_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
    case DType::q6_k:
      return kquant_rows<IA, DType::q6_k>(a, lda, b, row_bytes, rows_b, k, c, ldc, accumulate);
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
