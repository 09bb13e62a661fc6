// A deliberately small CUDA execution model in plain C++20, for testing the
// kernels on machines without a GPU (see kernels/cuda_compat.cuh for the subset
// the kernels may use).
//
// A launch runs its blocks one after another; a block's threads are fibers on
// the calling OS thread, each running until it reaches a barrier. A fiber at
// __syncthreads resumes once every thread of the block is there, one at a warp
// shuffle once its warp's 32 threads are (the shuffle is a slot exchange
// between two such barriers). Threads run in index order on even launches and
// in reverse on odd ones, so a missing barrier between a writer and a reader
// shows up as a wrong result; a barrier not reached by every thread is an
// error. (OS threads per CUDA thread, as before, spent most of a 2-core
// machine's time in the scheduler.) __shared__ variables become function
// statics: one copy per kernel, which is per block because blocks run
// sequentially. None of this models timing or coalescing.
#ifndef ZEROWASM_CUDA_EMULATION_HPP
#define ZEROWASM_CUDA_EMULATION_HPP

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <vector>

namespace zw_emu {

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
};

struct alignas(16) float4_t {
  float x, y, z, w;
};

struct Launch {
  std::vector<uint32_t> shuffle_slots;  // one per thread
  std::vector<unsigned char> dynamic_shared;
};

struct ThreadState {
  dim3 thread_idx, block_idx, block_dim, grid_dim;
  Launch* launch = nullptr;
};

inline thread_local ThreadState tls;

// Runs body once per (block, thread) with the index variables set. Blocks run
// in order; every thread of a block finishes it before the next block starts.
// An exception thrown by body, or barriers not reached by every thread, end
// the launch with that exception.
void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& body);

void sync_block();  // __syncthreads
void sync_warp();   // all 32 threads of the caller's warp

inline float shfl_xor(float v, int lane_mask) {
  Launch& l = *tls.launch;
  unsigned t = tls.thread_idx.x;
  unsigned warp = t / 32;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  l.shuffle_slots[t] = bits;
  sync_warp();
  uint32_t other = l.shuffle_slots[warp * 32 + ((t % 32) ^ static_cast<unsigned>(lane_mask))];
  sync_warp();  // nobody overwrites a slot still being read
  float r;
  std::memcpy(&r, &other, 4);
  return r;
}

inline void* dynamic_shared() { return tls.launch->dynamic_shared.data(); }

}  // namespace zw_emu

#define ZW_GLOBAL inline
#define ZW_DEVICE_FN inline
#define ZW_SHARED static
#define ZW_DYNAMIC_SHARED(type, name) type* name = static_cast<type*>(zw_emu::dynamic_shared())
#define ZW_UNROLL
#define ZW_LAUNCH_BOUNDS(threads)

#define threadIdx (zw_emu::tls.thread_idx)
#define blockIdx (zw_emu::tls.block_idx)
#define blockDim (zw_emu::tls.block_dim)
#define gridDim (zw_emu::tls.grid_dim)

using float4 = zw_emu::float4_t;
// CUDA's sincospi (sin and cos of pi * x); glibc has none.
inline void sincospi(double x, double* s, double* c) {
  const double r = std::remainder(x, 2.0);  // exact, like CUDA's reduction
  *s = std::sin(r * 3.14159265358979323846);
  *c = std::cos(r * 3.14159265358979323846);
}
inline void zw_sync_block() { zw_emu::sync_block(); }
inline float zw_shfl_xor(float v, int lane_mask) { return zw_emu::shfl_xor(v, lane_mask); }

#endif  // ZEROWASM_CUDA_EMULATION_HPP
