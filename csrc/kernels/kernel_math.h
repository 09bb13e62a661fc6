// Scalar kernel math shared by every backend: plain C++ (CPU), CUDA and Metal
// Shading Language. Keeping one definition of fp16 conversion, GELU, the GGUF
// block layouts and RoPE frequencies means all backends agree bit-for-bit on
// the parts that are easy to get subtly wrong.
//
// Rules that keep this file portable: only inline functions on scalars and
// small structs, no std:: containers, no exceptions, no doubles outside
// ZW_HAS_F64 blocks (Metal has none), no file-scope arrays (Metal wants them
// in `constant`), and pointers only as template parameters so Metal callers
// can pass `device`, `constant` or `thread` pointers alike.
#ifndef ZEROWASM_KERNEL_MATH_H
#define ZEROWASM_KERNEL_MATH_H

// ---- Macro layer ------------------------------------------------------------
#if defined(__METAL_VERSION__)
#include <metal_stdlib>
#define ZW_KERNEL_FN inline
#define ZW_HAS_F64 0
typedef uchar zw_u8;
typedef char zw_i8;
typedef ushort zw_u16;
typedef uint zw_u32;
typedef int zw_i32;
#define ZW_F32_FROM_BITS(u) as_type<float>((uint)(u))
#define ZW_BITS_FROM_F32(f) as_type<uint>((float)(f))
#define ZW_SQRTF(x) metal::precise::sqrt(x)
#define ZW_EXP2F(x) metal::precise::exp2(x)
#define ZW_LOG2F(x) metal::precise::log2(x)
#else
// Forced inline: hot CPU loops must see the whole body to vectorize it, and
// compilers otherwise refuse to inline these (size) into multiversioned loops.
#if defined(__CUDACC__)
#define ZW_KERNEL_FN __host__ __device__ __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define ZW_KERNEL_FN inline __attribute__((always_inline))
#else
#define ZW_KERNEL_FN inline
#endif
#define ZW_HAS_F64 1
#include <math.h>
#include <stdint.h>
#include <string.h>
typedef uint8_t zw_u8;
typedef int8_t zw_i8;
typedef uint16_t zw_u16;
typedef uint32_t zw_u32;
typedef int32_t zw_i32;
// memcpy is the bit cast that is defined behaviour in C++ and works in CUDA
// device code; compilers turn it into a register move.
ZW_KERNEL_FN float zw_f32_from_bits(zw_u32 u) { float f; memcpy(&f, &u, 4); return f; }
ZW_KERNEL_FN zw_u32 zw_bits_from_f32(float f) { zw_u32 u; memcpy(&u, &f, 4); return u; }
#define ZW_F32_FROM_BITS(u) zw_f32_from_bits(u)
#define ZW_BITS_FROM_F32(f) zw_bits_from_f32(f)
#define ZW_SQRTF(x) sqrtf(x)
#define ZW_EXP2F(x) exp2f(x)
#define ZW_LOG2F(x) log2f(x)
#endif

// Dtype codes (ZW_DTYPE_*), ZW_QBLOCK and the block sizes: kernel ABI v1,
// defined only in the guest SDK's preprocessor-only header. The relative path
// needs no include directory in any compiler (C++, nvcc, the Metal syntax
// checks), and the Metal shader embedding inlines it like any quoted include.
#include "../../guest/include/zerowasm_abi.h"

// ---- IEEE binary16 <-> binary32 (bit exact, round to nearest even) ----------

ZW_KERNEL_FN float zw_f16_to_f32(zw_u16 h) {
  zw_u32 sign = (zw_u32)(h & 0x8000u) << 16;
  zw_u32 exp = (h >> 10) & 0x1fu;
  zw_u32 mant = h & 0x3ffu;
  if (exp == 0x1fu) return ZW_F32_FROM_BITS(sign | 0x7f800000u | (mant << 13));  // inf, nan
  if (exp != 0) return ZW_F32_FROM_BITS(sign | ((exp + 112u) << 23) | (mant << 13));
  // Zero or subnormal: mant * 2^-24 is exact in f32 (a 10-bit integer times a power of 2).
  float mag = (float)mant * 5.9604644775390625e-8f;
  return ZW_F32_FROM_BITS(sign | ZW_BITS_FROM_F32(mag));
}

