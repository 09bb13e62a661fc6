// zw.softmax: per row softmax(scale * x), one workgroup per row. Causal rows
// keep columns c <= r + (cols - rows) and write 0 elsewhere; a row keeping
// nothing is all zeros. out may alias x exactly (each invocation reads its own
// columns until the reductions are done, then rewrites only those).
#version 460
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform Push {  // vk_params.h SoftmaxPush
  uint64_t x, out_;
  uint rows, cols;
  float scale;
  uint causal;
} p;

void main() {
  uint t = gl_LocalInvocationID.x;
  for (uint row = gl_WorkGroupID.x; row < p.rows; row += gl_NumWorkGroups.x) {
    F32 x = F32(zw_f32_at(p.x, uint64_t(row) * p.cols));
    F32 o = F32(zw_f32_at(p.out_, uint64_t(row) * p.cols));
    uint kept = p.cols;
    if (p.causal != 0u) {
      int last = int(row) + int(p.cols) - int(p.rows);
      kept = last < 0 ? 0u : min(uint(last) + 1u, p.cols);
    }
    float best = -1.0 / 0.0;
    for (uint c = t; c < kept; c += 256u) best = max(best, p.scale * x.v[c]);
    best = zw_group_max(best);
    float sum = 0.0;
    for (uint c = t; c < kept; c += 256u) sum += zw_expf(p.scale * x.v[c] - best);
    sum = zw_group_sum(sum);
    float inv = kept > 0u ? 1.0 / sum : 0.0;
    for (uint c = t; c < p.cols; c += 256u) o.v[c] = c < kept ? zw_expf(p.scale * x.v[c] - best) * inv : 0.0;
  }
}
