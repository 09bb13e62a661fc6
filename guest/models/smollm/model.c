/* Llama decoder: weight binding (with shape/type checks) and the forward pass. */
#include "model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zerowasm.h"

static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* GGUF tensor type -> zw dtype, or -1 when the kernels cannot read it. */
static int zw_dtype_of(uint32_t ggml_type) {
  switch (ggml_type) {
    case GG_T_F32: return ZW_F32;
    case GG_T_F16: return ZW_F16;
    case GG_T_Q8_0: return ZW_Q8_0;
    case GG_T_Q4_1: return ZW_Q4_1;
    default: return -1;
  }
}

/* Find `name`, check it is [ne0, ne1] (ne1 = 1 for vectors) of a readable
 * type, aligned for the kernels; returns the data and its zw dtype. */
static const void *bind(const gg_file *f, const char *name, int64_t ne0, int64_t ne1, int f32_only, int *dtype,
                        char *err, size_t errlen) {
  const gg_tensor *t = gg_find_tensor(f, name);
  if (!t) {
    fail(err, errlen, "model: tensor '%s' is missing", name);
    return NULL;
  }
  int want_dims = ne1 == 1 ? 1 : 2;
  if ((int)t->n_dims != want_dims || t->ne[0] != (uint64_t)ne0 || t->ne[1] != (uint64_t)ne1) {
    fail(err, errlen, "model: tensor '%s' has shape [%llu, %llu] (%u dims), expected [%lld, %lld]", name,
         (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (unsigned)t->n_dims, (long long)ne0,
         (long long)ne1);
    return NULL;
  }
  int dt = zw_dtype_of(t->type);
  if (dt < 0 || (f32_only && dt != ZW_F32) || !t->data) {
    fail(err, errlen, "model: tensor '%s' has ggml type %u, which this model %s", name, (unsigned)t->type,
         f32_only ? "needs as f32" : "cannot use (f32, f16, q8_0, q4_1 only)");
    return NULL;
  }
  uintptr_t align = dt == ZW_F32 ? 4 : 2;
  if ((uintptr_t)t->data % align) {
    fail(err, errlen, "model: tensor '%s' data is not %u-byte aligned", name, (unsigned)align);
    return NULL;
  }
  if (dt != ZW_F32 && ne0 % 32) {
    fail(err, errlen, "model: tensor '%s' rows of %lld are not whole blocks", name, (long long)ne0);
    return NULL;
  }
  *dtype = dt;
  return t->data;
}

static int hparam(const gg_file *f, const char *arch, const char *name, int32_t lo, int32_t hi, int32_t *out,
                  char *err, size_t errlen) {
  char key[96];
  snprintf(key, sizeof key, "%s.%s", arch, name);
  uint32_t v;
  if (gg_get_u32(f, key, &v, err, errlen)) return -1;
  if (v < (uint32_t)lo || v > (uint32_t)hi) return fail(err, errlen, "model: %s = %u is outside [%d, %d]", key, v, lo, hi);
  *out = (int32_t)v;
  return 0;
}

static int load_hparams(model *m, const gg_file *f, char *err, size_t errlen) {
  gg_str arch;
  if (gg_get_str(f, "general.architecture", &arch, err, errlen)) return -1;
  char shown[48];
  if (!gg_str_eq(arch, "llama"))
    return fail(err, errlen, "model: architecture '%s' is not supported ('llama' only)",
                gg_printable(arch, shown, sizeof shown));
  const char *a = "llama";
  if (hparam(f, a, "block_count", 1, 512, &m->n_layer, err, errlen) ||
      hparam(f, a, "embedding_length", 32, 1 << 15, &m->d_model, err, errlen) ||
      hparam(f, a, "feed_forward_length", 32, 1 << 17, &m->d_ff, err, errlen) ||
      hparam(f, a, "attention.head_count", 1, 1024, &m->n_head, err, errlen) ||
      hparam(f, a, "attention.head_count_kv", 1, 1024, &m->n_kv_head, err, errlen) ||
      hparam(f, a, "context_length", 1, 1 << 24, &m->n_ctx_train, err, errlen))
    return -1;
  if (m->d_model % m->n_head || m->n_head % m->n_kv_head)
    return fail(err, errlen, "model: %d heads / %d kv heads do not divide d_model %d", m->n_head, m->n_kv_head,
                m->d_model);
  m->head_dim = m->d_model / m->n_head;
  if (m->head_dim % 2) return fail(err, errlen, "model: head_dim %d is odd", m->head_dim);
  char key[96];
  snprintf(key, sizeof key, "%s.rope.dimension_count", a);
  if (gg_find_kv(f, key)) {
    int32_t rope_dims;
    if (hparam(f, a, "rope.dimension_count", 1, 1 << 15, &rope_dims, err, errlen)) return -1;
    if (rope_dims != m->head_dim)
      return fail(err, errlen, "model: partial rotary embedding (%d of %d dims) is not supported", rope_dims,
                  m->head_dim);
  }
  m->q_dim = m->n_head * m->head_dim;
  m->kv_dim = m->n_kv_head * m->head_dim;
  m->rope_base = 10000.0f;
  snprintf(key, sizeof key, "%s.rope.freq_base", a);
  if (gg_find_kv(f, key) && gg_get_f32(f, key, &m->rope_base, err, errlen)) return -1;
  snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
  if (gg_get_f32(f, key, &m->eps, err, errlen)) return -1;
  if (!(m->eps > 0.0f && m->eps < 1.0f) || !(m->rope_base > 1.0f && m->rope_base < 1e9f))
    return fail(err, errlen, "model: rms eps %g or rope base %g out of range", (double)m->eps, (double)m->rope_base);
  return 0;
}

int model_load(model *m, const gg_file *f, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  if (load_hparams(m, f, err, errlen)) return -1;
  const gg_tensor *emb = gg_find_tensor(f, "token_embd.weight");
  if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 24))
    return fail(err, errlen, "model: token_embd.weight is missing or not [d_model, vocab]");
  m->n_vocab = (int32_t)emb->ne[1];
  int dt;
  m->tok_embd = bind(f, "token_embd.weight", m->d_model, m->n_vocab, 0, &dt, err, errlen);
  if (!m->tok_embd) return -1;
  m->tok_embd_dtype = dt;
  m->out_norm = bind(f, "output_norm.weight", m->d_model, 1, 1, &dt, err, errlen);
  if (!m->out_norm) return -1;
  if (gg_find_tensor(f, "output.weight")) {
    m->output = bind(f, "output.weight", m->d_model, m->n_vocab, 0, &dt, err, errlen);
    if (!m->output) return -1;
    m->output_flags = ZW_B_DTYPE(dt);
  } else { /* tied embeddings */
    m->output = m->tok_embd;
    m->output_flags = ZW_B_DTYPE(m->tok_embd_dtype);
  }
  m->layers = calloc((size_t)m->n_layer, sizeof(layer_weights));
  if (!m->layers) return fail(err, errlen, "model: out of memory");
  for (int32_t l = 0; l < m->n_layer; l++) {
    layer_weights *L = &m->layers[l];
    char name[64];
#define BIND(field, flagfield, suffix, ne0, ne1)                                   \
  snprintf(name, sizeof name, "blk.%d." suffix ".weight", (int)l);                 \
  L->field = bind(f, name, ne0, ne1, 0, &dt, err, errlen);                         \
  if (!L->field) goto bad;                                                         \
  L->flagfield = ZW_B_DTYPE(dt);
    BIND(wq, tq, "attn_q", m->d_model, m->q_dim)
    BIND(wk, tk, "attn_k", m->d_model, m->kv_dim)
    BIND(wv, tv, "attn_v", m->d_model, m->kv_dim)
    BIND(wo, to, "attn_output", m->q_dim, m->d_model)
    BIND(wgate, tgate, "ffn_gate", m->d_model, m->d_ff)
    BIND(wup, tup, "ffn_up", m->d_model, m->d_ff)
    BIND(wdown, tdown, "ffn_down", m->d_ff, m->d_model)
#undef BIND
    snprintf(name, sizeof name, "blk.%d.attn_norm.weight", (int)l);
    if (!(L->attn_norm = bind(f, name, m->d_model, 1, 1, &dt, err, errlen))) goto bad;
    snprintf(name, sizeof name, "blk.%d.ffn_norm.weight", (int)l);
    if (!(L->ffn_norm = bind(f, name, m->d_model, 1, 1, &dt, err, errlen))) goto bad;
  }
  size_t B = MODEL_MAX_BATCH;
  m->x = malloc(B * (size_t)m->d_model * 4);
  m->xb = malloc(B * (size_t)m->d_model * 4);
  m->q = malloc(B * (size_t)m->q_dim * 4);
  m->att = malloc(B * (size_t)m->q_dim * 4);
  m->hb = malloc(B * (size_t)m->d_ff * 4);
  m->hb2 = malloc(B * (size_t)m->d_ff * 4);
  m->logits = malloc((size_t)m->n_vocab * 4);
  if (!m->x || !m->xb || !m->q || !m->att || !m->hb || !m->hb2 || !m->logits) {
    fail(err, errlen, "model: out of memory for activations");
    goto bad;
  }
  return 0;