ZW_KERNEL_FN zw_u16 zw_f32_to_f16(float f) {
  zw_u32 x = ZW_BITS_FROM_F32(f);
  zw_u32 sign = (x >> 16) & 0x8000u;
  zw_u32 ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (zw_u16)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));  // quiet nan
  if (ax >= 0x477ff000u) return (zw_u16)(sign | 0x7c00u);  // rounds past 65504: inf
  if (ax >= 0x38800000u) {  // normal half: rebias exponent, round 13 dropped bits
    zw_u32 h = (ax - 0x38000000u) >> 13;
    zw_u32 rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h += 1;  // carry may bump exponent: fine
    return (zw_u16)(sign | h);
  }
  // Subnormal half (or zero): mantissa = round(|f| * 2^24) = round(M * 2^(e-126)).
  zw_u32 e = ax >> 23;
  if (e < 102) return (zw_u16)sign;  // below half of the smallest subnormal (f32 subnormals too)
  zw_u32 m = (ax & 0x7fffffu) | 0x800000u;
  zw_u32 shift = 126u - e;  // 14..24
  zw_u32 q = m >> shift;
  zw_u32 rem = m & ((1u << shift) - 1u);
  zw_u32 halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u))) q += 1;  // q == 0x400 is the smallest normal
  return (zw_u16)(sign | q);
}

// ---- exp, erf, activations ------------------------------------------------------
// Branch-free so CPU loops over them vectorize (keep selects flat, one ?: per
// statement); accurate to a few ulp.

// e^x: x = n*ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial
// (truncation < 6e-9 relative), 2^n applied as two exponent-bit factors so
// n = 128 (x near ln(FLT_MAX)) still works. Results below ~1.6e-38 flush to 0.
ZW_KERNEL_FN float zw_expf(float x) {
  float xc = x < -87.0f ? -87.0f : x;  // sequential selects: nested ?: defeats GCC's if-conversion
  xc = xc > 89.0f ? 89.0f : xc;
  xc = xc != xc ? 0.0f : xc;  // nan: float->int of nan is undefined; the result is fixed below
  float t = xc * 1.44269504088896341f;
  // Round to nearest by truncating a positive shift (t > -126): no select, so
  // loops vectorize; which way a near-tie goes does not matter for accuracy.
  zw_i32 n = (zw_i32)(t + 128.5f) - 128;  // n in [-126, 128]
  float nf = (float)n;
  float r = xc - nf * 0.693145751953125f;  // ln2 split in two (Cody-Waite): exact high part
  r = r - nf * 1.428606765330187e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  zw_i32 n1 = n / 2;
  float s1 = ZW_F32_FROM_BITS((zw_u32)(n1 + 127) << 23);
  float s2 = ZW_F32_FROM_BITS((zw_u32)(n - n1 + 127) << 23);
  float y = (p * s1) * s2;  // overflows to inf by itself past ln(FLT_MAX)
  y = x < -87.0f ? 0.0f : y;  // also -inf
  return x != x ? x : y;      // nan in, nan out
}

// erfcx(a) = e^(a^2) erfc(a) for a >= 1, as a degree-9 polynomial in
// t = 1/(1 + a/2); coefficients from a Chebyshev least-squares fit over
// a in [1, 10] (tests/cpp/fit_erf.py), max relative error 3e-7 in f32.
ZW_KERNEL_FN float zw_erfcx_ge1(float a) {
  float t = 1.0f / (1.0f + 0.5f * a);
  float p = -6.717447191e-02f;
  p = p * t + 3.257351518e-01f;
  p = p * t - 5.722033381e-01f;
  p = p * t + 3.731280565e-01f;
  p = p * t - 9.043917805e-02f;
  p = p * t + 2.293997556e-01f;
  p = p * t + 2.361325920e-01f;
  p = p * t + 2.834677696e-01f;
  p = p * t + 2.819932401e-01f;
  p = p * t + 3.292704832e-06f;
  return p;
}

