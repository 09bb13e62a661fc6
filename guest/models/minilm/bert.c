/* BERT encoder forward pass driving zw.* kernels.
 *
 * Batching without padding: the tokens of all sequences are packed back to
 * back into [T, hidden] activations (T = sum of lengths). Every op except
 * attention acts on rows independently, so it runs once over all T rows with
 * no padded rows and no mask. Attention runs once per sequence over that
 * sequence's own rows (seq_q = seq_kv = its length), so no query ever sees
 * another sequence's keys or padding: results cannot depend on the batch.
 *
 * zw_matmul has no bias term, so each Linear first broadcasts its bias into
 * the output rows with zw_gather (a 1-row table, all ids 0) and then
 * accumulates A.W^T on top (ZW_ACCUMULATE).
 *
 * Mean pooling is zw_attention with an all-zero query and zero keys: every
 * score is 0, softmax gives 1/L to each of the sequence's L rows, so the output
 * is their mean, computed where the activations live. */
#include "bert.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerowasm.h"

static const float *weights[W_COUNT];

/* Shapes of the slots: rows x cols (cols 0 for vectors), and their names in
 * the safetensors file; per-layer names follow "encoder.layer.<i>.". */
static const struct {
  const char *name;
  int32_t rows, cols;
} global_slots[W_GLOBAL_COUNT] = {
    {"embeddings.word_embeddings.weight", BERT_VOCAB, BERT_HIDDEN},
    {"embeddings.position_embeddings.weight", BERT_MAX_POS, BERT_HIDDEN},
    {"embeddings.token_type_embeddings.weight", BERT_TYPES, BERT_HIDDEN},
    {"embeddings.LayerNorm.weight", BERT_HIDDEN, 0},
    {"embeddings.LayerNorm.bias", BERT_HIDDEN, 0},
};
static const struct {
  const char *name;
  int32_t rows, cols;
} layer_slots[L_COUNT] = {
    {"attention.self.query.weight", BERT_HIDDEN, BERT_HIDDEN},
    {"attention.self.query.bias", BERT_HIDDEN, 0},
    {"attention.self.key.weight", BERT_HIDDEN, BERT_HIDDEN},
    {"attention.self.key.bias", BERT_HIDDEN, 0},
    {"attention.self.value.weight", BERT_HIDDEN, BERT_HIDDEN},
    {"attention.self.value.bias", BERT_HIDDEN, 0},
    {"attention.output.dense.weight", BERT_HIDDEN, BERT_HIDDEN},
    {"attention.output.dense.bias", BERT_HIDDEN, 0},
    {"attention.output.LayerNorm.weight", BERT_HIDDEN, 0},
    {"attention.output.LayerNorm.bias", BERT_HIDDEN, 0},
    {"intermediate.dense.weight", BERT_FFN, BERT_HIDDEN},
    {"intermediate.dense.bias", BERT_FFN, 0},
    {"output.dense.weight", BERT_HIDDEN, BERT_FFN},
    {"output.dense.bias", BERT_HIDDEN, 0},
    {"output.LayerNorm.weight", BERT_HIDDEN, 0},
    {"output.LayerNorm.bias", BERT_HIDDEN, 0},
};

int32_t bert_weight_shape(int32_t slot, int32_t *rows, int32_t *cols) {
  if (slot < 0 || slot >= W_COUNT) return -1;
  if (slot < W_GLOBAL_COUNT) {
    *rows = global_slots[slot].rows;
    *cols = global_slots[slot].cols;
  } else {
    *rows = layer_slots[(slot - W_GLOBAL_COUNT) % L_COUNT].rows;
    *cols = layer_slots[(slot - W_GLOBAL_COUNT) % L_COUNT].cols;
  }
  return 0;
}