bad:
  model_free(m);
  return -1;
}

void model_free(model *m) {
  free(m->layers);
  free(m->x);
  free(m->xb);
  free(m->q);
  free(m->att);
  free(m->hb);
  free(m->hb2);
  free(m->logits);
  memset(m, 0, sizeof *m);
}

uint64_t model_kv_bytes(const model *m, int32_t n_ctx) {
  uint64_t per_pos = (uint64_t)m->n_layer * 2u * (uint64_t)m->kv_dim * 4u;
  if (n_ctx <= 0 || per_pos == 0 || (uint64_t)n_ctx > UINT32_MAX / per_pos) return 0;
  return per_pos * (uint64_t)n_ctx;
}

void model_forward(const model *m, const int32_t *ids, int32_t n, int32_t pos, float *kv, int32_t n_ctx,
                   int want_logits) {
  const int32_t D = m->d_model, F = m->d_ff, KV = m->kv_dim, Q = m->q_dim, HD = m->head_dim;
  const float scale = 1.0f / sqrtf((float)HD);
  const size_t layer_stride = (size_t)n_ctx * (size_t)KV; /* floats between K and V of a layer */
  zw_gather(m->tok_embd, m->n_vocab, ids, m->x, n, D, m->tok_embd_dtype);
  for (int32_t l = 0; l < m->n_layer; l++) {
    const layer_weights *L = &m->layers[l];
    float *k_all = kv + (size_t)l * 2 * layer_stride, *v_all = k_all + layer_stride;
    float *k_new = k_all + (size_t)pos * (size_t)KV, *v_new = v_all + (size_t)pos * (size_t)KV;
    /* attention block: new K/V rows go straight into the cache */
    zw_rmsnorm(m->x, L->attn_norm, m->xb, n, D, m->eps);
    zw_matmul(m->xb, L->wq, m->q, n, Q, D, L->tq);
    zw_matmul(m->xb, L->wk, k_new, n, KV, D, L->tk);
    zw_matmul(m->xb, L->wv, v_new, n, KV, D, L->tv);
    zw_rope(m->q, m->q, n, m->n_head, HD, pos, m->rope_base, ZW_ROPE_ADJACENT);
    zw_rope(k_new, k_new, n, m->n_kv_head, HD, pos, m->rope_base, ZW_ROPE_ADJACENT);
    zw_attention(m->q, k_all, v_all, m->att, n, pos + n, m->n_head, m->n_kv_head, HD, scale, ZW_CAUSAL);
    zw_matmul(m->att, L->wo, m->x, n, D, Q, L->to | ZW_ACCUMULATE); /* x += att . Wo^T */
    /* SwiGLU feed-forward */
    zw_rmsnorm(m->x, L->ffn_norm, m->xb, n, D, m->eps);
    zw_matmul(m->xb, L->wgate, m->hb, n, F, D, L->tgate);
    zw_matmul(m->xb, L->wup, m->hb2, n, F, D, L->tup);
    zw_silu(m->hb, m->hb, n * F);
    zw_mul(m->hb, m->hb2, m->hb, n * F);
    zw_matmul(m->hb, L->wdown, m->x, n, D, F, L->tdown | ZW_ACCUMULATE);
  }
  if (want_logits) {
    zw_rmsnorm(m->x + (size_t)(n - 1) * (size_t)D, m->out_norm, m->xb, 1, D, m->eps);
    zw_matmul(m->xb, m->output, m->logits, 1, m->n_vocab, D, m->output_flags);
  }
}
