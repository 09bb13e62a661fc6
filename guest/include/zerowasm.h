/* zerowasm guest SDK: kernel ABI v1 (import module "zw").
 *
 * Every pointer is a byte offset into this module's memory 0; every count and
 * dimension is an int32 that must be > 0 unless stated. f32 data is
 * little-endian and 4-byte aligned; tensors are dense and row-major.
 *
 * Ops may run asynchronously, in issue order. Call zw_sync() before reading
 * an op's output from guest code. The host syncs by itself when an export
 * returns, so host code never sees half-written results.
 *
 * Bad arguments (out-of-range pointers, overflowing sizes, misalignment,
 * partial overlap of outputs with inputs) trap with a message naming the op
 * and argument; nothing is written and the instance stays usable.
 *
 * These names and signatures are a public contract: new ops may be added,
 * existing ones never change meaning. */
#ifndef ZEROWASM_H
#define ZEROWASM_H

#include <stdint.h>

#include "zerowasm_abi.h" /* dtype codes, flag bits, block layouts */

#ifdef __cplusplus
extern "C" {
#endif

#define ZW_IMPORT(name) __attribute__((import_module("zw"), import_name(name)))

/* Element types of weight tensors (matmul's B, gather's table); the codes and
 * block layouts are in zerowasm_abi.h. */
enum zw_dtype {
  ZW_F32 = ZW_DTYPE_F32,
  ZW_F16 = ZW_DTYPE_F16,
  ZW_Q8_0 = ZW_DTYPE_Q8_0,
  ZW_Q4_1 = ZW_DTYPE_Q4_1,
};

/* matmul: dtype of B in its flags (ZW_ACCUMULATE and the masks: zerowasm_abi.h) */
#define ZW_B_DTYPE(t) ((uint32_t)(t) << ZW_B_DTYPE_SHIFT)

/* C[m,n] = A[m,k] . B^T, B stored [n,k] (weight layout) in dtype
 * ZW_B_DTYPE(flags); k % 32 == 0 for quantized B. C must not overlap A or B. */
ZW_IMPORT("matmul")
void zw_matmul(const float *a, const void *b, float *c, int32_t m, int32_t n, int32_t k, uint32_t flags);

/* out = a + b, out = a * b (n elements); out may alias a or b exactly. */
ZW_IMPORT("add") void zw_add(const float *a, const float *b, float *out, int32_t n);
ZW_IMPORT("mul") void zw_mul(const float *a, const float *b, float *out, int32_t n);

/* out = s * x; out may alias x exactly. */
ZW_IMPORT("scale") void zw_scale(const float *x, float *out, int32_t n, float s);

/* Exact (erf) GELU; SiLU x*sigmoid(x). out may alias x exactly. */
ZW_IMPORT("gelu") void zw_gelu(const float *x, float *out, int32_t n);
ZW_IMPORT("silu") void zw_silu(const float *x, float *out, int32_t n);
/* Tanh-approximated GELU (GPT-2, Gemma): 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))). */
ZW_IMPORT("gelu_tanh") void zw_gelu_tanh(const float *x, float *out, int32_t n);
/* out[i] = x[i] as IEEE binary16 (round to nearest even; out 2-byte aligned, not overlapping
 * x): how an f16 KV cache is written (zw_attention's ZW_KV_F16). */
ZW_IMPORT("to_f16") void zw_to_f16(const float *x, void *out, int32_t n);

/* Per row of cols: (x - mean) / sqrt(var + eps) * gamma + beta. */
ZW_IMPORT("layernorm")
void zw_layernorm(const float *x, const float *gamma, const float *beta, float *out,
                  int32_t rows, int32_t cols, float eps);

/* Per row of cols: x / sqrt(mean(x^2) + eps) * gamma. */
ZW_IMPORT("rmsnorm")
void zw_rmsnorm(const float *x, const float *gamma, float *out, int32_t rows, int32_t cols, float eps);

/* Per row: softmax(scale * x). ZW_CAUSAL: row r keeps cols <= r + (cols - rows),
 * the rest become 0. */
ZW_IMPORT("softmax")
void zw_softmax(const float *x, float *out, int32_t rows, int32_t cols, float scale, uint32_t flags);

/* Rotary embedding. x is [rows, heads, head_dim] (head_dim even); row r is at
 * position pos0 + r (pos0 >= 0); frequency i is theta^(-2i/head_dim). */
ZW_IMPORT("rope")
void zw_rope(const float *x, float *out, int32_t rows, int32_t heads, int32_t head_dim,
             int32_t pos0, float theta, uint32_t flags);

/* zw_rope with per-frequency factors (Llama 3.1's rope_freqs, as llama.cpp's
 * freq_factors): frequency i is theta^(-2i/head_dim) / factors[i]; factors holds
 * head_dim/2 f32 and must not overlap out. */
ZW_IMPORT("rope_factors")
void zw_rope_factors(const float *x, float *out, int32_t rows, int32_t heads, int32_t head_dim,
                     int32_t pos0, float theta, uint32_t flags, const float *factors);

/* Scaled dot-product attention. q, out: [seq_q, heads, head_dim] f32;
 * k, v: [seq_kv, kv_heads, head_dim], f32 or with ZW_KV_F16 binary16;
 * heads % kv_heads == 0 (GQA: query head h uses kv head h / (heads / kv_heads)).
 * ZW_CAUSAL: query i sees keys j <= i + seq_kv - seq_q. out must not overlap q, k or v. */
ZW_IMPORT("attention")
void zw_attention(const float *q, const void *k, const void *v, float *out, int32_t seq_q,
                  int32_t seq_kv, int32_t heads, int32_t kv_heads, int32_t head_dim, float scale,
                  uint32_t flags);

/* out[i,:] = table[ids[i],:] as f32; table has `rows` rows of `dim` elements in
 * `dtype` (dim % 32 == 0 for quantized); every id must lie in [0, rows). */
ZW_IMPORT("gather")
void zw_gather(const void *table, int32_t rows, const int32_t *ids, float *out, int32_t n,
               int32_t dim, int32_t dtype);

/* Wait until every queued op has finished and its writes are visible. */
ZW_IMPORT("sync") void zw_sync(void);

/* Placement hints (no effect on results; no-ops where memory is not managed).
 * where: ZW_HOST or ZW_DEVICE. advice: ZW_ADVISE_READ_MOSTLY. len may be 0. */
ZW_IMPORT("prefetch") void zw_prefetch(const void *ptr, int32_t len, int32_t where);
ZW_IMPORT("advise") void zw_advise(const void *ptr, int32_t len, int32_t advice);

#ifdef __cplusplus
}
#endif
#endif /* ZEROWASM_H */
