// The few CUDA constructs the kernels use, behind macros, so the same kernel
// source compiles with nvcc (the real thing) and with a plain C++20 compiler
// against emu/cuda_emulation.hpp (one fiber per CUDA thread), which is how
// the kernels are tested on machines without a GPU.
//
// Rules for kernel code: index with threadIdx/blockIdx/blockDim/gridDim .x only;
// blockDim.x is a multiple of 32; zw_sync_block() and the warp shuffles are
// reached by every thread of the block / warp (never under divergent control
// flow); shared memory only through ZW_SHARED / ZW_DYNAMIC_SHARED.
#ifndef ZEROWASM_CUDA_COMPAT_CUH
#define ZEROWASM_CUDA_COMPAT_CUH

#if defined(__CUDACC__)

#define ZW_GLOBAL extern "C" __global__
#define ZW_DEVICE_FN __device__ __forceinline__
#define ZW_SHARED __shared__
#define ZW_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#define ZW_UNROLL _Pragma("unroll")
#define ZW_LAUNCH_BOUNDS(threads) __launch_bounds__(threads)

ZW_DEVICE_FN void zw_sync_block() { __syncthreads(); }
ZW_DEVICE_FN float zw_shfl_xor(float v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask);
}

#else  // CPU emulation for tests

#include "backend/cuda/emu/cuda_emulation.hpp"

#endif

#endif  // ZEROWASM_CUDA_COMPAT_CUH
