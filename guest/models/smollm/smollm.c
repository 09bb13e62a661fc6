/* Exports of the SmolLM guest (reactor). Protocol with the host
 * (python/zerowasm/models/smollm.py):
 *
 *   1. p = smollm_file_alloc(size): a 64 KiB-aligned region; the host places
 *      the GGUF file's bytes there (read, or mmap'd over it), then
 *      smollm_load(p, size) parses it in here: metadata, tokenizer, weights.
 *   2. s = smollm_session_new(n_ctx): a session slot. Its state region (header,
 *      token history, KV cache; see session_header) is one block the host may
 *      copy out and back in (snapshot/restore), then smollm_session_check(s).
 *   3. smollm_chat(s, user, system) queues the chat-template tokens of a turn;
 *      smollm_next(s, temperature, top_p) evaluates every queued token (prefill)
 *      and samples one, which is queued in turn (decode).
 *
 * Every entry point returns a negative value on failure with a message in
 * smollm_error(); the instance stays usable. One instance holds the weights
 * once and up to SMOLLM_MAX_SESSIONS (64) sessions, each with its own cache. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "gguf.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"
#include "zerowasm.h"

#define EXPORT(name) __attribute__((export_name(name)))
#define SMOLLM_MAX_SESSIONS 64
#define SESSION_MAGIC 0x534C4D53u /* "SMLS" */
#define SESSION_VERSION 1u

/* Start of every session's state region. Plain int32/uint64 fields at fixed
 * offsets: the host reads n_past/n_tokens (offsets 12, 16) for snapshots. */
typedef struct {
  uint32_t magic, version;
  int32_t n_ctx;     /* positions this region holds */
  int32_t n_past;    /* tokens whose K/V rows are in the cache */
  int32_t n_tokens;  /* tokens in the history; [n_past, n_tokens) are queued */
  int32_t last_eval; /* tokens the last evaluation processed */
  uint64_t rng;      /* sampler state */
  int32_t n_layer, kv_dim, kv_offset; /* cache shape, checked on restore */
  int32_t reserved[5];
} session_header; /* 64 bytes; then int32 tokens[n_ctx]; then KV at kv_offset */

typedef struct {
  uint8_t *region;
  uint32_t bytes;
  int32_t n_ctx;
} session_slot;

static char g_err[512];
static gg_file g_file;
static tokenizer g_tok;
static model g_model;
static int g_loaded;
static int32_t g_eos = -1, g_eot = -1, g_im_start = -1, g_im_end = -1;
static gg_str g_default_system; /* from the chat template; len 0 if none */
static session_slot g_slots[SMOLLM_MAX_SESSIONS];
static tok_vec g_result;
/* Whose logits smollm_logits() holds: a session and its n_past then (-1: none). */
static int32_t g_logits_slot = -1, g_logits_n_past = -1;

static int32_t set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
  return -1;
}

EXPORT("smollm_error") const char *smollm_error(void) { return g_err; }

EXPORT("smollm_alloc") void *smollm_alloc(int32_t size) {
  if (size <= 0) return NULL;
  return aligned_alloc(16, ((size_t)size + 15) & ~(size_t)15);
}

EXPORT("smollm_free") void smollm_free(void *p) { free(p); }

/* A region for the file image: 64 KiB-aligned and a whole number of 64 KiB
 * pages, so the host may mmap the file over it. 0 when it cannot be had. */
EXPORT("smollm_file_alloc") void *smollm_file_alloc(int64_t size) {
  if (size <= 0 || (uint64_t)size > (uint64_t)UINT32_MAX - 2 * BIG_PAGE) {
    set_error("file size %lld is not possible in a 32-bit memory", (long long)size);
    return NULL;
  }
  void *p = big_alloc((size_t)size); /* whole 64 KiB pages, 64 KiB aligned */
  if (!p) set_error("out of memory for a %lld-byte file", (long long)size);
  return p;
}

EXPORT("smollm_file_free") void smollm_file_free(void *p) { big_free(p); }

/* The system prompt the chat template inserts when a conversation has none:
 * the text between "<|im_start|>system\n" and "<|im_end|>" in the template. */
