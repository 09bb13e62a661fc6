/* Exports of the SmolLM guest (reactor). Protocol with the host
 * (python/zerowasm/models/smollm.py); errors, facts (info()) and alloc/free
 * follow guest/models/common/guest_api.h:
 *
 *   1. p = smollm_big_alloc(size): a 64 KiB-aligned region; the host places
 *      the GGUF file's bytes there (read, or mmap'd over it), then
 *      smollm_load(p, size) parses it in here: metadata, tokenizer, weights.
 *   2. s = smollm_session_new(n_ctx): a session slot with its own state region
 *      (header, token history, KV cache). smollm_snapshot_size/_write copy the
 *      state out as one opaque, checksummed blob; smollm_restore validates a
 *      blob completely before it changes anything (a corrupted or foreign
 *      snapshot is an error, the session stays as it was).
 *   3. smollm_chat(s, user) / smollm_chat_system(s, user, system) queue the
 *      chat-template tokens of a turn;
 *      smollm_next(s, temperature, top_p) evaluates every queued token (prefill)
 *      and samples one, which is queued in turn (decode).
 *
 * Every entry point returns a negative value (or NULL) on failure with a
 * message in last_error(); the instance stays usable. One instance holds the
 * weights once and up to SMOLLM_MAX_SESSIONS (64) sessions, each with its own
 * cache. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "gguf.h"
#include "guest_api.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"
#include "zerowasm.h"

#define EXPORT GUEST_EXPORT
#define SMOLLM_MAX_SESSIONS 64
#define SESSION_MAGIC 0x534C4D53u /* "SMLS" */
#define SESSION_VERSION 1u

/* Start of every session's state region; the guest alone reads and writes it
 * (the host asks through the smollm_session_* accessors and moves snapshots as
 * opaque bytes). The asserts pin the layout snapshots are made from. */
typedef struct {
  uint32_t magic, version;
  int32_t n_ctx;     /* positions this region holds */
  int32_t n_past;    /* tokens whose K/V rows are in the cache */
  int32_t n_tokens;  /* tokens in the history; [n_past, n_tokens) are queued */
  int32_t last_eval; /* tokens the last evaluation processed */
  uint64_t rng;      /* sampler state */
  int32_t n_layer, kv_dim, kv_offset; /* cache shape */
  int32_t reserved[5];
} session_header; /* then int32 tokens[n_ctx]; then KV at kv_offset */
_Static_assert(sizeof(session_header) == 64, "session_header is 64 bytes");
_Static_assert(offsetof(session_header, n_past) == 12 && offsetof(session_header, n_tokens) == 16 &&
                   offsetof(session_header, last_eval) == 20 && offsetof(session_header, rng) == 24 &&
                   offsetof(session_header, kv_offset) == 40,
               "session_header layout");

typedef struct {
  uint8_t *region;
  uint32_t bytes;
  int32_t n_ctx;
} session_slot;

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

/* A region for the file image or a snapshot: 64 KiB-aligned and a whole
 * number of 64 KiB pages (so the host may mmap a file over it), merged and
 * reused when freed, unlike malloc's power-of-two blocks. NULL when it cannot
 * be had. */
EXPORT("smollm_big_alloc") void *smollm_big_alloc(int64_t size) {
  if (size <= 0 || (uint64_t)size > (uint64_t)UINT32_MAX - 2 * BIG_PAGE) {
    guest_fail(-1, "file size %lld is not possible in a 32-bit memory", (long long)size);
    return NULL;
  }
  void *p = big_alloc((size_t)size); /* whole 64 KiB pages, 64 KiB aligned */
  if (!p) guest_fail(-1, "out of memory for a %lld-byte file", (long long)size);
  return p;
}

