/* Generic GGUF decoder: metadata -> hyperparameters, tensors bound in place
 * (with shape and type checks), and the forward pass as zw.* kernel calls. */
#include "llm_model.h"

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

/* ggml type numbers (ggml.h) and their names, for messages. */
static const char *const kTypeNames[] = {
    "F32", "F16", "Q4_0", "Q4_1", "type 4", "type 5", "Q5_0", "Q5_1", "Q8_0", "Q8_1", "Q2_K", "Q3_K", "Q4_K",
    "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS",
    "I8", "I16", "I32", "I64", "F64", "IQ1_M", "BF16"};

const char *llm_type_name(uint32_t t, char *buf, size_t size) {
  if (t < sizeof kTypeNames / sizeof kTypeNames[0] && strncmp(kTypeNames[t], "type", 4) != 0) return kTypeNames[t];
  snprintf(buf, size, "type %u", (unsigned)t);
  return buf;
}

/* GGUF tensor type -> zw dtype (zerowasm_abi.h), or -1 when the kernels cannot
 * read it. The newer quantized types are used when the ABI header has them. */
static int zw_dtype_of(uint32_t ggml_type) {
  switch (ggml_type) {
    case GG_T_F32: return ZW_DTYPE_F32;
    case GG_T_F16: return ZW_DTYPE_F16;
    case GG_T_Q8_0: return ZW_DTYPE_Q8_0;
    case GG_T_Q4_1: return ZW_DTYPE_Q4_1;
#ifdef ZW_DTYPE_Q4_0
    case GG_T_Q4_0: return ZW_DTYPE_Q4_0;
#endif
#ifdef ZW_DTYPE_Q5_0
    case GG_T_Q5_0: return ZW_DTYPE_Q5_0;
#endif
#ifdef ZW_DTYPE_Q4_K
    case GG_T_Q4_K: return ZW_DTYPE_Q4_K;
#endif
#ifdef ZW_DTYPE_Q5_K
    case GG_T_Q5_K: return ZW_DTYPE_Q5_K;
#endif
#ifdef ZW_DTYPE_Q6_K
    case GG_T_Q6_K: return ZW_DTYPE_Q6_K;
#endif
    default: return -1;
  }
}

static const char kSupportedTypes[] = "F32, F16, Q8_0, Q4_1"
#ifdef ZW_DTYPE_Q4_0
                                      ", Q4_0"
#endif
#ifdef ZW_DTYPE_Q5_0
                                      ", Q5_0"
#endif
#ifdef ZW_DTYPE_Q4_K
                                      ", Q4_K"
#endif
#ifdef ZW_DTYPE_Q5_K
                                      ", Q5_K"
#endif
#ifdef ZW_DTYPE_Q6_K
                                      ", Q6_K"