static gg_str find_default_system(const gg_file *f) {
  gg_str none = {0, 0}, tmpl;
  char scratch[8];
  if (!gg_find_kv(f, "tokenizer.chat_template") ||
      gg_get_str(f, "tokenizer.chat_template", &tmpl, scratch, sizeof scratch))
    return none;
  static const char open[] = "<|im_start|>system\n", close[] = "<|im_end|>";
  const size_t no = sizeof open - 1, nc = sizeof close - 1;
  for (size_t i = 0; i + no <= tmpl.len; i++) {
    if (memcmp(tmpl.p + i, open, no) != 0) continue;
    for (size_t j = i + no; j + nc <= tmpl.len; j++) {
      if (tmpl.p[j] == '\'' || tmpl.p[j] == '{') return none; /* not a literal: template logic */
      if (memcmp(tmpl.p + j, close, nc) == 0) {
        gg_str s = {tmpl.p + i + no, (uint32_t)(j - i - no)};
        return s;
      }
    }
  }
  return none;
}

static int32_t token_id(const gg_file *f, const char *key, int32_t fallback) {
  uint32_t v;
  char scratch[8];
  if (!gg_find_kv(f, key) || gg_get_u32(f, key, &v, scratch, sizeof scratch)) return fallback;
  return v < (uint32_t)g_tok.n_vocab ? (int32_t)v : fallback;
}

static void unload(void) {
  for (int i = 0; i < SMOLLM_MAX_SESSIONS; i++) {
    big_free(g_slots[i].region);
    g_slots[i].region = NULL;
  }
  model_free(&g_model);
  tok_free(&g_tok);
  gg_free(&g_file);
  g_loaded = 0;
}

/* Parse the GGUF image at [data, data+size) and bind everything to it.
 * Drops any previous model and its sessions. */
EXPORT("smollm_load") int32_t smollm_load(const uint8_t *data, int64_t size) {
  unload();
  if (!data || size <= 0) return set_error("no file image");
  if (gg_parse(&g_file, data, (uint64_t)size, g_err, sizeof g_err)) return -1;
  if (tok_build(&g_tok, &g_file, g_err, sizeof g_err)) goto bad;
  if (model_load(&g_model, &g_file, g_err, sizeof g_err)) goto bad;
  if (g_tok.n_vocab != g_model.n_vocab) {
    set_error("tokenizer has %d tokens but token_embd has %d rows", g_tok.n_vocab, g_model.n_vocab);
    goto bad;
  }
  g_im_start = tok_find(&g_tok, "<|im_start|>", 12);
  g_im_end = tok_find(&g_tok, "<|im_end|>", 10);
  if (g_im_start < 0 || g_im_end < 0) {
    set_error("the vocabulary lacks <|im_start|> / <|im_end|> (ChatML chat template)");
    goto bad;
  }
  g_eos = token_id(&g_file, "tokenizer.ggml.eos_token_id", g_im_end);
  g_eot = tok_find(&g_tok, "<|endoftext|>", 13);
  g_default_system = find_default_system(&g_file);
  /* Weights are only read from now on: where memory is managed (CUDA), let every
   * device keep a copy and move them there before the first token. */
  if (size <= INT32_MAX) {
    zw_advise(data, (int32_t)size, ZW_ADVISE_READ_MOSTLY);
    zw_prefetch(data, (int32_t)size, ZW_DEVICE);
  }
  g_loaded = 1;
  return 0;
bad:
  unload();
  return -1;
}

/* Model facts for the host. */
enum {
  INFO_N_LAYER = 0, INFO_D_MODEL, INFO_N_HEAD, INFO_N_KV_HEAD, INFO_HEAD_DIM, INFO_D_FF, INFO_N_VOCAB,
  INFO_N_CTX_TRAIN, INFO_KV_DIM, INFO_EOS, INFO_EOT, INFO_IM_START, INFO_IM_END, INFO_MAX_BATCH,
  INFO_HEADER_BYTES, INFO_N_MERGES, INFO_MAX_SESSIONS,
};

