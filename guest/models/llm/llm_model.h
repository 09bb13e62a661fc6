/* Decoder-only transformers read from a GGUF file's metadata, with every
 * weight used in place in the file image (no dequantized copy): every matmul
 * and embedding lookup is a zw.* kernel reading the quantized blocks where
 * they lie.
 *
 * Architectures (general.architecture):
 *   llama   RMSNorm, RoPE over adjacent pairs (GGUF pre-permutes q/k), SwiGLU;
 *           SmolLM2, Llama 2, Mistral, TinyLlama and other llama-layout files;
 *           Llama 3.1+'s per-frequency rope factors (rope_freqs.weight).
 *   qwen2   llama with q/k/v biases and RoPE over halves (i, i + d/2).
 *   gemma3  embeddings scaled by sqrt(d); RMSNorm before and after attention
 *           and FFN; per-head RMSNorm of q and k; GELU(tanh)-gated FFN; local
 *           sliding-window layers (rope base 10^4) interleaved 5:1 with global
 *           layers (the file's rope base).
 * Anything else (another architecture, rope scaling, a tensor type the
 * kernels cannot read) fails at load with a message naming it. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define LLM_MAX_BATCH 128 /* tokens per prefill chunk */

typedef enum { LLM_ARCH_LLAMA, LLM_ARCH_QWEN2, LLM_ARCH_GEMMA3 } llm_arch;

typedef struct {
  const float *attn_norm, *ffn_norm;
  const float *attn_post_norm, *ffn_post_norm; /* gemma3 */
  const float *q_norm, *k_norm;                /* gemma3: [head_dim] */
  const float *bq, *bk, *bv;                   /* qwen2 */
  const void *wq, *wk, *wv, *wo, *wgate, *wup, *wdown;
  uint32_t tq, tk, tv, to, tgate, tup, tdown; /* ZW_B_DTYPE flags */
  int32_t window;                             /* sliding window in positions; 0 = none */
  float rope_base;
} llm_layer;

typedef struct {
  llm_arch arch;
  int32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ff, n_vocab, n_ctx_train;
  int32_t q_dim, kv_dim;
  float eps, attn_scale, embd_scale;
  uint32_t rope_flags;
  const float *rope_factors; /* llama (Llama 3.1+): rope_freqs.weight, [head_dim/2] divisors; or NULL */
  const void *tok_embd;
  int32_t tok_embd_dtype; /* enum zw_dtype */
  const float *out_norm;
  const void *output; /* token_embd when the output is tied */
  uint32_t output_flags;
  llm_layer *layers;
  /* scratch for LLM_MAX_BATCH rows (k, v: new K/V rows before they go to the f16 cache) */
  float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *logits;
  float ones[LLM_MAX_BATCH]; /* bias rows: see add_bias in llm_model.c */
} llm_model;

/* Bind the model described by the file's metadata; 0, or -1 with a message. */
int llm_model_load(llm_model *m, const gg_file *f, char *err, size_t errlen);
void llm_model_free(llm_model *m);

/* The KV cache holds IEEE binary16, as llama.cpp's does by default: half the memory
 * and half the bytes read per decode step of f32 (zw_attention's ZW_KV_F16). */
typedef uint16_t llm_kv;

/* Bytes of one session's KV cache for n_ctx positions (0 if it overflows). */
uint64_t llm_kv_bytes(const llm_model *m, int32_t n_ctx);

/* Run tokens ids[0..n) (n <= LLM_MAX_BATCH) at positions pos..pos+n-1.
 * kv: [n_layer][2][n_ctx][kv_dim]; rows pos..pos+n-1 are written, rows
 * 0..pos-1 must hold earlier tokens. want_logits: m->logits = logits of the
 * last token. Ops are queued; call zw_sync() before reading m->logits. */
void llm_forward(const llm_model *m, const int32_t *ids, int32_t n, int32_t pos, llm_kv *kv, int32_t n_ctx,
                 int want_logits);

/* "F32", "Q4_K", ... for a ggml type number ("type N" for unknown ones: buf). */
const char *llm_type_name(uint32_t ggml_type, char *buf, size_t size);

#endif
