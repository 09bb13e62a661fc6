// Included first by every zerowasm Metal shader: the Metal standard library,
// the math shared with the CPU and CUDA backends (csrc/kernels/kernel_math.h),
// the parameter blocks shared with the host, and threadgroup reductions.
//
// At build time csrc/backend/metal/embed_shaders.cmake inlines these quoted
// includes into one source string (newLibraryWithSource cannot resolve them).
#ifndef ZW_METAL_COMMON_H
#define ZW_METAL_COMMON_H

#include <metal_stdlib>
// kernel_math.h calls as_type and metal::precise unqualified-or-qualified;
// its Metal branch expects the metal namespace to be visible.
using namespace metal;

#include "kernel_math.h"
#include "zw_metal_params.h"

// [[threadgroup(i)]] on a kernel argument. All threadgroup memory is passed
// this way (sized by the host with setThreadgroupMemoryLength), never
// declared inside kernels, so the host-side syntax check and the CPU
// emulation (linux_check/) can treat `threadgroup` as an empty keyword.
// There `[[threadgroup(i)]]` would become `[[(i)]]`, so the attribute is
// dropped.
#if defined(ZW_HOST_CHECK)
#define ZW_THREADGROUP_ARG(i)
#else
#define ZW_THREADGROUP_ARG(i) [[threadgroup(i)]]
#endif

// Full unrolling for loops over register arrays (accumulators, SIMD-group
// matrices), so they stay in registers instead of being indexed in memory.
#if defined(ZW_HOST_CHECK)
#define ZW_UNROLL
#else
#define ZW_UNROLL _Pragma("clang loop unroll(full)")
#endif

// Sum of v over the whole threadgroup, returned to every thread.
// scratch holds one partial per simdgroup (ZW_MAX_SIMDGROUPS floats). Every
// thread adds the partials itself in one fixed order: deterministic, and no
// second broadcast step. The trailing barrier lets callers reuse scratch.
inline float zw_threadgroup_sum(float v, threadgroup float* scratch, uint sg, uint lane,
                                uint simdgroups) {
  v = simd_sum(v);
  if (lane == 0) scratch[sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float total = 0.0f;
  for (uint i = 0; i < simdgroups; ++i) total += scratch[i];
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return total;
}

// Maximum of v over the whole threadgroup (same scheme as zw_threadgroup_sum).
inline float zw_threadgroup_max(float v, threadgroup float* scratch, uint sg, uint lane,
                                uint simdgroups) {
  v = simd_max(v);
  if (lane == 0) scratch[sg] = v;
  threadgroup_barrier(mem_flags::mem_threadgroup);
  float best = -INFINITY;
  for (uint i = 0; i < simdgroups; ++i) best = max(best, scratch[i]);
  threadgroup_barrier(mem_flags::mem_threadgroup);
  return best;
}

#endif  // ZW_METAL_COMMON_H