EXPORT("smollm_info") int32_t smollm_info(int32_t key) {
  if (!g_loaded && key != INFO_HEADER_BYTES && key != INFO_MAX_BATCH && key != INFO_MAX_SESSIONS)
    return set_error("no model loaded");
  switch (key) {
    case INFO_N_LAYER: return g_model.n_layer;
    case INFO_D_MODEL: return g_model.d_model;
    case INFO_N_HEAD: return g_model.n_head;
    case INFO_N_KV_HEAD: return g_model.n_kv_head;
    case INFO_HEAD_DIM: return g_model.head_dim;
    case INFO_D_FF: return g_model.d_ff;
    case INFO_N_VOCAB: return g_model.n_vocab;
    case INFO_N_CTX_TRAIN: return g_model.n_ctx_train;
    case INFO_KV_DIM: return g_model.kv_dim;
    case INFO_EOS: return g_eos;
    case INFO_EOT: return g_eot;
    case INFO_IM_START: return g_im_start;
    case INFO_IM_END: return g_im_end;
    case INFO_MAX_BATCH: return MODEL_MAX_BATCH;
    case INFO_HEADER_BYTES: return (int32_t)sizeof(session_header);
    case INFO_N_MERGES: return g_tok.n_merges;
    case INFO_MAX_SESSIONS: return SMOLLM_MAX_SESSIONS;
    default: return set_error("unknown info key %d", key);
  }
}

/* ---- sessions ----------------------------------------------------------------- */

static session_header *session(int32_t slot) {
  if (!g_loaded) {
    set_error("no model loaded");
    return NULL;
  }
  if (slot < 0 || slot >= SMOLLM_MAX_SESSIONS || !g_slots[slot].region) {
    set_error("session %d does not exist", slot);
    return NULL;
  }
  return (session_header *)g_slots[slot].region;
}

static int32_t *session_tokens(session_header *h) { return (int32_t *)(h + 1); }
static float *session_kv(session_header *h) { return (float *)((uint8_t *)h + h->kv_offset); }

EXPORT("smollm_session_new") int32_t smollm_session_new(int32_t n_ctx) {
  if (!g_loaded) return set_error("no model loaded");
  if (n_ctx < 1 || n_ctx > g_model.n_ctx_train)
    return set_error("n_ctx %d is outside [1, %d] (the model's context length)", n_ctx, g_model.n_ctx_train);
  int32_t slot = -1;
  for (int32_t i = 0; i < SMOLLM_MAX_SESSIONS && slot < 0; i++)
    if (!g_slots[i].region) slot = i;
  if (slot < 0) return set_error("all %d session slots are in use", SMOLLM_MAX_SESSIONS);
  uint64_t kv_offset = (sizeof(session_header) + 4u * (uint64_t)n_ctx + 63u) & ~(uint64_t)63u;
  uint64_t kv_bytes = model_kv_bytes(&g_model, n_ctx);
  if (!kv_bytes || kv_bytes > UINT32_MAX - kv_offset) return set_error("a %d-token cache does not fit in memory", n_ctx);
  uint64_t bytes = kv_offset + kv_bytes;
  uint8_t *region = big_alloc((size_t)bytes);
  if (!region) return set_error("out of memory for a %d-token session (%llu bytes)", n_ctx, (unsigned long long)bytes);
  memset(region, 0, (size_t)kv_offset); /* header + token history; the cache is written before it is read */
  session_header *h = (session_header *)region;
  h->magic = SESSION_MAGIC;
  h->version = SESSION_VERSION;
  h->n_ctx = n_ctx;
  h->rng = 0x5EED5EED5EED5EEDull;
  h->n_layer = g_model.n_layer;
  h->kv_dim = g_model.kv_dim;
  h->kv_offset = (int32_t)kv_offset;
  g_slots[slot] = (session_slot){region, (uint32_t)bytes, n_ctx};
  if (bytes <= INT32_MAX) zw_prefetch(region, (int32_t)bytes, ZW_DEVICE); /* the cache lives on the device */
  if (g_logits_slot == slot) g_logits_slot = -1;
  return slot;
}

EXPORT("smollm_session_free") int32_t smollm_session_free(int32_t slot) {
  if (!session(slot)) return -1;
  big_free(g_slots[slot].region);
  g_slots[slot].region = NULL;
  if (g_logits_slot == slot) g_logits_slot = -1;
  return 0;
}

EXPORT("smollm_session_region") void *smollm_session_region(int32_t slot) {
  session_header *h = session(slot);
  return h ? (void *)h : NULL;
}

EXPORT("smollm_session_region_bytes") int32_t smollm_session_region_bytes(int32_t slot) {
  return session(slot) ? (int32_t)g_slots[slot].bytes : -1;
}

