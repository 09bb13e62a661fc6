// zw.softmax: per row softmax(scale * x), one threadgroup per row.
//
// Causal rows keep columns c <= r + (cols - rows) and write 0 elsewhere; a
// row that keeps nothing (rows > cols) is all zeros rather than NaN. Exact
// aliasing out == x is safe: the row is only read until both reductions are
// done, then each element is read and written by the same thread.
//
// x [[buffer(0)]], out [[buffer(1)]], params [[buffer(2)]], scratch
// [[threadgroup(0)]] of ZW_MAX_SIMDGROUPS floats. Grid: rows threadgroups.
#include "zw_metal_common.h"

kernel void zwk_softmax(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                        constant ZwSoftmaxParams& p [[buffer(2)]],
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

  // Columns [0, kept) take part; int math because r + cols - rows may be < 0.
  uint kept = cols;
  if (p.causal != 0) {
    const int last = int(row) + int(cols) - int(p.rows);
    kept = last < 0 ? 0u : min(uint(last) + 1u, cols);
  }

  float best = -INFINITY;
  for (uint c = tid; c < kept; c += threads) best = max(best, p.scale * xr[c]);
  best = zw_threadgroup_max(best, scratch, sg, lane, simdgroups);

  float sum = 0.0f;
  for (uint c = tid; c < kept; c += threads) sum += zw_expf(p.scale * xr[c] - best);
  sum = zw_threadgroup_sum(sum, scratch, sg, lane, simdgroups);

  const float inv_sum = kept > 0 ? 1.0f / sum : 0.0f;
  for (uint c = tid; c < cols; c += threads) {
    outr[c] = c < kept ? zw_expf(p.scale * xr[c] - best) * inv_sum : 0.0f;
  }
}