#endif
    ;

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
  char tbuf[16];
  if (dt < 0 || !t->data || (f32_only && dt != ZW_DTYPE_F32)) {
    fail(err, errlen, "model: tensor '%s' has type %s, which this guest %s", name,
         llm_type_name(t->type, tbuf, sizeof tbuf), f32_only ? "needs as F32" : "cannot use");
    if (!f32_only && err && strlen(err) + sizeof kSupportedTypes + 16 < errlen)
      strcat(strcat(strcat(err, " (supported: "), kSupportedTypes), ")");
    return NULL;
  }
  uintptr_t align = dt == ZW_DTYPE_F32 ? 4 : 2;
  if ((uintptr_t)t->data % align) {
    fail(err, errlen, "model: tensor '%s' data is not %u-byte aligned", name, (unsigned)align);
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

static int has_key(const gg_file *f, const char *arch, const char *name) {
  char key[96];
  snprintf(key, sizeof key, "%s.%s", arch, name);
  return gg_find_kv(f, key) != NULL;
}

static int load_hparams(llm_model *m, const gg_file *f, const char **arch_out, char *err, size_t errlen) {
  gg_str arch;
  if (gg_get_str(f, "general.architecture", &arch, err, errlen)) return -1;
  char shown[48];
  const char *a;
  if (gg_str_eq(arch, "llama")) {
    m->arch = LLM_ARCH_LLAMA, a = "llama";
  } else if (gg_str_eq(arch, "qwen2")) {
    m->arch = LLM_ARCH_QWEN2, a = "qwen2";
  } else if (gg_str_eq(arch, "gemma3")) {
    m->arch = LLM_ARCH_GEMMA3, a = "gemma3";
  } else {
    return fail(err, errlen, "model: architecture '%s' is not supported (llama, qwen2, gemma3)",
                gg_printable(arch, shown, sizeof shown));
  }
  *arch_out = a;
  if (hparam(f, a, "block_count", 1, 512, &m->n_layer, err, errlen) ||
      hparam(f, a, "embedding_length", 32, 1 << 15, &m->d_model, err, errlen) ||
      hparam(f, a, "feed_forward_length", 32, 1 << 17, &m->d_ff, err, errlen) ||
      hparam(f, a, "attention.head_count", 1, 1024, &m->n_head, err, errlen) ||
      hparam(f, a, "context_length", 1, 1 << 24, &m->n_ctx_train, err, errlen))
    return -1;
  m->n_kv_head = m->n_head;
  if (has_key(f, a, "attention.head_count_kv") &&
      hparam(f, a, "attention.head_count_kv", 1, 1024, &m->n_kv_head, err, errlen))
    return -1;
  if (m->n_head % m->n_kv_head)
    return fail(err, errlen, "model: %d heads are not a multiple of %d kv heads", m->n_head, m->n_kv_head);
  if (has_key(f, a, "attention.key_length")) {
    int32_t vlen = 0;
    if (hparam(f, a, "attention.key_length", 2, 1 << 12, &m->head_dim, err, errlen)) return -1;
    if (has_key(f, a, "attention.value_length") &&
        hparam(f, a, "attention.value_length", 2, 1 << 12, &vlen, err, errlen))
      return -1;
    if (vlen && vlen != m->head_dim)
      return fail(err, errlen, "model: key length %d != value length %d is not supported", m->head_dim, vlen);
  } else {
    if (m->d_model % m->n_head) return fail(err, errlen, "model: %d heads do not divide d_model %d", m->n_head, m->d_model);
    m->head_dim = m->d_model / m->n_head;
  }
  if (m->head_dim % 2) return fail(err, errlen, "model: head_dim %d is odd", m->head_dim);
  if (has_key(f, a, "rope.dimension_count")) {
    int32_t rope_dims;
    if (hparam(f, a, "rope.dimension_count", 1, 1 << 15, &rope_dims, err, errlen)) return -1;
    if (rope_dims != m->head_dim)
      return fail(err, errlen, "model: partial rotary embedding (%d of %d dims) is not supported", rope_dims,
                  m->head_dim);
  }
  char key[96];
  snprintf(key, sizeof key, "%s.rope.scaling.type", a);
  if (gg_find_kv(f, key)) {
    gg_str type;
    if (gg_get_str(f, key, &type, err, errlen)) return -1;
    if (!gg_str_eq(type, "none"))
      return fail(err, errlen, "model: rope scaling '%s' is not supported", gg_printable(type, shown, sizeof shown));
  }
  snprintf(key, sizeof key, "%s.rope.scaling.factor", a);
  if (gg_find_kv(f, key)) {
    float factor;
    if (gg_get_f32(f, key, &factor, err, errlen)) return -1;
    if (factor != 0.0f && factor != 1.0f)
      return fail(err, errlen, "model: rope scaling by %g is not supported", (double)factor);
  }
  /* rope_freqs.weight (Llama 3.1+; llama.cpp reads it for llama only) is bound in llm_model_load. */
  if (gg_find_tensor(f, "rope_freqs.weight") && m->arch != LLM_ARCH_LLAMA)
    return fail(err, errlen, "model: per-frequency rope factors (rope_freqs.weight) are only supported for llama");
  m->q_dim = m->n_head * m->head_dim;
  m->kv_dim = m->n_kv_head * m->head_dim;
  float rope_base = 10000.0f;
  snprintf(key, sizeof key, "%s.rope.freq_base", a);
  if (gg_find_kv(f, key) && gg_get_f32(f, key, &rope_base, err, errlen)) return -1;
  snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", a);
  if (gg_get_f32(f, key, &m->eps, err, errlen)) return -1;
  if (!(m->eps > 0.0f && m->eps < 1.0f) || !(rope_base > 1.0f && rope_base < 1e9f))
    return fail(err, errlen, "model: rms eps %g or rope base %g out of range", (double)m->eps, (double)rope_base);
  m->attn_scale = 1.0f / sqrtf((float)m->head_dim);
  m->embd_scale = 1.0f;
  /* GGUF llama files store q/k rows permuted for adjacent-pair rotation; the
   * others rotate halves (llama.cpp's NEOX rope type). */
  m->rope_flags = m->arch == LLM_ARCH_LLAMA ? ZW_ROPE_ADJACENT : 0u;
  int32_t window = 0;
  if (m->arch == LLM_ARCH_GEMMA3) {
    m->embd_scale = sqrtf((float)m->d_model);
    if (hparam(f, a, "attention.sliding_window", 1, 1 << 24, &window, err, errlen)) return -1;
  } else if (has_key(f, a, "attention.sliding_window")) {
    return fail(err, errlen, "model: sliding-window attention is only supported for gemma3");
  }
  m->layers = calloc((size_t)m->n_layer, sizeof(llm_layer));
  if (!m->layers) return fail(err, errlen, "model: out of memory");
  for (int32_t l = 0; l < m->n_layer; l++) {
    m->layers[l].rope_base = rope_base;
    /* gemma3 (llama.cpp, HF): every 6th layer is global, the rest are local
     * sliding-window layers with a fixed rope base of 10^4 */
    if (m->arch == LLM_ARCH_GEMMA3 && l % 6 != 5) {
      m->layers[l].window = window;
      m->layers[l].rope_base = 10000.0f;
    }
  }
  return 0;
}

static void *scratch(size_t floats, int *oom) {
  void *p = malloc(floats * 4);
  if (!p) *oom = 1;
  return p;
}

int llm_model_load(llm_model *m, const gg_file *f, char *err, size_t errlen) {
  memset(m, 0, sizeof *m);
  const char *arch;
  if (load_hparams(m, f, &arch, err, errlen)) goto bad;
  const gg_tensor *emb = gg_find_tensor(f, "token_embd.weight");
  if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 24)) {
    fail(err, errlen, "model: token_embd.weight is missing or not [d_model, vocab]");
    goto bad;
  }
  m->n_vocab = (int32_t)emb->ne[1];
  int dt;
  if (!(m->tok_embd = bind(f, "token_embd.weight", m->d_model, m->n_vocab, 0, &dt, err, errlen))) goto bad;
  m->tok_embd_dtype = dt;
  if (!(m->out_norm = bind(f, "output_norm.weight", m->d_model, 1, 1, &dt, err, errlen))) goto bad;
  if (gg_find_tensor(f, "output.weight")) {
    if (!(m->output = bind(f, "output.weight", m->d_model, m->n_vocab, 0, &dt, err, errlen))) goto bad;
    m->output_flags = ZW_B_DTYPE(dt);
  } else { /* tied embeddings */
    m->output = m->tok_embd;
    m->output_flags = ZW_B_DTYPE(m->tok_embd_dtype);
  }
  /* Llama 3.1+: frequency i of every layer is divided by factor i (llama.cpp's freq_factors) */
  if (gg_find_tensor(f, "rope_freqs.weight") &&
      !(m->rope_factors = bind(f, "rope_freqs.weight", m->head_dim / 2, 1, 1, &dt, err, errlen)))
    goto bad;
  for (int32_t l = 0; l < m->n_layer; l++) {
    llm_layer *L = &m->layers[l];
    char name[64];
#define BIND(field, flagfield, suffix, ne0, ne1)                   \
  snprintf(name, sizeof name, "blk.%d." suffix ".weight", (int)l); \
  if (!(L->field = bind(f, name, ne0, ne1, 0, &dt, err, errlen))) goto bad; \
  L->flagfield = ZW_B_DTYPE(dt);
#define NORM(field, suffix, ne0)                                    \
  snprintf(name, sizeof name, "blk.%d." suffix, (int)l);            \
  if (!(L->field = bind(f, name, ne0, 1, 1, &dt, err, errlen))) goto bad;
    BIND(wq, tq, "attn_q", m->d_model, m->q_dim)
    BIND(wk, tk, "attn_k", m->d_model, m->kv_dim)
    BIND(wv, tv, "attn_v", m->d_model, m->kv_dim)
    BIND(wo, to, "attn_output", m->q_dim, m->d_model)
    BIND(wgate, tgate, "ffn_gate", m->d_model, m->d_ff)
    BIND(wup, tup, "ffn_up", m->d_model, m->d_ff)
    BIND(wdown, tdown, "ffn_down", m->d_ff, m->d_model)
    NORM(attn_norm, "attn_norm.weight", m->d_model)
    NORM(ffn_norm, "ffn_norm.weight", m->d_model)
    if (m->arch == LLM_ARCH_QWEN2) {
      NORM(bq, "attn_q.bias", m->q_dim)
      NORM(bk, "attn_k.bias", m->kv_dim)
      NORM(bv, "attn_v.bias", m->kv_dim)
    }
    if (m->arch == LLM_ARCH_GEMMA3) {
      NORM(attn_post_norm, "post_attention_norm.weight", m->d_model)
      NORM(ffn_post_norm, "post_ffw_norm.weight", m->d_model)
      NORM(q_norm, "attn_q_norm.weight", m->head_dim)
      NORM(k_norm, "attn_k_norm.weight", m->head_dim)
    }
#undef BIND
#undef NORM
  }
  size_t B = LLM_MAX_BATCH;
  int oom = 0;
  size_t wide = (size_t)(m->d_model > m->q_dim ? m->d_model : m->q_dim);
  m->x = scratch(B * (size_t)m->d_model, &oom);
  m->xb = scratch(B * wide, &oom);
  m->q = scratch(B * (size_t)m->q_dim, &oom);
  m->k = scratch(B * (size_t)m->kv_dim, &oom);
  m->v = scratch(B * (size_t)m->kv_dim, &oom);
  m->att = scratch(B * (size_t)m->q_dim, &oom);
  m->hb = scratch(B * (size_t)m->d_ff, &oom);
  m->hb2 = scratch(B * (size_t)m->d_ff, &oom);
  m->logits = scratch((size_t)m->n_vocab, &oom);
  if (oom) {
    fail(err, errlen, "model: out of memory for activations");
    goto bad;
  }
  for (size_t i = 0; i < B; i++) m->ones[i] = 1.0f;
  return 0;
