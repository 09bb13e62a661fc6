// Parameter blocks of the CUDA kernels, shared by the host executor (compiled
// by the C++ compiler, no CUDA headers) and the kernels (compiled by nvcc).
//
// Every kernel takes exactly one of these structs by value, so the host passes
// one pointer in cuLaunchKernel's kernelParams and the two sides cannot drift
// apart argument by argument: both compile this one definition. Only fixed-width
// fields, ordered so there is no padding; the static_asserts pin the layout.
#ifndef ZEROWASM_CUDA_KERNEL_PARAMS_H
#define ZEROWASM_CUDA_KERNEL_PARAMS_H

#include <stdint.h>

namespace zw_cuda {

typedef uint64_t DevPtr;  // a device address (kernels cast it to a typed pointer)

// out[i] = f(a[i], b[i]). vec4: a, b and out are 16-byte aligned, so the kernel
// may move float4s (the tail past n/4*4 is done element by element).
struct ElementwiseParams {
  DevPtr a, b, out;
  int64_t n;
  float s;
  int32_t vec4;
};

struct NormParams {
  DevPtr x, gamma, beta, out;
  int32_t rows, cols;
  float eps;
  int32_t rms;
};

struct SoftmaxParams {
  DevPtr x, out;
  int32_t rows, cols;
  float scale;
  int32_t causal;
};

struct RopeParams {
  DevPtr x, out;
  DevPtr factors;  // 0, or head_dim/2 f32 divisors of the frequencies (zw.rope_factors)
  int32_t rows, heads, head_dim, pos0;
  float theta;
  int32_t adjacent;
};

// chunk: keys scored per pass of the online softmax (dynamic shared memory is
// (2 * head_dim + chunk) floats).
struct AttentionParams {
  DevPtr q, k, v, out;
  int32_t seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  int32_t causal, chunk;
  int32_t kv_f16, pad_;  // kv_f16: k, v hold binary16 (ZW_KV_F16)
};

// rows is passed again so the kernel can re-check every id: validation read the
// ids on the host, but the guest may rewrite them before the kernel runs.
struct GatherParams {
  DevPtr table, ids, out;
  int64_t row_bytes;
  int32_t rows, n, dim, pad_;
};

// tiles_n: column tiles of the tiled kernels (block b covers tile row b / tiles_n,
// tile column b % tiles_n); unused by the GEMV kernels.
struct MatmulParams {
  DevPtr a, b, c;
  int64_t b_row_bytes;
  int32_t m, n, k, accumulate;
  int32_t tiles_n, pad_;
};

static_assert(sizeof(ElementwiseParams) == 40, "ElementwiseParams layout");
static_assert(sizeof(NormParams) == 48, "NormParams layout");
static_assert(sizeof(SoftmaxParams) == 32, "SoftmaxParams layout");
static_assert(sizeof(RopeParams) == 48, "RopeParams layout");
static_assert(sizeof(AttentionParams) == 72, "AttentionParams layout");
static_assert(sizeof(GatherParams) == 48, "GatherParams layout");
static_assert(sizeof(MatmulParams) == 56, "MatmulParams layout");

// Launch geometry both sides rely on.
constexpr int kElementwiseThreads = 256;
constexpr int kGemmThreads = 256;        // (BM/TM) * (BN/TN) of both tile shapes
constexpr int kGemvWarps = 8;            // B rows per block of the GEMV kernels
constexpr int kGemvMaxM = 8;             // GEMV handles m <= this; tiled kernels beyond
constexpr int kAttentionThreads = 128;
constexpr int kAttentionMaxChunk = 1024;
constexpr int kStaticSharedReserve = 1024;  // bytes of static shared memory the reductions use at most

}  // namespace zw_cuda

// Every kernel of the module: X(name, parameter struct). The host looks each up
// by name (cuModuleGetFunction); the CPU emulation dispatches on the same list.
#define ZW_CUDA_KERNELS(X)            \
  X(zw_ew_add, ElementwiseParams)     \
  X(zw_ew_mul, ElementwiseParams)     \
  X(zw_ew_scale, ElementwiseParams)   \
  X(zw_ew_gelu, ElementwiseParams)    \
  X(zw_ew_silu, ElementwiseParams)    \
  X(zw_ew_gelu_tanh, ElementwiseParams) \
  X(zw_to_f16, ElementwiseParams)     \
  X(zw_norm, NormParams)              \
  X(zw_softmax, SoftmaxParams)        \
  X(zw_rope, RopeParams)              \
  X(zw_attention, AttentionParams)    \
  X(zw_gather_f32, GatherParams)      \
  X(zw_gather_f16, GatherParams)      \
  X(zw_gather_q8_0, GatherParams)     \
  X(zw_gather_q4_1, GatherParams)     \
  X(zw_gather_q4_0, GatherParams)     \
  X(zw_gather_q5_0, GatherParams)     \
  X(zw_gather_q4_k, GatherParams)     \
  X(zw_gather_q5_k, GatherParams)     \
  X(zw_gather_q6_k, GatherParams)     \
  X(zw_gemv_f32, MatmulParams)        \
  X(zw_gemv_f16, MatmulParams)        \
  X(zw_gemv_q8_0, MatmulParams)       \
  X(zw_gemv_q4_1, MatmulParams)       \
  X(zw_gemv_q4_0, MatmulParams)       \
  X(zw_gemv_q5_0, MatmulParams)       \
  X(zw_gemv_q4_k, MatmulParams)       \
  X(zw_gemv_q5_k, MatmulParams)       \
  X(zw_gemv_q6_k, MatmulParams)       \
  X(zw_gemm64_f32, MatmulParams)      \
  X(zw_gemm64_f16, MatmulParams)      \
  X(zw_gemm64_q8_0, MatmulParams)     \
  X(zw_gemm64_q4_1, MatmulParams)     \
  X(zw_gemm64_q4_0, MatmulParams)     \
  X(zw_gemm64_q5_0, MatmulParams)     \
  X(zw_gemm64_q4_k, MatmulParams)     \
  X(zw_gemm64_q5_k, MatmulParams)     \
  X(zw_gemm64_q6_k, MatmulParams)     \
  X(zw_gemm128_f32, MatmulParams)     \
  X(zw_gemm128_f16, MatmulParams)     \
  X(zw_gemm128_q8_0, MatmulParams)    \
  X(zw_gemm128_q4_1, MatmulParams)    \
  X(zw_gemm128_q4_0, MatmulParams)    \
  X(zw_gemm128_q5_0, MatmulParams)    \
  X(zw_gemm128_q4_k, MatmulParams)    \
  X(zw_gemm128_q5_k, MatmulParams)    \
  X(zw_gemm128_q6_k, MatmulParams)

#endif  // ZEROWASM_CUDA_KERNEL_PARAMS_H
