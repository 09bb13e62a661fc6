/* Llama-architecture decoder over GGUF tensors left where they lie in the
 * file image (Q4_1 / Q8_0 / F16 / F32, no dequantized copy): every matmul and
 * embedding lookup is a zw.* kernel reading the quantized blocks in place. */
#ifndef SMOLLM_MODEL_H
#define SMOLLM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

#define MODEL_MAX_BATCH 128 /* tokens per prefill chunk */

typedef struct {
  const float *attn_norm, *ffn_norm;
  const void *wq, *wk, *wv, *wo, *wgate, *wup, *wdown;
  uint32_t tq, tk, tv, to, tgate, tup, tdown; /* ZW_B_DTYPE flags */
} layer_weights;

typedef struct {
  int32_t n_layer, d_model, n_head, n_kv_head, head_dim, d_ff, n_vocab, n_ctx_train;
  int32_t q_dim, kv_dim;
  float eps, rope_base;
  const void *tok_embd;
  int32_t tok_embd_dtype; /* enum zw_dtype */
  const float *out_norm;
  const void *output; /* token_embd when the output is tied */
  uint32_t output_flags;
  layer_weights *layers;
  /* scratch for MODEL_MAX_BATCH rows */
  float *x, *xb, *q, *att, *hb, *hb2, *logits;
} model;

int model_load(model *m, const gg_file *f, char *err, size_t errlen);
void model_free(model *m);

/* Bytes of one session's KV cache for n_ctx positions (0 if it overflows). */
uint64_t model_kv_bytes(const model *m, int32_t n_ctx);

/* Run tokens ids[0..n) (n <= MODEL_MAX_BATCH) at positions pos..pos+n-1.
 * kv: [n_layer][2][n_ctx][kv_dim]; rows pos..pos+n-1 are written, rows
 * 0..pos-1 must hold earlier tokens. want_logits: m->logits = logits of the
 * last token. Ops are queued; call zw_sync() before reading m->logits. */
void model_forward(const model *m, const int32_t *ids, int32_t n, int32_t pos, float *kv, int32_t n_ctx,
                   int want_logits);

#endif
