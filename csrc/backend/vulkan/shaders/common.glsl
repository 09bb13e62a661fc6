// Shared by every zerowasm Vulkan shader: extensions, buffer-reference types
// over raw device addresses, and the scalar math of csrc/kernels/kernel_math.h.
//
// GLSL cannot include kernel_math.h (C casts, templates, structs with
// static_assert), so the functions below restate it line for line, same
// constants and same operation order, so Vulkan results track the CPU
// backend's; the ABI numbers (dtype codes, block sizes) come from the one
// header every language shares, zerowasm_abi.h.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
#extension GL_EXT_shader_explicit_arithmetic_types_int8 : require
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_8bit_storage : require

#include "zerowasm_abi.h"

layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer I32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer F32x4 { vec4 v; };  // 4 floats, 4-byte aligned
layout(buffer_reference, std430, buffer_reference_align = 2) buffer U16 { uint16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 1) buffer U8 { uint8_t v[]; };

// Elementwise op codes (vk_executor.cpp ew_code).
#define ZW_VK_EW_ADD 0u
#define ZW_VK_EW_MUL 1u
#define ZW_VK_EW_SCALE 2u
#define ZW_VK_EW_GELU 3u
#define ZW_VK_EW_SILU 4u
#define ZW_VK_EW_GELU_TANH 5u
#define ZW_VK_EW_TO_F16 6u

// ---- IEEE binary16 -> binary32, bit exact (kernel_math.h zw_f16_to_f32) ----
float zw_f16_to_f32(uint h) {
  uint sign = (h & 0x8000u) << 16;
  uint e = (h >> 10) & 0x1fu;
  uint mant = h & 0x3ffu;
  if (e == 0x1fu) return uintBitsToFloat(sign | 0x7f800000u | (mant << 13));
  if (e != 0u) return uintBitsToFloat(sign | ((e + 112u) << 23) | (mant << 13));
  float mag = float(mant) * 5.9604644775390625e-8;
  return uintBitsToFloat(sign | floatBitsToUint(mag));
}

// binary32 -> binary16, round to nearest even (kernel_math.h zw_f32_to_f16)
uint zw_f32_to_f16(float f) {
  uint x = floatBitsToUint(f);
  uint sign = (x >> 16) & 0x8000u;
  uint ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return sign | 0x7e00u | ((ax >> 13) & 0x3ffu);
  if (ax >= 0x477ff000u) return sign | 0x7c00u;
  if (ax >= 0x38800000u) {
    uint h = (ax - 0x38000000u) >> 13;
    uint rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h += 1u;
    return sign | h;
  }
  uint e = ax >> 23;
  if (e < 102u) return sign;
  uint m = (ax & 0x7fffffu) | 0x800000u;
  uint shift = 126u - e;
  uint q = m >> shift;
  uint rem = m & ((1u << shift) - 1u);
  uint halfway = 1u << (shift - 1u);
  if (rem > halfway || (rem == halfway && (q & 1u) != 0u)) q += 1u;
  return sign | q;
}

// ---- exp, erf, activations (kernel_math.h) ----
float zw_expf(float x) {
  float xc = x < -87.0 ? -87.0 : x;
  xc = xc > 89.0 ? 89.0 : xc;
  float t = xc * 1.44269504088896341;
  int n = int(t + 128.5) - 128;
  float nf = float(n);
  float r = xc - nf * 0.693145751953125;
  r = r - nf * 1.428606765330187e-06;
  float p = 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  int n1 = n / 2;
  float s1 = uintBitsToFloat(uint(n1 + 127) << 23);
  float s2 = uintBitsToFloat(uint(n - n1 + 127) << 23);
  float y = (p * s1) * s2;
  y = x < -87.0 ? 0.0 : y;
  return isnan(x) ? x : y;
}

float zw_erfcx_ge1(float a) {
  float t = 1.0 / (1.0 + 0.5 * a);
  float p = -6.717447191e-02;
  p = p * t + 3.257351518e-01;
  p = p * t - 5.722033381e-01;
  p = p * t + 3.731280565e-01;
  p = p * t - 9.043917805e-02;
  p = p * t + 2.293997556e-01;
  p = p * t + 2.361325920e-01;
  p = p * t + 2.834677696e-01;
  p = p * t + 2.819932401e-01;
  p = p * t + 3.292704832e-06;
  return p;
}