/* After the host wrote a region back: everything the guest relies on must
 * hold again (the host may hand back anything). */
EXPORT("smollm_session_check") int32_t smollm_session_check(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  const session_slot *s = &g_slots[slot];
  if (g_logits_slot == slot) g_logits_slot = -1; /* the host rewrote the state */
  if (h->magic != SESSION_MAGIC || h->version != SESSION_VERSION || h->n_ctx != s->n_ctx ||
      h->n_layer != g_model.n_layer || h->kv_dim != g_model.kv_dim ||
      (uint64_t)h->kv_offset != (((sizeof(session_header) + 4u * (uint64_t)s->n_ctx + 63u) & ~(uint64_t)63u)))
    return set_error("session %d: state region is not a state of this model with %d positions", slot, s->n_ctx);
  if (h->n_past < 0 || h->n_past > h->n_tokens || h->n_tokens > h->n_ctx)
    return set_error("session %d: positions n_past %d / n_tokens %d are inconsistent", slot, h->n_past, h->n_tokens);
  const int32_t *toks = session_tokens(h);
  for (int32_t i = 0; i < h->n_tokens; i++)
    if (toks[i] < 0 || toks[i] >= g_model.n_vocab) return set_error("session %d: token %d is out of range", slot, i);
  return 0;
}

EXPORT("smollm_session_reset") int32_t smollm_session_reset(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  h->n_past = h->n_tokens = h->last_eval = 0;
  if (g_logits_slot == slot) g_logits_slot = -1;
  return 0;
}

EXPORT("smollm_session_seed") int32_t smollm_session_seed(int32_t slot, int64_t seed) {
  session_header *h = session(slot);
  if (!h) return -1;
  h->rng = (uint64_t)seed;
  return 0;
}

static int32_t queue(session_header *h, const int32_t *ids, int32_t n) {
  if (n > h->n_ctx - h->n_tokens)
    return set_error("context full: %d tokens queued after %d would exceed n_ctx %d", n, h->n_tokens, h->n_ctx);
  int32_t *toks = session_tokens(h);
  for (int32_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= g_model.n_vocab) return set_error("token id %d is out of range", ids[i]);
  }
  memcpy(toks + h->n_tokens, ids, (size_t)n * sizeof(int32_t));
  h->n_tokens += n;
  return n;
}

/* Queue raw token ids (replays, tests). */
EXPORT("smollm_feed") int32_t smollm_feed(int32_t slot, const int32_t *ids, int32_t n) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (n < 0 || (n > 0 && !ids)) return set_error("bad token list");
  return queue(h, ids, n);
}

typedef struct {
  uint8_t *p;
  size_t n, cap;
} text_buf;

static int put(text_buf *b, const void *s, size_t n) {
  if (n > b->cap - b->n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
      if (cap > SIZE_MAX / 2) return -1;
      cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  return 0;
}

static int put_message(text_buf *b, const char *role, const uint8_t *text, size_t len) {
  return put(b, "<|im_start|>", 12) || put(b, role, strlen(role)) || put(b, "\n", 1) || put(b, text, len) ||
         put(b, "<|im_end|>\n", 11);
}

/* Queue one user turn in the ChatML template of SmolLM2:
 *   [<|im_start|>system\n{system}<|im_end|>\n]   first turn only
 *   <|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n
 * sys_mode: 0 = the template's default system prompt, 1 = sys text, 2 = none.
 * A later turn first closes the previous answer (<|im_end|> unless it ended
 * with it) and its "\n", exactly as the template renders the whole chat.
 * The rendered text is tokenized as one string with special tokens parsed,
 * as HF's apply_chat_template + tokenizer do. Returns the tokens queued. */
EXPORT("smollm_chat")
int32_t smollm_chat(int32_t slot, const uint8_t *user, int32_t user_len, int32_t sys_mode, const uint8_t *sys,
                    int32_t sys_len) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (user_len < 0 || (user_len && !user) || sys_len < 0 || (sys_len && !sys) || sys_mode < 0 || sys_mode > 2)
    return set_error("bad chat arguments");
  text_buf b = {0};
  tok_vec ids = {0};
  int32_t rc = -1;
  int oom = 0;
  if (h->n_tokens == 0) {
    if (sys_mode == 0 && g_default_system.len)
      oom |= put_message(&b, "system", g_default_system.p, g_default_system.len);
    else if (sys_mode == 1)
      oom |= put_message(&b, "system", sys, (size_t)sys_len);
  } else {
    const int32_t last = session_tokens(h)[h->n_tokens - 1];
    if (last != g_im_end) oom |= put(&b, "<|im_end|>", 10);
    oom |= put(&b, "\n", 1);
  }
  oom |= put_message(&b, "user", user, (size_t)user_len);
  oom |= put(&b, "<|im_start|>assistant\n", 22);
  if (oom || tok_encode(&g_tok, b.p, b.n, 1, &ids)) {
    set_error("out of memory while tokenizing");
    goto done;
  }
  rc = queue(h, ids.ids, ids.n);
done:
  free(b.p);
  tok_vec_free(&ids);
  return rc;
}