int32_t bert_weight_name(int32_t slot, char *buf, int32_t cap) {
  if (slot < 0 || slot >= W_COUNT || cap <= 0) return -1;
  int n = slot < W_GLOBAL_COUNT
              ? snprintf(buf, (size_t)cap, "%s", global_slots[slot].name)
              : snprintf(buf, (size_t)cap, "encoder.layer.%d.%s", (int)((slot - W_GLOBAL_COUNT) / L_COUNT),
                         layer_slots[(slot - W_GLOBAL_COUNT) % L_COUNT].name);
  return n >= 0 && n < cap ? 0 : -1;
}

int32_t bert_weight_numel(int32_t slot) {
  int32_t r, c;
  if (bert_weight_shape(slot, &r, &c)) return 0;
  return c ? r * c : r;
}

int32_t bert_set_weight(int32_t slot, const float *p, int32_t nbytes) {
  int32_t numel = bert_weight_numel(slot);
  if (numel == 0) return -1;
  if (nbytes != numel * 4) return -2;
  if (!p || ((uintptr_t)p & 3u)) return -3;
  weights[slot] = p;
  return 0;
}

int32_t bert_ready(void) {
  for (int32_t i = 0; i < W_COUNT; i++)
    if (!weights[i]) return 0;
  return 1;
}

void bert_place_weights(void) {
  for (int32_t i = 0; i < W_COUNT; i++) {
    int32_t len = bert_weight_numel(i) * 4;
    zw_advise(weights[i], len, ZW_ADVISE_READ_MOSTLY);
    zw_prefetch(weights[i], len, ZW_DEVICE);
  }
}

static const float *layer_w(int32_t layer, int32_t which) {
  return weights[W_GLOBAL_COUNT + layer * L_COUNT + which];
}

/* ---- activations, grown on demand and kept between calls ---- */

static struct {
  int32_t cap; /* tokens */
  int32_t *pos, *zeros;
  float *x, *tmp, *q, *k, *v, *ctx, *ff;
} act;

/* Zero query / keys for mean pooling (static: zero-initialized, never written). */
static float zero_q[BERT_HIDDEN];
static float zero_k[BERT_MAX_TOKENS * BERT_HIDDEN];

static void release(void) {
  free(act.pos); free(act.zeros);
  free(act.x); free(act.tmp); free(act.q); free(act.k); free(act.v); free(act.ctx); free(act.ff);
  memset(&act, 0, sizeof act);
}

static float *falloc(int32_t tokens, int32_t cols) {
  return aligned_alloc(64, ((size_t)tokens * (size_t)cols * sizeof(float) + 63) & ~(size_t)63);
}

static int reserve(int32_t tokens) {
  if (tokens <= act.cap) return 0;
  release();
  int32_t cap = 256;
  while (cap < tokens) cap *= 2;
  act.pos = malloc(sizeof(int32_t) * (size_t)cap);
  act.zeros = calloc((size_t)cap, sizeof(int32_t));
  act.x = falloc(cap, BERT_HIDDEN);
  act.tmp = falloc(cap, BERT_HIDDEN);
  act.q = falloc(cap, BERT_HIDDEN);
  act.k = falloc(cap, BERT_HIDDEN);
  act.v = falloc(cap, BERT_HIDDEN);
  act.ctx = falloc(cap, BERT_HIDDEN);
  act.ff = falloc(cap, BERT_FFN);
  if (!act.pos || !act.zeros || !act.x || !act.tmp || !act.q || !act.k || !act.v || !act.ctx || !act.ff) {
    release();
    return -1;
  }
  act.cap = cap;
  return 0;
}

/* out[T, n] = x[T, k] . w^T + b */
static void linear(const float *x, const float *w, const float *b, float *out, int32_t t, int32_t n,
                   int32_t k) {
  zw_gather(b, 1, act.zeros, out, t, n, ZW_F32);
  zw_matmul(x, w, out, t, n, k, ZW_ACCUMULATE | ZW_B_DTYPE(ZW_F32));
}

