// Reading weight tensors (matmul's B, gather's table) of every zw dtype.
//
// Rows are passed as byte pointers; tag types pick the dtype at compile
// time so each kernel is specialised without templated kernel entry points.
// The block layouts and dequantization come from the shared kernel math.
#ifndef ZW_METAL_WEIGHTS_H
#define ZW_METAL_WEIGHTS_H

#include "zw_metal_common.h"

struct ZwF32 {};
struct ZwF16 {};
struct ZwQ8_0 {};
struct ZwQ4_1 {};
// The types below read through the shared zw_quant_value / zw_dequant_chunk
// (K-quants in 32-value chunks of their 256-value super-blocks).
struct ZwQ4_0 { enum { code = ZW_DTYPE_Q4_0 }; };
struct ZwQ5_0 { enum { code = ZW_DTYPE_Q5_0 }; };
struct ZwQ4_K { enum { code = ZW_DTYPE_Q4_K }; };
struct ZwQ5_K { enum { code = ZW_DTYPE_Q5_K }; };
struct ZwQ6_K { enum { code = ZW_DTYPE_Q6_K }; };

// Element c of a row.
inline float zw_weight_at(ZwF32, device const uchar* row, uint c) {
  return ((device const float*)row)[c];
}
inline float zw_weight_at(ZwF16, device const uchar* row, uint c) {
  return float(((device const half*)row)[c]);
}
inline float zw_weight_at(ZwQ8_0, device const uchar* row, uint c) {
  return zw_q8_0_value(row + (c / ZW_QBLOCK) * ZW_Q8_0_BYTES, int(c % ZW_QBLOCK));
}
inline float zw_weight_at(ZwQ4_1, device const uchar* row, uint c) {
  return zw_q4_1_value(row + (c / ZW_QBLOCK) * ZW_Q4_1_BYTES, int(c % ZW_QBLOCK));
}
template <typename Type>
inline float zw_weight_at(Type, device const uchar* row, uint c) {
  return zw_quant_value(Type::code, row, c);
}

// Values [k0, k0 + 32) of a row of k values into w; zeros past k. For the
// block types k0 is a multiple of 32 and k0 < k (k % 32 == 0), so this is
// exactly one block (or one 32-value chunk of a K-quant super-block).
inline void zw_weight_chunk(ZwF32, device const uchar* row, uint k0, uint k, thread float* w) {
  device const float* r = (device const float*)row;
  for (uint j = 0; j < ZW_QBLOCK; ++j) w[j] = k0 + j < k ? r[k0 + j] : 0.0f;
}
inline void zw_weight_chunk(ZwF16, device const uchar* row, uint k0, uint k, thread float* w) {
  device const half* r = (device const half*)row;
  for (uint j = 0; j < ZW_QBLOCK; ++j) w[j] = k0 + j < k ? float(r[k0 + j]) : 0.0f;
}
inline void zw_weight_chunk(ZwQ8_0, device const uchar* row, uint k0, uint k, thread float* w) {
  (void)k;
  zw_dequant_q8_0(row + (k0 / ZW_QBLOCK) * ZW_Q8_0_BYTES, w);
}
inline void zw_weight_chunk(ZwQ4_1, device const uchar* row, uint k0, uint k, thread float* w) {
  (void)k;
  zw_dequant_q4_1(row + (k0 / ZW_QBLOCK) * ZW_Q4_1_BYTES, w);
}
template <typename Type>
inline void zw_weight_chunk(Type, device const uchar* row, uint k0, uint k, thread float* w) {
  (void)k;
  zw_dequant_chunk(Type::code, row, k0 / ZW_QBLOCK, w);
}

#endif  // ZW_METAL_WEIGHTS_H
