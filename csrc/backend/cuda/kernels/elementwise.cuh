// Elementwise ops: out[i] = f(a[i], b[i]). out may be exactly a or b: each
// element is read and then written by the same thread, so aliasing is safe.
#ifndef ZEROWASM_CUDA_ELEMENTWISE_CUH
#define ZEROWASM_CUDA_ELEMENTWISE_CUH

#include "backend/cuda/kernels/common.cuh"

namespace zw_cuda {

enum ElementwiseOp { kAdd, kMul, kScale, kGelu, kSilu, kGeluTanh };

template <int Op>
ZW_DEVICE_FN float apply(float a, float b, float s) {
  if constexpr (Op == kAdd) return a + b;
  else if constexpr (Op == kMul) return a * b;
  else if constexpr (Op == kScale) return s * a;
  else if constexpr (Op == kGelu) return zw_gelu(a);
  else if constexpr (Op == kSilu) return zw_silu(a);
  else return zw_gelu_tanh(a);
}

template <int Op>
ZW_DEVICE_FN void elementwise(const ElementwiseParams& p) {
  const float* a = ptr<const float>(p.a);
  const float* b = ptr<const float>(p.b);  // unused (maybe 0) for unary ops
  float* out = ptr<float>(p.out);
  const int64_t first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t scalar_from = 0;
  if (p.vec4) {
    const int64_t n4 = p.n / 4;
    const float4* a4 = reinterpret_cast<const float4*>(a);
    const float4* b4 = reinterpret_cast<const float4*>(b);
    float4* out4 = reinterpret_cast<float4*>(out);
    for (int64_t i = first; i < n4; i += stride) {
      float4 x = a4[i];
      float4 y = x;
      if constexpr (Op == kAdd || Op == kMul) y = b4[i];
      float4 r;
      r.x = apply<Op>(x.x, y.x, p.s);
      r.y = apply<Op>(x.y, y.y, p.s);
      r.z = apply<Op>(x.z, y.z, p.s);
      r.w = apply<Op>(x.w, y.w, p.s);
      out4[i] = r;
    }
    scalar_from = n4 * 4;
  }
  for (int64_t i = scalar_from + first; i < p.n; i += stride) {
    float x = a[i];
    float y = 0.0f;
    if constexpr (Op == kAdd || Op == kMul) y = b[i];
    out[i] = apply<Op>(x, y, p.s);
  }
}

// zw.to_f16: out[i] = binary16(a[i]) with kernel_math.h's rounding (bit for bit
// as on the CPU); out is 2-byte aligned at best, so stores are per element.
ZW_DEVICE_FN void to_f16(const ElementwiseParams& p) {
  const float* a = ptr<const float>(p.a);
  zw_u16* out = ptr<zw_u16>(p.out);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride)
    out[i] = zw_f32_to_f16(a[i]);
}

}  // namespace zw_cuda

ZW_GLOBAL void zw_ew_add(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kAdd>(p); }
ZW_GLOBAL void zw_ew_mul(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kMul>(p); }
ZW_GLOBAL void zw_ew_scale(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kScale>(p); }
ZW_GLOBAL void zw_ew_gelu(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kGelu>(p); }
ZW_GLOBAL void zw_ew_silu(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kSilu>(p); }
ZW_GLOBAL void zw_ew_gelu_tanh(zw_cuda::ElementwiseParams p) { zw_cuda::elementwise<zw_cuda::kGeluTanh>(p); }
ZW_GLOBAL void zw_to_f16(zw_cuda::ElementwiseParams p) { zw_cuda::to_f16(p); }

#endif  // ZEROWASM_CUDA_ELEMENTWISE_CUH