// erf(x)/x for |x| <= 1 as a degree-6 polynomial in x^2 (same fit script,
// max relative error 1.8e-7 in f32).
ZW_KERNEL_FN float zw_erf_over_x_le1(float s /* x^2 */) {
  float p = 8.006874123e-05f;
  p = p * s - 8.053751080e-04f;
  p = p * s + 5.192957819e-03f;
  p = p * s - 2.685607038e-02f;
  p = p * s + 1.128363460e-01f;
  p = p * s - 3.761262894e-01f;
  p = p * s + 1.128379226e+00f;
  return p;
}

// erfc(|x|) for |x| >= 1 (clamped there, harmless for smaller |x| whose result is unused).
ZW_KERNEL_FN float zw_erfc_abs_ge1(float x) {
  float a = x < 0.0f ? -x : x;
  a = a < 1.0f ? 1.0f : a;
  a = a > 10.0f ? 10.0f : a;
  return zw_expf(-a * a) * zw_erfcx_ge1(a);  // erfc(10) ~ 2e-45: 0 in f32, as wanted
}

ZW_KERNEL_FN float zw_erf(float x) {
  float small = x * zw_erf_over_x_le1(x * x);
  float tail = 1.0f - zw_erfc_abs_ge1(x);
  float big = x < 0.0f ? -tail : tail;
  float a = x < 0.0f ? -x : x;
  return a <= 1.0f ? small : big;
}

// 1 + erf(x) without cancellation for x << 0 (there it is erfc(|x|)).
ZW_KERNEL_FN float zw_one_plus_erf(float x) {
  float small = 1.0f + x * zw_erf_over_x_le1(x * x);
  float ec = zw_erfc_abs_ge1(x);
  float big = x < 0.0f ? ec : 2.0f - ec;
  float a = x < 0.0f ? -x : x;
  return a <= 1.0f ? small : big;
}

// Exact (erf) GELU: 0.5 * x * (1 + erf(x / sqrt(2))).
ZW_KERNEL_FN float zw_gelu(float x) {
  return 0.5f * x * zw_one_plus_erf(x * 0.70710678118654752f);
}

// SiLU: x * sigmoid(x) = x / (1 + e^-x); e^-x = inf gives -0, the right limit.
ZW_KERNEL_FN float zw_silu(float x) { return x / (1.0f + zw_expf(-x)); }

// Tanh-approximated GELU (GPT-2, Gemma): 0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x^3),
// written as x * sigmoid(2y) = x / (1 + e^-2y): the same value without 1 + tanh's
// cancellation for x << 0, where e^-2y = inf gives -0.
ZW_KERNEL_FN float zw_gelu_tanh(float x) {
  float u = 1.5957691216057308f * (x + 0.044715f * x * x * x);  // 2y
  return x / (1.0f + zw_expf(-u));
}