/* Evaluate every queued token (chunks of MODEL_MAX_BATCH); the logits of the
 * last one land in smollm_logits(). Returns the number evaluated. */
static int32_t evaluate(int32_t slot, session_header *h) {
  int32_t todo = h->n_tokens - h->n_past;
  if (todo <= 0) return set_error("nothing to evaluate: queue a turn or tokens first");
  const int32_t *toks = session_tokens(h);
  float *kv = session_kv(h);
  while (h->n_past < h->n_tokens) {
    int32_t n = h->n_tokens - h->n_past;
    if (n > MODEL_MAX_BATCH) n = MODEL_MAX_BATCH;
    int last = h->n_past + n == h->n_tokens;
    model_forward(&g_model, toks + h->n_past, n, h->n_past, kv, h->n_ctx, last);
    h->n_past += n;
  }
  zw_sync();
  h->last_eval = todo;
  g_logits_slot = slot;
  g_logits_n_past = h->n_past;
  return todo;
}

EXPORT("smollm_eval") int32_t smollm_eval(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  return evaluate(slot, h);
}

/* Evaluate what is queued, sample the next token and queue it (it is fed to
 * the model by the next call). With nothing queued, samples again from this
 * session's last logits (after smollm_eval). Returns the token id. */
EXPORT("smollm_next") int32_t smollm_next(int32_t slot, float temperature, float top_p) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (h->n_tokens >= h->n_ctx) return set_error("context full (%d tokens)", h->n_ctx);
  if (h->n_past < h->n_tokens) {
    if (evaluate(slot, h) < 0) return -1;
  } else if (g_logits_slot != slot || g_logits_n_past != h->n_past) {
    return set_error("nothing to evaluate: queue a turn or tokens first");
  } else {
    h->last_eval = 0; /* sampling again from the logits of the last evaluation */
  }
  int32_t id = sampler_pick(g_model.logits, g_model.n_vocab, temperature, top_p, &h->rng);
  if (id < 0) return set_error("out of memory while sampling");
  session_tokens(h)[h->n_tokens++] = id;
  return id;
}

EXPORT("smollm_logits") float *smollm_logits(void) { return g_loaded ? g_model.logits : NULL; }

/* ---- tokenizer access ------------------------------------------------------------ */

/* Tokenize text; the ids are at smollm_result() until the next call. */
EXPORT("smollm_tokenize") int32_t smollm_tokenize(const uint8_t *text, int32_t len, int32_t parse_special) {
  if (!g_loaded) return set_error("no model loaded");
  if (len < 0 || (len && !text)) return set_error("bad text");
  g_result.n = 0;
  if (tok_encode(&g_tok, text, (size_t)len, parse_special, &g_result)) return set_error("out of memory while tokenizing");
  return g_result.n;
}

EXPORT("smollm_result") int32_t *smollm_result(void) { return g_result.ids; }

EXPORT("smollm_token_ptr") const uint8_t *smollm_token_ptr(int32_t id) {
  const uint8_t *p;
  if (!g_loaded || tok_decode(&g_tok, id, &p) < 0) return NULL;
  return p;
}

EXPORT("smollm_token_len") int32_t smollm_token_len(int32_t id) {
  const uint8_t *p;
  if (!g_loaded) return set_error("no model loaded");
  int32_t n = tok_decode(&g_tok, id, &p);
  return n < 0 ? set_error("token id %d is out of range", id) : n;
}