EXPORT("smollm_big_free") void smollm_big_free(void *p) { big_free(p); }

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
  if (!data || size <= 0) return guest_fail(-1, "no file image");
  if (gg_parse(&g_file, data, (uint64_t)size, guest_error_buffer(), GUEST_ERROR_CAP)) return -1;
  if (tok_build(&g_tok, &g_file, guest_error_buffer(), GUEST_ERROR_CAP)) goto bad;
  if (model_load(&g_model, &g_file, guest_error_buffer(), GUEST_ERROR_CAP)) goto bad;
  if (g_tok.n_vocab != g_model.n_vocab) {
    guest_fail(-1, "tokenizer has %d tokens but token_embd has %d rows", g_tok.n_vocab, g_model.n_vocab);
    goto bad;
  }
  g_im_start = tok_find(&g_tok, "<|im_start|>", 12);
  g_im_end = tok_find(&g_tok, "<|im_end|>", 10);
  if (g_im_start < 0 || g_im_end < 0) {
    guest_fail(-1, "the vocabulary lacks <|im_start|> / <|im_end|> (ChatML chat template)");
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

/* Model facts for the host (info(), by name). */
void guest_describe(guest_facts *out) {
  guest_fact(out, "max_batch", MODEL_MAX_BATCH);
  guest_fact(out, "max_sessions", SMOLLM_MAX_SESSIONS);
  if (!g_loaded) return;
  guest_fact(out, "n_layer", g_model.n_layer);
  guest_fact(out, "d_model", g_model.d_model);
  guest_fact(out, "n_head", g_model.n_head);
  guest_fact(out, "n_kv_head", g_model.n_kv_head);
  guest_fact(out, "head_dim", g_model.head_dim);
  guest_fact(out, "d_ff", g_model.d_ff);
  guest_fact(out, "n_vocab", g_model.n_vocab);
  guest_fact(out, "n_ctx_train", g_model.n_ctx_train);
  guest_fact(out, "kv_dim", g_model.kv_dim);
  guest_fact(out, "n_merges", g_tok.n_merges);
  guest_fact(out, "eos", g_eos);
  guest_fact(out, "eot", g_eot);
  guest_fact(out, "im_start", g_im_start);
  guest_fact(out, "im_end", g_im_end);
}

/* ---- sessions ----------------------------------------------------------------- */

static session_header *session(int32_t slot) {
  if (!g_loaded) {
    guest_fail(-1, "no model loaded");
    return NULL;
  }
  if (slot < 0 || slot >= SMOLLM_MAX_SESSIONS || !g_slots[slot].region) {
    guest_fail(-1, "session %d does not exist", slot);
    return NULL;
  }
  return (session_header *)g_slots[slot].region;
}

static int32_t *session_tokens(session_header *h) { return (int32_t *)(h + 1); }
static float *session_kv(session_header *h) { return (float *)((uint8_t *)h + h->kv_offset); }

EXPORT("smollm_session_new") int32_t smollm_session_new(int32_t n_ctx) {
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  if (n_ctx < 1 || n_ctx > g_model.n_ctx_train)
    return guest_fail(-1, "n_ctx %d is outside [1, %d] (the model's context length)", n_ctx, g_model.n_ctx_train);
  int32_t slot = -1;
  for (int32_t i = 0; i < SMOLLM_MAX_SESSIONS && slot < 0; i++)
    if (!g_slots[i].region) slot = i;
  if (slot < 0) return guest_fail(-1, "all %d session slots are in use", SMOLLM_MAX_SESSIONS);
  uint64_t kv_offset = (sizeof(session_header) + 4u * (uint64_t)n_ctx + 63u) & ~(uint64_t)63u;
  uint64_t kv_bytes = model_kv_bytes(&g_model, n_ctx);
  if (!kv_bytes || kv_bytes > UINT32_MAX - kv_offset) return guest_fail(-1, "a %d-token cache does not fit in memory", n_ctx);
  uint64_t bytes = kv_offset + kv_bytes;
  uint8_t *region = big_alloc((size_t)bytes);
  if (!region) return guest_fail(-1, "out of memory for a %d-token session (%llu bytes)", n_ctx, (unsigned long long)bytes);
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

/* What the host may read about a session (its bytes stay the guest's). */
EXPORT("smollm_session_n_past") int32_t smollm_session_n_past(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->n_past : -1;
}

EXPORT("smollm_session_n_tokens") int32_t smollm_session_n_tokens(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->n_tokens : -1;
}

EXPORT("smollm_session_last_eval") int32_t smollm_session_last_eval(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->last_eval : -1;
}

/* The token history: smollm_session_n_tokens(slot) int32 ids, valid until the
 * session's next change. */
EXPORT("smollm_session_tokens") const int32_t *smollm_session_tokens(int32_t slot) {
  session_header *h = session(slot);
  return h ? session_tokens(h) : NULL;
}

/* ---- snapshots ------------------------------------------------------------------ */

#define SNAPSHOT_MAGIC 0x4E534D53u /* "SMSN" */
#define SNAPSHOT_VERSION 1u

/* A snapshot: this header, then int32 tokens[n_tokens], then for each layer
 * its K rows and its V rows [n_past][kv_dim] (f32). The checksum covers every
 * byte but its own. The host keeps snapshots as opaque bytes. */
typedef struct {
  uint32_t magic, version, header_bytes, total_bytes;
  int32_t n_ctx, n_past, n_tokens, last_eval;
  int32_t n_layer, kv_dim, n_vocab, reserved;
  uint64_t rng;
  uint64_t checksum;
} snapshot_header;
_Static_assert(sizeof(snapshot_header) == 64 && offsetof(snapshot_header, rng) == 48 &&
                   offsetof(snapshot_header, checksum) == 56,
               "snapshot_header layout (a change needs a new SNAPSHOT_VERSION)");

/* FNV-style multiply-xor over 32-bit words in four lanes (for speed). Every
 * step is injective in the word, so any single changed word changes the sum. */
static uint64_t checksum_words(uint64_t seed, const uint8_t *p, size_t n) {
  const uint64_t prime = 0x100000001B3ull;
  uint64_t h[4] = {seed, seed ^ 1u, seed ^ 2u, seed ^ 3u};
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint32_t w[4];
    memcpy(w, p + i, 16);
    for (int k = 0; k < 4; k++) h[k] = (h[k] ^ w[k]) * prime;
  }
  for (; i + 4 <= n; i += 4) {
    uint32_t w;
    memcpy(&w, p + i, 4);
    h[0] = (h[0] ^ w) * prime;
  }
  uint64_t sum = 0xCBF29CE484222325ull;
  for (int k = 0; k < 4; k++) sum = (sum ^ h[k]) * prime;
  return sum;
}

static uint64_t snapshot_checksum(const uint8_t *blob, size_t total) {
  uint64_t sum = checksum_words(0, blob, offsetof(snapshot_header, checksum));
  return checksum_words(sum, blob + sizeof(snapshot_header), total - sizeof(snapshot_header));
}

/* Bytes of a snapshot of h (0 when it would not fit in an int32). */
static uint64_t snapshot_bytes(const session_header *h) {
  uint64_t kv = (uint64_t)h->n_layer * 2u * (uint64_t)h->n_past * (uint64_t)h->kv_dim * 4u;
  uint64_t total = sizeof(snapshot_header) + 4u * (uint64_t)h->n_tokens + kv;
  return total <= INT32_MAX ? total : 0;
}

/* [ptr, ptr+len) must lie in linear memory: checked before any access. */
static int in_memory(const void *ptr, int32_t len) {
  uint64_t end = (uint64_t)(uintptr_t)ptr + (uint64_t)(len < 0 ? 0 : len);
  return ptr && len >= 0 && end <= (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
}

EXPORT("smollm_snapshot_size") int32_t smollm_snapshot_size(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  uint64_t total = snapshot_bytes(h);
  return total ? (int32_t)total : guest_fail(-1, "session %d: its snapshot would exceed 2 GiB", slot);
}

/* Write session slot's snapshot to [out, out+cap); returns its size. */
EXPORT("smollm_snapshot_write") int32_t smollm_snapshot_write(int32_t slot, uint8_t *out, int32_t cap) {
  session_header *h = session(slot);
  if (!h) return -1;
  uint64_t total = snapshot_bytes(h);
  if (!total) return guest_fail(-1, "session %d: its snapshot would exceed 2 GiB", slot);
  if (!in_memory(out, cap) || (uint64_t)cap < total)
    return guest_fail(-1, "snapshot buffer [%u, +%d) is not %llu bytes of memory", (unsigned)(uintptr_t)out, cap,
                      (unsigned long long)total);
  snapshot_header sh = {SNAPSHOT_MAGIC, SNAPSHOT_VERSION, sizeof(snapshot_header), (uint32_t)total,
                        h->n_ctx, h->n_past, h->n_tokens, h->last_eval,
                        h->n_layer, h->kv_dim, g_model.n_vocab, 0, h->rng, 0};
  uint8_t *at = out + sizeof sh;
  memcpy(at, session_tokens(h), 4u * (size_t)h->n_tokens);
  at += 4u * (size_t)h->n_tokens;
  const size_t plane = (size_t)h->n_ctx * (size_t)h->kv_dim, rows = (size_t)h->n_past * (size_t)h->kv_dim * 4u;
  const float *kv = session_kv(h);
  for (int32_t p = 0; p < 2 * h->n_layer; p++, at += rows) memcpy(at, kv + (size_t)p * plane, rows);
  memcpy(out, &sh, sizeof sh);
  sh.checksum = snapshot_checksum(out, total);
  memcpy(out, &sh, sizeof sh);
  return (int32_t)total;
}

/* Replace session slot's state by the snapshot at [blob, blob+len). Checks
 * everything first: on any failure the session is unchanged. */
EXPORT("smollm_restore") int32_t smollm_restore(int32_t slot, const uint8_t *blob, int32_t len) {
  session_header *h = session(slot);
  if (!h) return -1;
  snapshot_header sh;
  if (!in_memory(blob, len)) return guest_fail(-1, "snapshot [%u, +%d) lies outside memory", (unsigned)(uintptr_t)blob, len);
  if ((size_t)len < sizeof sh) return guest_fail(-1, "a %d-byte snapshot is shorter than its header", len);
  memcpy(&sh, blob, sizeof sh);
  if (sh.magic != SNAPSHOT_MAGIC || sh.header_bytes != sizeof sh)
    return guest_fail(-1, "not a SmolLM session snapshot (bad magic)");
  if (sh.version != SNAPSHOT_VERSION)
    return guest_fail(-1, "snapshot version %u is not the supported %u", sh.version, SNAPSHOT_VERSION);
  if (sh.total_bytes != (uint32_t)len)
    return guest_fail(-1, "snapshot is %d bytes but its header says %u (truncated?)", len, sh.total_bytes);
  if (snapshot_checksum(blob, (size_t)len) != sh.checksum) return guest_fail(-1, "snapshot checksum mismatch: corrupted");
  if (sh.n_layer != g_model.n_layer || sh.kv_dim != g_model.kv_dim || sh.n_vocab != g_model.n_vocab)
    return guest_fail(-1, "snapshot of another model (%d layers, kv_dim %d, %d tokens; this one: %d, %d, %d)",
                      sh.n_layer, sh.kv_dim, sh.n_vocab, g_model.n_layer, g_model.kv_dim, g_model.n_vocab);
  if (sh.n_ctx != h->n_ctx)
    return guest_fail(-1, "a snapshot of a %d-token session cannot restore a %d-token one", sh.n_ctx, h->n_ctx);
  if (sh.n_past < 0 || sh.n_past > sh.n_tokens || sh.n_tokens > sh.n_ctx || sh.last_eval < 0 ||
      sh.last_eval > sh.n_past)
    return guest_fail(-1, "snapshot positions are inconsistent (n_past %d, n_tokens %d, last_eval %d, n_ctx %d)",
                      sh.n_past, sh.n_tokens, sh.last_eval, sh.n_ctx);
  session_header want = *h;
  want.n_past = sh.n_past;
  want.n_tokens = sh.n_tokens;
  if (snapshot_bytes(&want) != (uint64_t)len) return guest_fail(-1, "snapshot size disagrees with its positions");
  const uint8_t *at = blob + sizeof sh;
  for (int32_t i = 0; i < sh.n_tokens; i++) {
    int32_t id;
    memcpy(&id, at + 4u * (size_t)i, 4);
    if (id < 0 || id >= g_model.n_vocab) return guest_fail(-1, "snapshot token %d (id %d) is out of range", i, id);
  }
  memmove(session_tokens(h), at, 4u * (size_t)sh.n_tokens);
  at += 4u * (size_t)sh.n_tokens;
  const size_t plane = (size_t)h->n_ctx * (size_t)h->kv_dim, rows = (size_t)sh.n_past * (size_t)h->kv_dim * 4u;
  float *kv = session_kv(h);
  for (int32_t p = 0; p < 2 * h->n_layer; p++, at += rows) memmove(kv + (size_t)p * plane, at, rows);
  h->n_past = sh.n_past;
  h->n_tokens = sh.n_tokens;
  h->last_eval = sh.last_eval;
  h->rng = sh.rng;
  if (g_logits_slot == slot) g_logits_slot = -1; /* the logits belong to the replaced state */
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
    return guest_fail(-1, "context full: %d tokens queued after %d would exceed n_ctx %d", n, h->n_tokens, h->n_ctx);
  int32_t *toks = session_tokens(h);
  for (int32_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= g_model.n_vocab) return guest_fail(-1, "token id %d is out of range", ids[i]);
  }
  memcpy(toks + h->n_tokens, ids, (size_t)n * sizeof(int32_t));
  h->n_tokens += n;
  return n;
}

/* Queue raw token ids (replays, tests). */
EXPORT("smollm_feed") int32_t smollm_feed(int32_t slot, const int32_t *ids, int32_t n) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (n < 0 || (n > 0 && !ids)) return guest_fail(-1, "bad token list");
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
 * sys_mode: SYSTEM_DEFAULT = the template's default system prompt,
 * SYSTEM_GIVEN = sys text (empty: no system message).
 * A later turn first closes the previous answer (<|im_end|> unless it ended
 * with it) and its "\n", exactly as the template renders the whole chat.
 * The rendered text is tokenized as one string with special tokens parsed,
 * as HF's apply_chat_template + tokenizer do. Returns the tokens queued. */
enum { SYSTEM_DEFAULT, SYSTEM_GIVEN };

static int32_t chat(int32_t slot, const uint8_t *user, int32_t user_len, int sys_mode, const uint8_t *sys,
                    int32_t sys_len) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (user_len < 0 || (user_len && !user) || sys_len < 0 || (sys_len && !sys))
    return guest_fail(-1, "bad chat arguments");
  text_buf b = {0};
  tok_vec ids = {0};
  int32_t rc = -1;
  int oom = 0;
  if (h->n_tokens == 0) {
    if (sys_mode == SYSTEM_DEFAULT && g_default_system.len)
      oom |= put_message(&b, "system", g_default_system.p, g_default_system.len);
    else if (sys_mode == SYSTEM_GIVEN && sys_len)
      oom |= put_message(&b, "system", sys, (size_t)sys_len);
  } else {
    const int32_t last = session_tokens(h)[h->n_tokens - 1];
    if (last != g_im_end) oom |= put(&b, "<|im_end|>", 10);
    oom |= put(&b, "\n", 1);
  }
  oom |= put_message(&b, "user", user, (size_t)user_len);
  oom |= put(&b, "<|im_start|>assistant\n", 22);
  if (oom || tok_encode(&g_tok, b.p, b.n, 1, &ids)) {
    guest_fail(-1, "out of memory while tokenizing");
    goto done;
  }
  rc = queue(h, ids.ids, ids.n);
done:
  free(b.p);
  tok_vec_free(&ids);
  return rc;
}