// ---- GGUF block quantization ------------------------------------------------------
// Layouts (little-endian, packed, 2-byte aligned at best: read via bytes).
struct zw_block_q8_0 {  // x[j] = d * qs[j]
  zw_u16 d;             // f16 scale
  zw_i8 qs[ZW_QBLOCK];
};
struct zw_block_q4_1 {  // x[j] = d * q[j] + m, q[j] in 0..15
  zw_u16 d;             // f16 scale
  zw_u16 m;             // f16 minimum
  zw_u8 qs[ZW_QBLOCK / 2];  // byte j: low nibble = element j, high nibble = element j+16
};
static_assert(sizeof(zw_block_q8_0) == ZW_Q8_0_BYTES, "zerowasm_abi.h's Q8_0 block size must match its layout");
static_assert(sizeof(zw_block_q4_1) == ZW_Q4_1_BYTES, "zerowasm_abi.h's Q4_1 block size must match its layout");
static_assert(ZW_Q4_0_BYTES == 2 + ZW_QBLOCK / 2 && ZW_Q5_0_BYTES == 6 + ZW_QBLOCK / 2, "Q4_0/Q5_0 layouts");
static_assert(ZW_Q4_K_BYTES == 16 + ZW_QK_K / 2 && ZW_Q5_K_BYTES == 48 + ZW_QK_K / 2 &&
                  ZW_Q6_K_BYTES == ZW_QK_K / 2 + ZW_QK_K / 4 + ZW_QK_K / 16 + 2,
              "K-quant super-block layouts");

