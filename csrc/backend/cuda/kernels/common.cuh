// Reductions and element loads shared by the kernels.
#ifndef ZEROWASM_CUDA_COMMON_CUH
#define ZEROWASM_CUDA_COMMON_CUH

#include <math.h>
#include <stdint.h>

#include "backend/cuda/kernels/cuda_compat.cuh"
#include "backend/cuda/kernels/kernel_params.h"
#include "kernels/kernel_math.h"

namespace zw_cuda {

template <typename T>
ZW_DEVICE_FN T* ptr(DevPtr address) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(address));
}

ZW_DEVICE_FN float warp_sum(float v) {
  for (int mask = 16; mask > 0; mask >>= 1) v += zw_shfl_xor(v, mask);
  return v;
}

ZW_DEVICE_FN float warp_max(float v) {
  for (int mask = 16; mask > 0; mask >>= 1) v = fmaxf(v, zw_shfl_xor(v, mask));
  return v;
}

// Sum / max over the whole block, returned to every thread. Every thread of
// the block must call it; it ends with a barrier so the scratch can be reused.
ZW_DEVICE_FN float block_sum(float v) {
  ZW_SHARED float partial[32];
  ZW_SHARED float result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  if (lane == 0) partial[warp] = v;
  zw_sync_block();
  if (warp == 0) {
    float t = lane < warps ? partial[lane] : 0.0f;
    t = warp_sum(t);
    if (lane == 0) result = t;
  }
  zw_sync_block();
  float r = result;
  zw_sync_block();
  return r;
}

ZW_DEVICE_FN float block_max(float v) {
  ZW_SHARED float partial[32];
  ZW_SHARED float result;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  if (lane == 0) partial[warp] = v;
  zw_sync_block();
  if (warp == 0) {
    float t = lane < warps ? partial[lane] : -INFINITY;
    t = warp_max(t);
    if (lane == 0) result = t;
  }
  zw_sync_block();
  float r = result;
  zw_sync_block();
  return r;
}

// Element e of a weight row in dtype T (ZW_DTYPE_*), as f32. Rows of block
// types start on a block; blocks are read byte-wise (2-byte aligned at best).
template <int T>
ZW_DEVICE_FN float load_weight(const uint8_t* row, int64_t e) {
  if constexpr (T == ZW_DTYPE_F32) {
    return reinterpret_cast<const float*>(row)[e];
  } else if constexpr (T == ZW_DTYPE_F16) {
    return zw_f16_to_f32(zw_load_u16le(row + 2 * e));
  } else {  // block types (k-quants: e within its 256-value super-block)
    return zw_quant_value(T, row, static_cast<zw_u32>(e));
  }
}

}  // namespace zw_cuda

#endif  // ZEROWASM_CUDA_COMMON_CUH