/* A turn; the first one starts with the template's default system prompt. */
EXPORT("smollm_chat") int32_t smollm_chat(int32_t slot, const uint8_t *user, int32_t user_len) {
  return chat(slot, user, user_len, SYSTEM_DEFAULT, NULL, 0);
}

/* A turn; the first one starts with system message sys (none when sys_len is 0). */
EXPORT("smollm_chat_system")
int32_t smollm_chat_system(int32_t slot, const uint8_t *user, int32_t user_len, const uint8_t *sys, int32_t sys_len) {
  return chat(slot, user, user_len, SYSTEM_GIVEN, sys, sys_len);
}

/* Evaluate every queued token (chunks of MODEL_MAX_BATCH); the logits of the
 * last one land in smollm_logits(). Returns the number evaluated. */
static int32_t evaluate(int32_t slot, session_header *h) {
  int32_t todo = h->n_tokens - h->n_past;
  if (todo <= 0) return guest_fail(-1, "nothing to evaluate: queue a turn or tokens first");
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
  if (h->n_tokens >= h->n_ctx) return guest_fail(-1, "context full (%d tokens)", h->n_ctx);
  if (h->n_past < h->n_tokens) {
    if (evaluate(slot, h) < 0) return -1;
  } else if (g_logits_slot != slot || g_logits_n_past != h->n_past) {
    return guest_fail(-1, "nothing to evaluate: queue a turn or tokens first");
  } else {
    h->last_eval = 0; /* sampling again from the logits of the last evaluation */
  }
  int32_t id = sampler_pick(g_model.logits, g_model.n_vocab, temperature, top_p, &h->rng);
  if (id < 0) return guest_fail(-1, "out of memory while sampling");
  session_tokens(h)[h->n_tokens++] = id;
  return id;
}

EXPORT("smollm_logits") float *smollm_logits(void) { return g_loaded ? g_model.logits : NULL; }

/* ---- tokenizer access ------------------------------------------------------------ */

/* Tokenize text; the ids are at smollm_result() until the next call. */
EXPORT("smollm_tokenize") int32_t smollm_tokenize(const uint8_t *text, int32_t len, int32_t parse_special) {
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  if (len < 0 || (len && !text)) return guest_fail(-1, "bad text");
  g_result.n = 0;
  if (tok_encode(&g_tok, text, (size_t)len, parse_special, &g_result)) return guest_fail(-1, "out of memory while tokenizing");
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
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  int32_t n = tok_decode(&g_tok, id, &p);
  return n < 0 ? guest_fail(-1, "token id %d is out of range", id) : n;
}