// Blocks are taken as byte pointers (any address space) so no alignment is assumed.
template <typename BytePtr>
ZW_KERNEL_FN zw_u16 zw_load_u16le(BytePtr p) {
  return (zw_u16)((zw_u16)p[0] | ((zw_u16)p[1] << 8));
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q8_0_value(BytePtr blk, int j) {
  return zw_f16_to_f32(zw_load_u16le(blk)) * (float)(zw_i8)blk[2 + j];
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q4_1_value(BytePtr blk, int j) {
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  float m = zw_f16_to_f32(zw_load_u16le(blk + 2));
  zw_u8 byte = blk[4 + (j & 15)];
  int q = j < 16 ? (byte & 0x0f) : (byte >> 4);
  return d * (float)q + m;
}

// Dequantize one block into out[0..32).
template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q8_0(BytePtr blk, FloatPtr out) {
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  for (int j = 0; j < ZW_QBLOCK; ++j) out[j] = d * (float)(zw_i8)blk[2 + j];
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q4_1(BytePtr blk, FloatPtr out) {
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  float m = zw_f16_to_f32(zw_load_u16le(blk + 2));
  for (int j = 0; j < ZW_QBLOCK / 2; ++j) {
    zw_u8 byte = blk[4 + j];
    out[j] = d * (float)(byte & 0x0f) + m;
    out[j + 16] = d * (float)(byte >> 4) + m;
  }
}

// Dot product of one block with x[0..32), in f32: d * sum(q*x) (+ m * sum(x)).
template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN float zw_dot_q8_0(BytePtr blk, FloatPtr x) {
  float acc = 0.0f;
  for (int j = 0; j < ZW_QBLOCK; ++j) acc += (float)(zw_i8)blk[2 + j] * x[j];
  return zw_f16_to_f32(zw_load_u16le(blk)) * acc;
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN float zw_dot_q4_1(BytePtr blk, FloatPtr x) {
  float qx = 0.0f, sx = 0.0f;
  for (int j = 0; j < ZW_QBLOCK / 2; ++j) {
    zw_u8 byte = blk[4 + j];
    qx += (float)(byte & 0x0f) * x[j] + (float)(byte >> 4) * x[j + 16];
    sx += x[j] + x[j + 16];
  }
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  float m = zw_f16_to_f32(zw_load_u16le(blk + 2));
  return d * qx + m * sx;
}

// ---- More GGUF block types (layouts in zerowasm_abi.h) --------------------------
// Q4_0/Q5_0 are 32-value blocks like Q8_0; the K-quants are 256-value
// super-blocks read here in chunks of 32 (chunk c = values 32c .. 32c+31), so
// every backend can walk any quantized row in 32-value steps. The arithmetic
// order is ggml's (and the gguf package's): scale products are rounded to f32
// first, so results are bit-exact to gguf.quants.dequantize when the product
// and the subtraction are not fused: they are separate statements (clang
// contracts only within one) and ZW_MUL_RN keeps them apart on CUDA.
#if defined(__CUDA_ARCH__)
#define ZW_MUL_RN(a, b) __fmul_rn((a), (b))
#else
#define ZW_MUL_RN(a, b) ((a) * (b))
#endif

template <typename BytePtr>
ZW_KERNEL_FN float zw_q4_0_value(BytePtr blk, int j) {
  zw_u8 byte = blk[2 + (j & 15)];
  int q = j < 16 ? (byte & 0x0f) : (byte >> 4);
  return zw_f16_to_f32(zw_load_u16le(blk)) * (float)(q - 8);
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q4_0(BytePtr blk, FloatPtr out) {
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  for (int j = 0; j < ZW_QBLOCK / 2; ++j) {
    zw_u8 byte = blk[2 + j];
    out[j] = d * (float)((int)(byte & 0x0f) - 8);
    out[j + 16] = d * (float)((int)(byte >> 4) - 8);
  }
}

template <typename BytePtr>
ZW_KERNEL_FN zw_u32 zw_load_u32le(BytePtr p) {
  return (zw_u32)p[0] | ((zw_u32)p[1] << 8) | ((zw_u32)p[2] << 16) | ((zw_u32)p[3] << 24);
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q5_0_value(BytePtr blk, int j) {
  zw_u32 qh = zw_load_u32le(blk + 2);
  zw_u8 byte = blk[6 + (j & 15)];
  int q = (j < 16 ? (byte & 0x0f) : (byte >> 4)) | (int)(((qh >> j) & 1u) << 4);
  return zw_f16_to_f32(zw_load_u16le(blk)) * (float)(q - 16);
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q5_0(BytePtr blk, FloatPtr out) {
  float d = zw_f16_to_f32(zw_load_u16le(blk));
  zw_u32 qh = zw_load_u32le(blk + 2);
  for (int j = 0; j < ZW_QBLOCK / 2; ++j) {
    zw_u8 byte = blk[6 + j];
    int lo = (byte & 0x0f) | (int)(((qh >> j) & 1u) << 4);
    int hi = (byte >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4);
    out[j] = d * (float)(lo - 16);
    out[j + 16] = d * (float)(hi - 16);
  }
}

// Q4_K/Q5_K sub-block s (0..7): 6-bit scale and min packed in 12 bytes at q
// (ggml's get_scale_min_k4).
template <typename BytePtr>
ZW_KERNEL_FN int zw_k4_scale(BytePtr q, int s) {
  return s < 4 ? (q[s] & 63) : ((q[s + 4] & 0x0f) | ((q[s - 4] >> 6) << 4));
}
template <typename BytePtr>
ZW_KERNEL_FN int zw_k4_min(BytePtr q, int s) {
  return s < 4 ? (q[s + 4] & 63) : ((q[s + 4] >> 4) | ((q[s] >> 6) << 4));
}

// Q4_K (and Q5_K's low bits): value e (0..255) is nibble (e/32)%2 of byte
// 32*(e/64) + e%32 of the 128 quant bytes at qs.
template <typename BytePtr>
ZW_KERNEL_FN int zw_k4_nibble(BytePtr qs, int e) {
  zw_u8 byte = qs[32 * (e >> 6) + (e & 31)];
  return (e & 32) ? (byte >> 4) : (byte & 0x0f);
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q4_k_value(BytePtr sb, int e) {
  int s = e >> 5;
  float d = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb)), (float)zw_k4_scale(sb + 4, s));
  float m = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb + 2)), (float)zw_k4_min(sb + 4, s));
  float dq = ZW_MUL_RN(d, (float)zw_k4_nibble(sb + 16, e));
  return dq - m;
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q4_k_chunk(BytePtr sb, int c, FloatPtr out) {
  float d = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb)), (float)zw_k4_scale(sb + 4, c));
  float m = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb + 2)), (float)zw_k4_min(sb + 4, c));
  BytePtr qs = sb + 16 + 32 * (c >> 1);
  int shift = (c & 1) * 4;
  for (int l = 0; l < 32; ++l) {
    float dq = ZW_MUL_RN(d, (float)((qs[l] >> shift) & 0x0f));
    out[l] = dq - m;
  }
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q5_k_value(BytePtr sb, int e) {
  int s = e >> 5;
  float d = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb)), (float)zw_k4_scale(sb + 4, s));
  float m = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb + 2)), (float)zw_k4_min(sb + 4, s));
  int q = zw_k4_nibble(sb + 48, e) | (((sb[16 + (e & 31)] >> s) & 1) << 4);
  float dq = ZW_MUL_RN(d, (float)q);
  return dq - m;
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q5_k_chunk(BytePtr sb, int c, FloatPtr out) {
  float d = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb)), (float)zw_k4_scale(sb + 4, c));
  float m = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb + 2)), (float)zw_k4_min(sb + 4, c));
  BytePtr qh = sb + 16;
  BytePtr qs = sb + 48 + 32 * (c >> 1);
  int shift = (c & 1) * 4;
  for (int l = 0; l < 32; ++l) {
    int q = ((qs[l] >> shift) & 0x0f) | (((qh[l] >> c) & 1) << 4);
    float dq = ZW_MUL_RN(d, (float)q);
    out[l] = dq - m;
  }
}

