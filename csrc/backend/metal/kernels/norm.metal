// zw.layernorm and zw.rmsnorm: one threadgroup per row.
//
// Two passes for layernorm (mean, then the mean of squared deviations) keep
// the variance accurate for rows with a large mean. Every read of the row
// happens before the reductions finish, and the final pass reads and writes
// each element from one thread, so out == x (exact aliasing) is safe.
//
// x [[buffer(0)]], gamma [[buffer(1)]], beta [[buffer(2)]] (layernorm only),
// out [[buffer(3)]], params [[buffer(4)]], scratch [[threadgroup(0)]] of
// ZW_MAX_SIMDGROUPS floats. Grid: rows threadgroups.
#include "zw_metal_common.h"

kernel void zwk_layernorm(device const float* x [[buffer(0)]],
                          device const float* gamma [[buffer(1)]],
                          device const float* beta [[buffer(2)]], device float* out [[buffer(3)]],
                          constant ZwNormParams& p [[buffer(4)]],
                          threadgroup float* scratch ZW_THREADGROUP_ARG(0),
                          uint row [[threadgroup_position_in_grid]],
                          uint tid [[thread_position_in_threadgroup]],
                          uint threads [[threads_per_threadgroup]],
                          uint lane [[thread_index_in_simdgroup]],
                          uint sg [[simdgroup_index_in_threadgroup]],
                          uint simdgroups [[simdgroups_per_threadgroup]]) {
  const uint cols = p.cols;
  device const float* xr = x + row * cols;  // < 2^30 elements: no uint overflow
  device float* outr = out + row * cols;

  float sum = 0.0f;
  for (uint c = tid; c < cols; c += threads) sum += xr[c];
  const float mean = zw_threadgroup_sum(sum, scratch, sg, lane, simdgroups) / float(cols);

  float squares = 0.0f;
  for (uint c = tid; c < cols; c += threads) {
    const float d = xr[c] - mean;
    squares += d * d;
  }
  const float var = zw_threadgroup_sum(squares, scratch, sg, lane, simdgroups) / float(cols);
  const float inv_std = 1.0f / ZW_SQRTF(var + p.eps);

  for (uint c = tid; c < cols; c += threads) outr[c] = (xr[c] - mean) * inv_std * gamma[c] + beta[c];
}

kernel void zwk_rmsnorm(device const float* x [[buffer(0)]], device const float* gamma [[buffer(1)]],
                        device float* out [[buffer(3)]], constant ZwNormParams& p [[buffer(4)]],
                        threadgroup float* scratch ZW_THREADGROUP_ARG(0),
                        uint row [[threadgroup_position_in_grid]],
                        uint tid [[thread_position_in_threadgroup]],
                        uint threads [[threads_per_threadgroup]],
                        uint lane [[thread_index_in_simdgroup]],
                        uint sg [[simdgroup_index_in_threadgroup]],
                        uint simdgroups [[simdgroups_per_threadgroup]]) {
  const uint cols = p.cols;
  device const float* xr = x + row * cols;
  device float* outr = out + row * cols;

  float squares = 0.0f;
  for (uint c = tid; c < cols; c += threads) squares += xr[c] * xr[c];
  const float mean_square =
      zw_threadgroup_sum(squares, scratch, sg, lane, simdgroups) / float(cols);
  const float inv_rms = 1.0f / ZW_SQRTF(mean_square + p.eps);

  for (uint c = tid; c < cols; c += threads) outr[c] = xr[c] * inv_rms * gamma[c];
}
