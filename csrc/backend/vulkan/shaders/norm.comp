// zw.layernorm / zw.rmsnorm: one workgroup per row (looping when rows exceed
// the dispatch). Layernorm takes the mean first, then the variance around it
// (two passes, no cancellation). out may alias x exactly: every invocation
// reads and writes only its own columns.
#version 460
#include "common.glsl"
#include "reduce.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform Push {  // vk_params.h NormPush
  uint64_t x, gamma, beta, out_;
  uint rows, cols;
  float eps;
  uint rms;
} p;

void main() {
  uint t = gl_LocalInvocationID.x;
  F32 g = F32(p.gamma);
  F32 bt = F32(p.beta);
  for (uint row = gl_WorkGroupID.x; row < p.rows; row += gl_NumWorkGroups.x) {
    F32 x = F32(zw_f32_at(p.x, uint64_t(row) * p.cols));
    F32 o = F32(zw_f32_at(p.out_, uint64_t(row) * p.cols));
    float inv_n = 1.0 / float(p.cols);
    if (p.rms != 0u) {
      float ss = 0.0;
      for (uint c = t; c < p.cols; c += 256u) ss += x.v[c] * x.v[c];
      float inv = 1.0 / sqrt(zw_group_sum(ss) * inv_n + p.eps);
      for (uint c = t; c < p.cols; c += 256u) o.v[c] = x.v[c] * inv * g.v[c];
    } else {
      float s = 0.0;
      for (uint c = t; c < p.cols; c += 256u) s += x.v[c];
      float mean = zw_group_sum(s) * inv_n;
      float ss = 0.0;
      for (uint c = t; c < p.cols; c += 256u) {
        float d = x.v[c] - mean;
        ss += d * d;
      }
      float inv = 1.0 / sqrt(zw_group_sum(ss) * inv_n + p.eps);
      for (uint c = t; c < p.cols; c += 256u) o.v[c] = (x.v[c] - mean) * inv * g.v[c] + bt.v[c];
    }
  }
}