// Q6_K value e = 128h + 32s + l (h 0..1, s 0..3): low nibble s%2... of
// ql[64h + 32(s%2) + l] (low nibble for s < 2, high for s >= 2), two high bits
// (qh[32h + l] >> 2s) & 3, int8 scale per 16 values, f16 d at byte 208.
template <typename BytePtr>
ZW_KERNEL_FN int zw_q6_k_quant(BytePtr sb, int e) {
  int h = e >> 7, s = (e >> 5) & 3, l = e & 31;
  zw_u8 lo = sb[64 * h + 32 * (s & 1) + l];
  int nib = s < 2 ? (lo & 0x0f) : (lo >> 4);
  int hi = (sb[128 + 32 * h + l] >> (2 * s)) & 3;
  return (nib | (hi << 4)) - 32;
}

template <typename BytePtr>
ZW_KERNEL_FN float zw_q6_k_value(BytePtr sb, int e) {
  float d = ZW_MUL_RN(zw_f16_to_f32(zw_load_u16le(sb + 208)), (float)(zw_i8)sb[192 + (e >> 4)]);
  return ZW_MUL_RN(d, (float)zw_q6_k_quant(sb, e));
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_q6_k_chunk(BytePtr sb, int c, FloatPtr out) {
  float d = zw_f16_to_f32(zw_load_u16le(sb + 208));
  float d0 = ZW_MUL_RN(d, (float)(zw_i8)sb[192 + 2 * c]);
  float d1 = ZW_MUL_RN(d, (float)(zw_i8)sb[193 + 2 * c]);
  int h = c >> 2, s = c & 3;
  BytePtr ql = sb + 64 * h + 32 * (s & 1);
  BytePtr qh = sb + 128 + 32 * h;
  int lshift = s < 2 ? 0 : 4;
  for (int l = 0; l < 32; ++l) {
    int q = (((ql[l] >> lshift) & 0x0f) | (((qh[l] >> (2 * s)) & 3) << 4)) - 32;
    out[l] = ZW_MUL_RN(l < 16 ? d0 : d1, (float)q);
  }
}

// Any block type, addressed by row: value e, or chunk c (values 32c..32c+31).
template <typename BytePtr>
ZW_KERNEL_FN float zw_quant_value(int dtype, BytePtr row, zw_u32 e) {
  zw_u32 b = e / ZW_QBLOCK, j = e % ZW_QBLOCK, sb = e / ZW_QK_K, k = e % ZW_QK_K;
  switch (dtype) {
    case ZW_DTYPE_Q8_0: return zw_q8_0_value(row + b * ZW_Q8_0_BYTES, (int)j);
    case ZW_DTYPE_Q4_1: return zw_q4_1_value(row + b * ZW_Q4_1_BYTES, (int)j);
    case ZW_DTYPE_Q4_0: return zw_q4_0_value(row + b * ZW_Q4_0_BYTES, (int)j);
    case ZW_DTYPE_Q5_0: return zw_q5_0_value(row + b * ZW_Q5_0_BYTES, (int)j);
    case ZW_DTYPE_Q4_K: return zw_q4_k_value(row + sb * ZW_Q4_K_BYTES, (int)k);
    case ZW_DTYPE_Q5_K: return zw_q5_k_value(row + sb * ZW_Q5_K_BYTES, (int)k);
    case ZW_DTYPE_Q6_K: return zw_q6_k_value(row + sb * ZW_Q6_K_BYTES, (int)k);
    default: return 0.0f;
  }
}

template <typename BytePtr, typename FloatPtr>
ZW_KERNEL_FN void zw_dequant_chunk(int dtype, BytePtr row, zw_u32 c, FloatPtr out) {
  zw_u32 sb = c / (ZW_QK_K / ZW_QBLOCK), sub = c % (ZW_QK_K / ZW_QBLOCK);
  switch (dtype) {
    case ZW_DTYPE_Q8_0: zw_dequant_q8_0(row + c * ZW_Q8_0_BYTES, out); return;
    case ZW_DTYPE_Q4_1: zw_dequant_q4_1(row + c * ZW_Q4_1_BYTES, out); return;
    case ZW_DTYPE_Q4_0: zw_dequant_q4_0(row + c * ZW_Q4_0_BYTES, out); return;
    case ZW_DTYPE_Q5_0: zw_dequant_q5_0(row + c * ZW_Q5_0_BYTES, out); return;
    case ZW_DTYPE_Q4_K: zw_dequant_q4_k_chunk(row + sb * ZW_Q4_K_BYTES, (int)sub, out); return;
    case ZW_DTYPE_Q5_K: zw_dequant_q5_k_chunk(row + sb * ZW_Q5_K_BYTES, (int)sub, out); return;
    case ZW_DTYPE_Q6_K: zw_dequant_q6_k_chunk(row + sb * ZW_Q6_K_BYTES, (int)sub, out); return;
    default: return;
  }
}

// ---- RoPE ------------------------------------------------------------------------------
// Rotation pair i (0 <= i < head_dim/2) rotates elements (first, second):
// adjacent (GGUF/llama.cpp): (2i, 2i+1); halves (GPT-NeoX/HF): (i, i + head_dim/2).
ZW_KERNEL_FN int zw_rope_first(int i, int head_dim, bool adjacent) {
  (void)head_dim;
  return adjacent ? 2 * i : i;
}
ZW_KERNEL_FN int zw_rope_second(int i, int head_dim, bool adjacent) {
  return adjacent ? 2 * i + 1 : i + head_dim / 2;
}

// Frequency of pair i: theta^(-2i/head_dim). Angle = position * frequency.
// In f32 the angle's error grows with position (about pos * 6e-8 rad), so
// backends with doubles should use the f64 variant.
ZW_KERNEL_FN float zw_rope_inv_freq(int i, int head_dim, float theta) {
  return ZW_EXP2F(-((float)(2 * i) / (float)head_dim) * ZW_LOG2F(theta));
}
#if ZW_HAS_F64
ZW_KERNEL_FN double zw_rope_angle_f64(int pos, int i, int head_dim, double theta) {
  return (double)pos * pow(theta, -(double)(2 * i) / (double)head_dim);
}
#endif

// Rotate one pair: (x0, x1) -> (x0 c - x1 s, x0 s + x1 c).
struct zw_pair {
  float first, second;
};
ZW_KERNEL_FN zw_pair zw_rope_rotate(float x0, float x1, float c, float s) {
  zw_pair y;
  y.first = x0 * c - x1 * s;
  y.second = x0 * s + x1 * c;
  return y;
}

#endif  // ZEROWASM_KERNEL_MATH_H
