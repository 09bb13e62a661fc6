// Every Metal kernel zerowasm dispatches, in one list: X(id, function).
//
// `id` names the host's mtl::Kernel enumerator, `function` the shader's
// `kernel void` entry point (the pipeline is looked up by its name). The
// executor's pipeline table, the encode plan and the CPU emulator expand this
// list; the Linux checks (linux_check/checks.cmake) assert that it names
// exactly the shaders' kernel functions. Preprocessor-only, so the shaders may
// include it too.
//
// The dtype families (gather, matvec, tiled, simd) list f32, f16, q8_0, q4_1,
// q4_0, q5_0, q4_k, q5_k, q6_k in ZW_DTYPE_* order: the plan picks a family member by adding the dtype code.
#ifndef ZW_METAL_KERNELS_H
#define ZW_METAL_KERNELS_H

#define ZW_METAL_KERNELS(X)                   \
  X(add, zwk_add)                           \
  X(mul, zwk_mul)                           \
  X(scale, zwk_scale)                       \
  X(gelu, zwk_gelu)                         \
  X(silu, zwk_silu)                         \
  X(gelu_tanh, zwk_gelu_tanh)               \
  X(to_f16, zwk_to_f16)                     \
  X(layernorm, zwk_layernorm)               \
  X(rmsnorm, zwk_rmsnorm)                   \
  X(softmax, zwk_softmax)                   \
  X(rope, zwk_rope)                         \
  X(attention, zwk_attention)               \
  X(gather_f32, zwk_gather_f32)             \
  X(gather_f16, zwk_gather_f16)             \
  X(gather_q8_0, zwk_gather_q8_0)           \
  X(gather_q4_1, zwk_gather_q4_1)           \
  X(gather_q4_0, zwk_gather_q4_0)           \
  X(gather_q5_0, zwk_gather_q5_0)           \
  X(gather_q4_k, zwk_gather_q4_k)           \
  X(gather_q5_k, zwk_gather_q5_k)           \
  X(gather_q6_k, zwk_gather_q6_k)           \
  X(matvec_f32, zwk_matvec_f32)             \
  X(matvec_f16, zwk_matvec_f16)             \
  X(matvec_q8_0, zwk_matvec_q8_0)           \
  X(matvec_q4_1, zwk_matvec_q4_1)           \
  X(matvec_q4_0, zwk_matvec_q4_0)           \
  X(matvec_q5_0, zwk_matvec_q5_0)           \
  X(matvec_q4_k, zwk_matvec_q4_k)           \
  X(matvec_q5_k, zwk_matvec_q5_k)           \
  X(matvec_q6_k, zwk_matvec_q6_k)           \
  X(tiled_f32, zwk_matmul_tiled_f32)        \
  X(tiled_f16, zwk_matmul_tiled_f16)        \
  X(tiled_q8_0, zwk_matmul_tiled_q8_0)      \
  X(tiled_q4_1, zwk_matmul_tiled_q4_1)      \
  X(tiled_q4_0, zwk_matmul_tiled_q4_0)      \
  X(tiled_q5_0, zwk_matmul_tiled_q5_0)      \
  X(tiled_q4_k, zwk_matmul_tiled_q4_k)      \
  X(tiled_q5_k, zwk_matmul_tiled_q5_k)      \
  X(tiled_q6_k, zwk_matmul_tiled_q6_k)      \
  X(simd_f32, zwk_matmul_simd_f32)          \
  X(simd_f16, zwk_matmul_simd_f16)          \
  X(simd_q8_0, zwk_matmul_simd_q8_0)        \
  X(simd_q4_1, zwk_matmul_simd_q4_1)        \
  X(simd_q4_0, zwk_matmul_simd_q4_0)        \
  X(simd_q5_0, zwk_matmul_simd_q5_0)        \
  X(simd_q4_k, zwk_matmul_simd_q4_k)        \
  X(simd_q5_k, zwk_matmul_simd_q5_k)        \
  X(simd_q6_k, zwk_matmul_simd_q6_k)

#endif  // ZW_METAL_KERNELS_H
