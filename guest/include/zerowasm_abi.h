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
#define ZW_DTYPE_Q4_0 4  /* 18-byte block: f16 d, 16 bytes of nibbles (as Q4_1); x = d*(q-8) */
#define ZW_DTYPE_Q5_0 5  /* 22-byte block: f16 d, u32 qh (bit j = bit 4 of element j),
                            16 bytes of low nibbles (as Q4_1); x = d*(q-16) */
/* K-quants: super-blocks of ZW_QK_K values, little-endian, as ggml's block_q*_K. */
#define ZW_DTYPE_Q4_K 6  /* 144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins for
                            8 sub-blocks of 32, 128 bytes of nibbles (byte 32g+l: low = element
                            64g+l, high = 64g+32+l); x = (d*sc)*q - dmin*m */
#define ZW_DTYPE_Q5_K 7  /* 176 bytes: as Q4_K with 32 bytes qh after the scales
                            (bit s of qh[l] = bit 4 of element 32s+l) */
#define ZW_DTYPE_Q6_K 8  /* 210 bytes: 128 bytes ql (low nibbles), 64 bytes qh (2-bit highs),
                            16 int8 scales (one per 16 values), f16 d last; x = (d*sc)*(q-32) */
#define ZW_DTYPE_COUNT 9

#define ZW_QBLOCK 32      /* values per block of Q8_0, Q4_1, Q4_0, Q5_0; every quantized
                             row (also K-quant) dequantizes in chunks of this many values */
#define ZW_QK_K 256       /* values per K-quant super-block (Q4_K, Q5_K, Q6_K) */
#define ZW_Q8_0_BYTES 34  /* bytes per Q8_0 block */
#define ZW_Q4_1_BYTES 20  /* bytes per Q4_1 block */
#define ZW_Q4_0_BYTES 18  /* bytes per Q4_0 block */
#define ZW_Q5_0_BYTES 22  /* bytes per Q5_0 block */
#define ZW_Q4_K_BYTES 144 /* bytes per Q4_K super-block */
#define ZW_Q5_K_BYTES 176 /* bytes per Q5_K super-block */
#define ZW_Q6_K_BYTES 210 /* bytes per Q6_K super-block */
/* Weight tensors of every quantized type start 2-byte aligned (all block sizes are
   even; f16 fields are read byte-wise); f32 rows 4-byte, f16 rows 2-byte aligned. */

/* matmul flags: bit 0 accumulate, bits 8..15 the dtype of B. */
#define ZW_ACCUMULATE 1u
#define ZW_B_DTYPE_SHIFT 8
#define ZW_B_DTYPE_MASK 0xff00u

/* softmax / attention flags */
#define ZW_CAUSAL 1u
/* attention flag: k and v hold IEEE binary16 (2-byte aligned), e.g. an f16 KV cache */
#define ZW_KV_F16 2u

/* rope flags: rotate pairs (2i, 2i+1) (GGUF / llama.cpp); else (i, i + d/2) */
#define ZW_ROPE_ADJACENT 1u

/* zw.prefetch `where` and zw.advise `advice` codes */
#define ZW_HOST 0
#define ZW_DEVICE 1
#define ZW_ADVISE_READ_MOSTLY 1

#endif /* ZEROWASM_ABI_H */
