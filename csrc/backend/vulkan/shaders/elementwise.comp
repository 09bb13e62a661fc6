// zw.add / mul / scale / gelu / silu / gelu_tanh, and zw.to_f16 (out binary16): out[i] = f(a[i], b[i]), grid-stride.
// out may alias a or b exactly: each element is read, then written, by one thread.
#version 460
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform Push {  // vk_params.h ElementwisePush
  uint64_t a, b, out_;
  uint n;
  float s;
  uint op;
  uint pad;
} p;

void main() {
  F32 a = F32(p.a);
  F32 b = F32(p.b);
  F32 o = F32(p.out_);
  uint stride = gl_NumWorkGroups.x * 256u;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
    float x = a.v[i];
    if (p.op == ZW_VK_EW_TO_F16) {
      U16(p.out_).v[i] = uint16_t(zw_f32_to_f16(x));
      continue;
    }
    float y;
    if (p.op == ZW_VK_EW_ADD) y = x + b.v[i];
    else if (p.op == ZW_VK_EW_MUL) y = x * b.v[i];
    else if (p.op == ZW_VK_EW_SCALE) y = x * p.s;
    else if (p.op == ZW_VK_EW_GELU) y = zw_gelu(x);
    else if (p.op == ZW_VK_EW_SILU) y = zw_silu(x);
    else y = zw_gelu_tanh(x);
    o.v[i] = y;
  }
}
