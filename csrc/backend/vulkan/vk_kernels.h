// Every compute shader of the Vulkan backend, once: X(name, source, "glslc defines").
//
// vulkan.cmake parses this list (one entry per line, exactly this shape) to
// compile each entry with glslc and embed its SPIR-V as zw_vk_spv_<name>; the
// C++ side expands it into the Kernel enum and the table of embedded words.
// Variants of one source differ only in the -D flags they are compiled with.
#ifndef ZEROWASM_VK_KERNELS_H
#define ZEROWASM_VK_KERNELS_H

#define ZW_VK_KERNELS(X)                                       \
  X(elementwise, elementwise.comp, "")                   \
  X(norm, norm.comp, "")                                 \
  X(softmax, softmax.comp, "")                           \
  X(rope, rope.comp, "")                                 \
  X(rope_f64, rope.comp, "-DZW_ROPE_F64=1")              \
  X(attention, attention.comp, "")                       \
  X(gather_f32, gather.comp, "-DW_DTYPE=ZW_DTYPE_F32")   \
  X(gather_f16, gather.comp, "-DW_DTYPE=ZW_DTYPE_F16")   \
  X(gather_q8_0, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q8_0") \
  X(gather_q4_1, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q4_1") \
  X(gather_q4_0, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q4_0") \
  X(gather_q5_0, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q5_0") \
  X(gather_q4_k, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q4_K") \
  X(gather_q5_k, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q5_K") \
  X(gather_q6_k, gather.comp, "-DW_DTYPE=ZW_DTYPE_Q6_K") \
  X(gemv_f32, gemv.comp, "-DW_DTYPE=ZW_DTYPE_F32")       \
  X(gemv_f16, gemv.comp, "-DW_DTYPE=ZW_DTYPE_F16")       \
  X(gemv_q8_0, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q8_0")     \
  X(gemv_q4_1, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q4_1")     \
  X(gemv_q4_0, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q4_0")     \
  X(gemv_q5_0, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q5_0")     \
  X(gemv_q4_k, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q4_K")     \
  X(gemv_q5_k, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q5_K")     \
  X(gemv_q6_k, gemv.comp, "-DW_DTYPE=ZW_DTYPE_Q6_K")     \
  X(gemm_f32, gemm.comp, "-DW_DTYPE=ZW_DTYPE_F32")       \
  X(gemm_f16, gemm.comp, "-DW_DTYPE=ZW_DTYPE_F16")       \
  X(gemm_q8_0, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q8_0")     \
  X(gemm_q4_1, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q4_1")     \
  X(gemm_q4_0, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q4_0")     \
  X(gemm_q5_0, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q5_0")     \
  X(gemm_q4_k, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q4_K")     \
  X(gemm_q5_k, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q5_K")     \
  X(gemm_q6_k, gemm.comp, "-DW_DTYPE=ZW_DTYPE_Q6_K")

#endif  // ZEROWASM_VK_KERNELS_H