int32_t bert_embed(const int32_t *ids, const int32_t *lens, int32_t n, float *out) {
  if (!bert_ready()) return -1;
  if (n <= 0) return -2;
  int32_t t = 0;
  for (int32_t i = 0; i < n; i++) {
    if (lens[i] < 1 || lens[i] > BERT_MAX_TOKENS) return -3;
    t += lens[i];
  }
  for (int32_t i = 0; i < t; i++)
    if (ids[i] < 0 || ids[i] >= BERT_VOCAB) return -4;
  if (reserve(t)) return -5;
  for (int32_t i = 0, at = 0; i < n; i++)
    for (int32_t p = 0; p < lens[i]; p++) act.pos[at++] = p;

  const int32_t h = BERT_HIDDEN;
  float *x = act.x, *tmp = act.tmp;
  /* embeddings: word + position + type 0, then LayerNorm */
  zw_gather(weights[W_WORD_EMB], BERT_VOCAB, ids, tmp, t, h, ZW_F32);
  zw_gather(weights[W_POS_EMB], BERT_MAX_POS, act.pos, act.q, t, h, ZW_F32);
  zw_add(tmp, act.q, tmp, t * h);
  zw_gather(weights[W_TYPE_EMB], BERT_TYPES, act.zeros, act.q, t, h, ZW_F32);
  zw_add(tmp, act.q, tmp, t * h);
  zw_layernorm(tmp, weights[W_EMB_LN_G], weights[W_EMB_LN_B], x, t, h, BERT_LN_EPS);

  const float scale = 1.0f / sqrtf((float)BERT_HEAD_DIM);
  for (int32_t l = 0; l < BERT_LAYERS; l++) {
    linear(x, layer_w(l, L_Q_W), layer_w(l, L_Q_B), act.q, t, h, h);
    linear(x, layer_w(l, L_K_W), layer_w(l, L_K_B), act.k, t, h, h);
    linear(x, layer_w(l, L_V_W), layer_w(l, L_V_B), act.v, t, h, h);
    for (int32_t i = 0, at = 0; i < n; at += lens[i], i++) {
      size_t o = (size_t)at * h;
      zw_attention(act.q + o, act.k + o, act.v + o, act.ctx + o, lens[i], lens[i], BERT_HEADS,
                   BERT_HEADS, BERT_HEAD_DIM, scale, 0);
    }
    linear(act.ctx, layer_w(l, L_ATTN_OUT_W), layer_w(l, L_ATTN_OUT_B), tmp, t, h, h);
    zw_add(tmp, x, tmp, t * h);
    zw_layernorm(tmp, layer_w(l, L_ATTN_LN_G), layer_w(l, L_ATTN_LN_B), x, t, h, BERT_LN_EPS);
    linear(x, layer_w(l, L_FFN_IN_W), layer_w(l, L_FFN_IN_B), act.ff, t, BERT_FFN, h);
    zw_gelu(act.ff, act.ff, t * BERT_FFN);
    linear(act.ff, layer_w(l, L_FFN_OUT_W), layer_w(l, L_FFN_OUT_B), tmp, t, h, BERT_FFN);
    zw_add(tmp, x, tmp, t * h);
    zw_layernorm(tmp, layer_w(l, L_FFN_LN_G), layer_w(l, L_FFN_LN_B), x, t, h, BERT_LN_EPS);
  }

  /* mean pooling: uniform attention of a zero query over each sequence's rows */
  for (int32_t i = 0, at = 0; i < n; at += lens[i], i++)
    zw_attention(zero_q, zero_k, x + (size_t)at * h, out + (size_t)i * h, 1, lens[i], BERT_HEADS,
                 BERT_HEADS, BERT_HEAD_DIM, 1.0f, 0);
  zw_sync();

  /* L2 normalize like torch.nn.functional.normalize (eps 1e-12); B x 384 values only */
  for (int32_t i = 0; i < n; i++) {
    float *row = out + (size_t)i * h;
    double ss = 0.0;
    for (int32_t j = 0; j < h; j++) ss += (double)row[j] * row[j];
    double norm = sqrt(ss);
    float inv = (float)(1.0 / (norm > 1e-12 ? norm : 1e-12));
    for (int32_t j = 0; j < h; j++) row[j] *= inv;
  }
  return 0;
}