float zw_erf_over_x_le1(float s) {
  float p = 8.006874123e-05;
  p = p * s - 8.053751080e-04;
  p = p * s + 5.192957819e-03;
  p = p * s - 2.685607038e-02;
  p = p * s + 1.128363460e-01;
  p = p * s - 3.761262894e-01;
  p = p * s + 1.128379226e+00;
  return p;
}

float zw_erfc_abs_ge1(float x) {
  float a = x < 0.0 ? -x : x;
  a = a < 1.0 ? 1.0 : a;
  a = a > 10.0 ? 10.0 : a;
  return zw_expf(-a * a) * zw_erfcx_ge1(a);
}

float zw_one_plus_erf(float x) {
  float small_ = 1.0 + x * zw_erf_over_x_le1(x * x);
  float ec = zw_erfc_abs_ge1(x);
  float big = x < 0.0 ? ec : 2.0 - ec;
  float a = x < 0.0 ? -x : x;
  return a <= 1.0 ? small_ : big;
}

float zw_gelu(float x) { return 0.5 * x * zw_one_plus_erf(x * 0.70710678118654752); }
float zw_silu(float x) { return x / (1.0 + zw_expf(-x)); }
// kernel_math.h's zw_gelu_tanh: x * sigmoid(2y), y = sqrt(2/pi) (x + 0.044715 x^3)
float zw_gelu_tanh(float x) { return x / (1.0 + zw_expf(-1.5957691216057308 * (x + 0.044715 * x * x * x))); }

// ---- weights: element e of a row starting at byte address `row` ----
// Rows of quantized types are GGUF blocks (zerowasm_abi.h): 2-byte aligned at best.
uint zw_u8_at(uint64_t addr) { return uint(U8(addr).v[0]); }
float zw_f16_at(uint64_t addr) { return zw_f16_to_f32(uint(U16(addr).v[0])); }

// Q4_K/Q5_K sub-block s: 6-bit scale and min from the 12 bytes at q (ggml's get_scale_min_k4).
uint zw_k4_scale(uint64_t q, uint s) {
  return s < 4u ? (zw_u8_at(q + s) & 63u) : ((zw_u8_at(q + s + 4u) & 15u) | ((zw_u8_at(q + s - 4u) >> 6) << 4));
}
uint zw_k4_min(uint64_t q, uint s) {
  return s < 4u ? (zw_u8_at(q + s + 4u) & 63u) : ((zw_u8_at(q + s + 4u) >> 4) | ((zw_u8_at(q + s) >> 6) << 4));
}

// The K-quants: value e (0..255) of the super-block at sb. Scale products are
// rounded before use and `precise` keeps d*q and the subtraction apart, as in
// kernel_math.h, so the values are gguf's bit for bit.
float zw_q4_k_value(uint64_t sb, uint e, bool five_bit) {
  uint s = e >> 5;
  precise float d = zw_f16_at(sb) * float(zw_k4_scale(sb + 4ul, s));
  precise float m = zw_f16_at(sb + 2ul) * float(zw_k4_min(sb + 4ul, s));
  uint qs = five_bit ? 48u : 16u;
  uint byte_ = zw_u8_at(sb + qs + 32u * (e >> 6) + (e & 31u));
  uint q = (e & 32u) != 0u ? (byte_ >> 4) : (byte_ & 15u);
  if (five_bit) q |= ((zw_u8_at(sb + 16u + (e & 31u)) >> s) & 1u) << 4;
  precise float dq = d * float(q);
  return dq - m;
}

float zw_q6_k_value(uint64_t sb, uint e) {
  uint h = e >> 7, s = (e >> 5) & 3u, l = e & 31u;
  uint lo = zw_u8_at(sb + 64u * h + 32u * (s & 1u) + l);
  uint nib = s < 2u ? (lo & 15u) : (lo >> 4);
  uint hi = (zw_u8_at(sb + 128u + 32u * h + l) >> (2u * s)) & 3u;
  precise float d = zw_f16_at(sb + 208ul) * float(int(int8_t(U8(sb + 192u + (e >> 4)).v[0])));
  precise float x = d * float(int(nib | (hi << 4)) - 32);
  return x;
}