bad:
  llm_model_free(m);
  return -1;
}

void llm_model_free(llm_model *m) {
  free(m->layers);
  free(m->x);
  free(m->xb);
  free(m->q);
  free(m->k);
  free(m->v);
  free(m->att);
  free(m->hb);
  free(m->hb2);
  free(m->logits);
  memset(m, 0, sizeof *m);
}

uint64_t llm_kv_bytes(const llm_model *m, int32_t n_ctx) {
  uint64_t per_pos = (uint64_t)m->n_layer * 2u * (uint64_t)m->kv_dim * sizeof(llm_kv);
  if (n_ctx <= 0 || per_pos == 0 || (uint64_t)n_ctx > UINT32_MAX / per_pos) return 0;
  return per_pos * (uint64_t)n_ctx;
}

/* out[r, :] += bias for r < n, as one matmul: ones[n, 1] . bias[cols, 1]^T. */
static void add_bias(const llm_model *m, float *out, const float *bias, int32_t n, int32_t cols) {
  zw_matmul(m->ones, bias, out, n, cols, 1, ZW_B_DTYPE(ZW_DTYPE_F32) | ZW_ACCUMULATE);
}

/* Attention of n queries at positions pos..pos+n-1 over the cache, with an
 * optional sliding window: key j is visible to query p when p - j < window. */
