// Elementwise ops (zw.add, zw.mul, zw.scale, zw.gelu, zw.silu, zw.gelu_tanh, zw.to_f16).
//
// Kernel names carry the zwk_ prefix so they never collide with the shared
// math functions (zw_gelu, zw_silu, zw_gelu_tanh) they call.
//
// Grid-stride loops: the host caps the grid, so any n fits one dispatch.
// out may alias an input exactly (each element is read, then written, by
// one thread), never partially (validation rejects that).
//
// Binary: a [[buffer(0)]], b [[buffer(1)]], out [[buffer(2)]], params [[buffer(3)]].
// Unary:  x [[buffer(0)]], out [[buffer(1)]], params [[buffer(2)]].
#include "zw_metal_common.h"

kernel void zwk_add(device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],
                   device float* out [[buffer(2)]],
                   constant ZwElementwiseParams& p [[buffer(3)]],
                   uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = a[i] + b[i];
}

kernel void zwk_mul(device const float* a [[buffer(0)]], device const float* b [[buffer(1)]],
                   device float* out [[buffer(2)]],
                   constant ZwElementwiseParams& p [[buffer(3)]],
                   uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = a[i] * b[i];
}

kernel void zwk_scale(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                     constant ZwElementwiseParams& p [[buffer(2)]],
                     uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = p.s * x[i];
}

// Exact (erf) GELU, from the shared kernel math.
kernel void zwk_gelu(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                    constant ZwElementwiseParams& p [[buffer(2)]],
                    uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = zw_gelu(x[i]);
}

kernel void zwk_silu(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                    constant ZwElementwiseParams& p [[buffer(2)]],
                    uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = zw_silu(x[i]);
}

kernel void zwk_gelu_tanh(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                          constant ZwElementwiseParams& p [[buffer(2)]],
                          uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = zw_gelu_tanh(x[i]);
}

// zw.to_f16: out holds binary16 (kernel_math.h's rounding, bit for bit as on the CPU).
kernel void zwk_to_f16(device const float* x [[buffer(0)]], device ushort* out [[buffer(1)]],
                       constant ZwElementwiseParams& p [[buffer(2)]],
                       uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  for (uint i = gid; i < p.n; i += grid) out[i] = zw_f32_to_f16(x[i]);
}