float zw_load_weight(uint64_t row, uint e, uint dtype) {
  if (dtype == ZW_DTYPE_F32) return F32(row).v[e];
  if (dtype == ZW_DTYPE_F16) return zw_f16_to_f32(uint(U16(row).v[e]));
  uint j = e % ZW_QBLOCK;
  if (dtype == ZW_DTYPE_Q8_0) {
    uint64_t blk = row + uint64_t(e / ZW_QBLOCK) * ZW_Q8_0_BYTES;
    float d = zw_f16_to_f32(uint(U16(blk).v[0]));
    return d * float(int8_t(U8(blk).v[2u + j]));
  }
  if (dtype == ZW_DTYPE_Q4_0 || dtype == ZW_DTYPE_Q5_0) {
    bool five_bit = dtype == ZW_DTYPE_Q5_0;
    uint64_t blk = row + uint64_t(e / ZW_QBLOCK) * (five_bit ? ZW_Q5_0_BYTES : ZW_Q4_0_BYTES);
    uint qs = five_bit ? 6u : 2u;
    uint byte_ = zw_u8_at(blk + qs + (j & 15u));
    int q = int(j < 16u ? (byte_ & 15u) : (byte_ >> 4));
    if (five_bit) q = (q | int(((zw_u8_at(blk + 2u + j / 8u) >> (j % 8u)) & 1u) << 4)) - 16;
    else q -= 8;
    precise float x = zw_f16_at(blk) * float(q);
    return x;
  }
  uint64_t sb = row + uint64_t(e / ZW_QK_K) * uint64_t(dtype == ZW_DTYPE_Q4_K   ? ZW_Q4_K_BYTES
                                                        : dtype == ZW_DTYPE_Q5_K ? ZW_Q5_K_BYTES
                                                                                 : ZW_Q6_K_BYTES);
  if (dtype == ZW_DTYPE_Q4_K || dtype == ZW_DTYPE_Q5_K) return zw_q4_k_value(sb, e % ZW_QK_K, dtype == ZW_DTYPE_Q5_K);
  if (dtype == ZW_DTYPE_Q6_K) return zw_q6_k_value(sb, e % ZW_QK_K);
  uint64_t blk = row + uint64_t(e / ZW_QBLOCK) * ZW_Q4_1_BYTES;
  float d = zw_f16_to_f32(uint(U16(blk).v[0]));
  float m = zw_f16_to_f32(uint(U16(blk).v[1]));
  uint byte_ = uint(U8(blk).v[4u + (j & 15u)]);
  uint q = j < 16u ? (byte_ & 15u) : (byte_ >> 4);
  return d * float(q) + m;
}

// Weights e .. e + 3 of a row (e % 4 == 0), each exactly zw_load_weight(row, e + i):
// the quantized blocks' scales are read once and their quants with two 16-bit
// loads (blocks are 2-byte aligned; 32-value blocks never split a quad). On
// lavapipe every load is a per-lane loop, so fewer, wider loads are what count.
vec4 zw_load_weight4(uint64_t row, uint e, uint dtype) {
  if (dtype == ZW_DTYPE_F32) return F32x4(row + uint64_t(e) * 4ul).v;
  uint j = e % ZW_QBLOCK;
  if (dtype == ZW_DTYPE_Q8_0) {
    uint64_t blk = row + uint64_t(e / ZW_QBLOCK) * ZW_Q8_0_BYTES;
    float d = zw_f16_at(blk);
    U16 q = U16(blk + 2u + j);
    uint lo = uint(q.v[0]), hi = uint(q.v[1]);
    ivec4 v = ivec4(int(lo << 24) >> 24, int(lo << 16) >> 24, int(hi << 24) >> 24, int(hi << 16) >> 24);
    return vec4(d * float(v.x), d * float(v.y), d * float(v.z), d * float(v.w));
  }
  if (dtype == ZW_DTYPE_Q4_1) {
    uint64_t blk = row + uint64_t(e / ZW_QBLOCK) * ZW_Q4_1_BYTES;
    float d = zw_f16_at(blk);
    float m = zw_f16_at(blk + 2ul);
    U16 q = U16(blk + 4u + (j & 15u));
    uint bytes = uint(q.v[0]) | (uint(q.v[1]) << 16);
    uint shift = j < 16u ? 0u : 4u;
    uvec4 v = (uvec4(bytes, bytes >> 8, bytes >> 16, bytes >> 24) >> shift) & 15u;
    return vec4(d * float(v.x) + m, d * float(v.y) + m, d * float(v.z) + m, d * float(v.w) + m);
  }
  return vec4(zw_load_weight(row, e, dtype), zw_load_weight(row, e + 1u, dtype), zw_load_weight(row, e + 2u, dtype),
              zw_load_weight(row, e + 3u, dtype));
}

// Byte address of element i of an f32 array at `base`.
uint64_t zw_f32_at(uint64_t base, uint64_t i) { return base + i * 4ul; }