static void attend(const llm_model *m, const llm_layer *L, const float *q, const llm_kv *k_all, const llm_kv *v_all,
                   float *out, int32_t n, int32_t pos) {
  const int32_t KV = m->kv_dim, Q = m->q_dim;
  const int32_t W = L->window;
  if (!W || pos + n <= W) {
    zw_attention(q, k_all, v_all, out, n, pos + n, m->n_head, m->n_kv_head, m->head_dim, m->attn_scale,
                 ZW_CAUSAL | ZW_KV_F16);
    return;
  }
  /* queries whose window starts at 0 go together; each later one alone, over
   * exactly its window [p - W + 1, p] */
  int32_t i = 0;
  int32_t together = W - pos > 0 ? W - pos : 0; /* queries with p < W */
  if (together > 0) {
    zw_attention(q, k_all, v_all, out, together, pos + together, m->n_head, m->n_kv_head, m->head_dim,
                 m->attn_scale, ZW_CAUSAL | ZW_KV_F16);
    i = together;
  }
  for (; i < n; i++) {
    int32_t p = pos + i, start = p - W + 1;
    zw_attention(q + (size_t)i * Q, k_all + (size_t)start * KV, v_all + (size_t)start * KV, out + (size_t)i * Q, 1,
                 W, m->n_head, m->n_kv_head, m->head_dim, m->attn_scale, ZW_KV_F16);
  }
}

