/* zerowasm kernel ABI v1: the numbers guest and host must agree on.
 *
 * This is the one place where dtype codes, flag bits and quantized block
 * layouts are written down. It is preprocessor-only on purpose, so every
 * language zerowasm compiles can include it unchanged: C guests (through
 * zerowasm.h), the C++ host (ops/op_args.hpp derives DType from it), CUDA and
 * Metal kernels (through kernel_math.h), GLSL shaders (#include with
 * GL_GOOGLE_include_directive) and Python (which parses the #defines).
 *
 * Values are a public contract: new ones may be added, existing ones never
 * change meaning. */
#ifndef ZEROWASM_ABI_H
#define ZEROWASM_ABI_H

#define ZW_ABI_VERSION 1

/* Element types of weight tensors (matmul's B, gather's table). Quantized
 * types use GGUF's block layouts: blocks of ZW_QBLOCK values along the row. */
#define ZW_DTYPE_F32 0
#define ZW_DTYPE_F16 1
#define ZW_DTYPE_Q8_0 2  /* 34-byte block: f16 scale d, 32 x int8 q; x = d*q */
#define ZW_DTYPE_Q4_1 3  /* 20-byte block: f16 d, f16 m, 16 bytes of nibbles; x = d*q + m.
                            byte j holds element j (low nibble) and j+16 (high nibble) */
#define ZW_DTYPE_COUNT 4

#define ZW_QBLOCK 32      /* values per quantized block (both GGUF types here) */
#define ZW_Q8_0_BYTES 34  /* bytes per Q8_0 block */
#define ZW_Q4_1_BYTES 20  /* bytes per Q4_1 block */

/* matmul flags: bit 0 accumulate, bits 8..15 the dtype of B. */
#define ZW_ACCUMULATE 1u
#define ZW_B_DTYPE_SHIFT 8
#define ZW_B_DTYPE_MASK 0xff00u

/* softmax / attention flags */
#define ZW_CAUSAL 1u

/* rope flags: rotate pairs (2i, 2i+1) (GGUF / llama.cpp); else (i, i + d/2) */
#define ZW_ROPE_ADJACENT 1u

/* zw.prefetch `where` and zw.advise `advice` codes */
#define ZW_HOST 0
#define ZW_DEVICE 1
#define ZW_ADVISE_READ_MOSTLY 1

#endif /* ZEROWASM_ABI_H */