void llm_forward(const llm_model *m, const int32_t *ids, int32_t n, int32_t pos, llm_kv *kv, int32_t n_ctx,
                 int want_logits) {
  const int32_t D = m->d_model, F = m->d_ff, KV = m->kv_dim, Q = m->q_dim, HD = m->head_dim;
  const int gemma = m->arch == LLM_ARCH_GEMMA3;
  const size_t layer_stride = (size_t)n_ctx * (size_t)KV; /* elements between K and V of a layer */
  zw_gather(m->tok_embd, m->n_vocab, ids, m->x, n, D, m->tok_embd_dtype);
  if (m->embd_scale != 1.0f) zw_scale(m->x, m->x, n * D, m->embd_scale);
  for (int32_t l = 0; l < m->n_layer; l++) {
    const llm_layer *L = &m->layers[l];
    llm_kv *k_all = kv + (size_t)l * 2 * layer_stride, *v_all = k_all + layer_stride;
    float *k_new = m->k, *v_new = m->v;
    /* attention block: new K/V rows in f32, then rounded into the f16 cache */
    zw_rmsnorm(m->x, L->attn_norm, m->xb, n, D, m->eps);
    zw_matmul(m->xb, L->wq, m->q, n, Q, D, L->tq);
    zw_matmul(m->xb, L->wk, k_new, n, KV, D, L->tk);
    zw_matmul(m->xb, L->wv, v_new, n, KV, D, L->tv);
    if (L->bq) {
      add_bias(m, m->q, L->bq, n, Q);
      add_bias(m, k_new, L->bk, n, KV);
      add_bias(m, v_new, L->bv, n, KV);
    }
    if (L->q_norm) { /* per-head RMSNorm: rows of head_dim */
      zw_rmsnorm(m->q, L->q_norm, m->q, n * m->n_head, HD, m->eps);
      zw_rmsnorm(k_new, L->k_norm, k_new, n * m->n_kv_head, HD, m->eps);
    }
    if (m->rope_factors) {
      zw_rope_factors(m->q, m->q, n, m->n_head, HD, pos, L->rope_base, m->rope_flags, m->rope_factors);
      zw_rope_factors(k_new, k_new, n, m->n_kv_head, HD, pos, L->rope_base, m->rope_flags, m->rope_factors);
    } else {
      zw_rope(m->q, m->q, n, m->n_head, HD, pos, L->rope_base, m->rope_flags);
      zw_rope(k_new, k_new, n, m->n_kv_head, HD, pos, L->rope_base, m->rope_flags);
    }
    zw_to_f16(k_new, k_all + (size_t)pos * (size_t)KV, n * KV);
    zw_to_f16(v_new, v_all + (size_t)pos * (size_t)KV, n * KV);
    attend(m, L, m->q, k_all, v_all, m->att, n, pos);
    if (gemma) { /* x += post_norm(att . Wo^T) */
      zw_matmul(m->att, L->wo, m->xb, n, D, Q, L->to);
      zw_rmsnorm(m->xb, L->attn_post_norm, m->xb, n, D, m->eps);
      zw_add(m->x, m->xb, m->x, n * D);
    } else {
      zw_matmul(m->att, L->wo, m->x, n, D, Q, L->to | ZW_ACCUMULATE); /* x += att . Wo^T */
    }
    /* gated feed-forward: SwiGLU, or GELU(tanh) for gemma3 */
    zw_rmsnorm(m->x, L->ffn_norm, m->xb, n, D, m->eps);
    zw_matmul(m->xb, L->wgate, m->hb, n, F, D, L->tgate);
    zw_matmul(m->xb, L->wup, m->hb2, n, F, D, L->tup);
    if (gemma) {
      zw_gelu_tanh(m->hb, m->hb, n * F);
      zw_mul(m->hb, m->hb2, m->hb, n * F);
      zw_matmul(m->hb, L->wdown, m->xb, n, D, F, L->tdown);
      zw_rmsnorm(m->xb, L->ffn_post_norm, m->xb, n, D, m->eps);
      zw_add(m->x, m->xb, m->x, n * D);
    } else {
      zw_silu(m->hb, m->hb, n * F);
      zw_mul(m->hb, m->hb2, m->hb, n * F);
      zw_matmul(m->hb, L->wdown, m->x, n, D, F, L->tdown | ZW_ACCUMULATE);
    }
  }
  if (want_logits) {
    zw_rmsnorm(m->x + (size_t)(n - 1) * (size_t)D, m->out_norm, m->xb, 1, D, m->eps);
    zw_matmul(m->xb, m->output, m->logits, 1, m->n_vocab, D, m->output_flags);
  }
}
