/* Exports of the generic GGUF decoder guest (reactor). Protocol with the host
 * (python/zerowasm/models/llm.py); errors, facts (info()) and alloc/free
 * follow guest/models/common/guest_api.h:
 *
 *   1. p = llm_big_alloc(size): a 64 KiB-aligned region; the host places the
 *      GGUF file's bytes there (read, or mmap'd over it), then
 *      llm_load(p, size) parses it in here: architecture and hyperparameters
 *      from the metadata, the tokenizer the file names, every weight bound in
 *      place. Anything unsupported fails here, with a message naming it.
 *   2. s = llm_session_new(n_ctx): a session slot with its own state region
 *      (header, token history, KV cache). llm_snapshot_size/_write copy the
 *      state out as one opaque, checksummed blob; llm_restore validates a
 *      blob completely before it changes anything (a corrupted or foreign
 *      snapshot is an error, the session stays as it was).
 *   3. llm_prompt(s, text) queues a completion prompt (bos first when the
 *      vocabulary adds one); llm_chat(s, user, system) queues a chat turn in
 *      the file's chat template; llm_next(s, temperature, top_p) evaluates
 *      every queued token and samples one, which is queued in turn.
 *
 * Chat templates are recognised by their markers, as llama.cpp does without
 * a Jinja engine: ChatML (<|im_start|>), Gemma (<start_of_turn>) and Llama 3
 * (<|start_header_id|>). A file without tokenizer.chat_template (a base
 * model) or with another template fails llm_chat with a message saying so. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bigmem.h"
#include "gguf.h"
#include "guest_api.h"
#include "llm_model.h"
#include "sampler.h"
#include "vocab.h"
#include "zerowasm.h"

#define EXPORT GUEST_EXPORT
#define LLM_MAX_SESSIONS 64
#define SESSION_MAGIC 0x534D4C4Cu /* "LLMS" */

typedef struct {
  uint32_t magic;
  int32_t n_ctx;     /* positions this region holds */
  int32_t n_past;    /* tokens whose K/V rows are in the cache */
  int32_t n_tokens;  /* tokens in the history; [n_past, n_tokens) are queued */
  int32_t last_eval; /* tokens the last evaluation processed */
  int32_t kv_offset;
  uint64_t rng; /* sampler state */
} session_header; /* then int32 tokens[n_ctx]; then KV at kv_offset */

typedef enum { CHAT_NONE, CHAT_UNKNOWN, CHAT_CHATML, CHAT_GEMMA, CHAT_LLAMA3 } chat_format;

static gg_file g_file;
static vocab g_vocab;
static llm_model g_model;
static int g_loaded, g_vocab_only;
static chat_format g_chat;
static int32_t g_eot = -1;      /* end of a chat turn (stops generation) */
static gg_str g_default_system; /* ChatML templates' literal default system prompt; len 0 if none */
static uint8_t *g_slots[LLM_MAX_SESSIONS];
static tok_vec g_result;
static int32_t g_logits_slot = -1, g_logits_n_past = -1;
static char g_arch_name[32];

EXPORT("llm_big_alloc") void *llm_big_alloc(int64_t size) {
  if (size <= 0 || (uint64_t)size > (uint64_t)UINT32_MAX - 2 * BIG_PAGE) {
    guest_fail(-1, "file size %lld is not possible in a 32-bit memory", (long long)size);
    return NULL;
  }
  void *p = big_alloc((size_t)size);
  if (!p) guest_fail(-1, "out of memory for a %lld-byte file", (long long)size);
  return p;
}

EXPORT("llm_big_free") void llm_big_free(void *p) { big_free(p); }

static int contains(gg_str s, const char *needle) {
  size_t n = strlen(needle);
  for (size_t i = 0; i + n <= s.len; i++)
    if (memcmp(s.p + i, needle, n) == 0) return 1;
  return 0;
}

/* The text between "<|im_start|>system\n" and "<|im_end|>" when it is a
 * literal of the template (SmolLM2's and Qwen2's default system prompts). */
static gg_str chatml_default_system(gg_str tmpl) {
  gg_str none = {0, 0};
  static const char open[] = "<|im_start|>system\n", close[] = "<|im_end|>";
  const size_t no = sizeof open - 1, nc = sizeof close - 1;
  for (size_t i = 0; i + no <= tmpl.len; i++) {
    if (memcmp(tmpl.p + i, open, no) != 0) continue;
    for (size_t j = i + no; j + nc <= tmpl.len; j++) {
      if (tmpl.p[j] == '\'' || tmpl.p[j] == '{') return none; /* not a literal: template logic */
      if (memcmp(tmpl.p + j, close, nc) == 0) return (gg_str){tmpl.p + i + no, (uint32_t)(j - i - no)};
    }
  }
  return none;
}

static void detect_chat(void) {
  gg_str tmpl;
  char scratch[8];
  g_chat = CHAT_NONE;
  g_default_system = (gg_str){0, 0};
  g_eot = -1;
  if (!gg_find_kv(&g_file, "tokenizer.chat_template") ||
      gg_get_str(&g_file, "tokenizer.chat_template", &tmpl, scratch, sizeof scratch))
    return;
  g_chat = CHAT_UNKNOWN;
  const char *end = NULL;
  if (contains(tmpl, "<|im_start|>")) {
    g_chat = CHAT_CHATML, end = "<|im_end|>";
    g_default_system = chatml_default_system(tmpl);
  } else if (contains(tmpl, "<start_of_turn>")) {
    g_chat = CHAT_GEMMA, end = "<end_of_turn>";
  } else if (contains(tmpl, "<|start_header_id|>")) {
    g_chat = CHAT_LLAMA3, end = "<|eot_id|>";
  }
  if (end) {
    g_eot = vocab_find(&g_vocab, end, strlen(end));
    if (g_eot < 0) g_chat = CHAT_UNKNOWN; /* the template's marker is no token of this vocabulary */
  }
}

static void unload(void) {
  for (int i = 0; i < LLM_MAX_SESSIONS; i++) {
    big_free(g_slots[i]);
    g_slots[i] = NULL;
  }
  llm_model_free(&g_model);
  vocab_free(&g_vocab);
  gg_free(&g_file);
  g_loaded = 0;
  g_logits_slot = -1;
}

/* vocab_only: the tokenizer alone (no weights bound, no sessions), as
 * llama.cpp's vocab_only: for tokenizing with any file whatever its tensors. */
EXPORT("llm_load") int32_t llm_load(const uint8_t *data, int64_t size, int32_t vocab_only) {
  unload();
  if (!data || size <= 0) return guest_fail(-1, "no file image");
  if (gg_parse(&g_file, data, (uint64_t)size, guest_error_buffer(), GUEST_ERROR_CAP)) return -1;
  if (!vocab_only && llm_model_load(&g_model, &g_file, guest_error_buffer(), GUEST_ERROR_CAP)) goto bad;
  if (vocab_build(&g_vocab, &g_file, guest_error_buffer(), GUEST_ERROR_CAP)) goto bad;
  g_vocab_only = vocab_only != 0;
  if (!g_vocab_only && g_vocab.n_vocab != g_model.n_vocab) {
    guest_fail(-1, "tokenizer has %d tokens but token_embd has %d rows", g_vocab.n_vocab, g_model.n_vocab);
    goto bad;
  }
  gg_str arch;
  if (gg_get_str(&g_file, "general.architecture", &arch, NULL, 0)) arch = (gg_str){(const uint8_t *)"?", 1};
  gg_printable(arch, g_arch_name, sizeof g_arch_name);
  detect_chat();
  if (size <= INT32_MAX) { /* weights are only read from now on */
    zw_advise(data, (int32_t)size, ZW_ADVISE_READ_MOSTLY);
    zw_prefetch(data, (int32_t)size, ZW_DEVICE);
  }
  g_loaded = 1;
  return 0;
bad:
  unload();
  return -1;
}

EXPORT("llm_arch") const char *llm_arch_name(void) { return g_loaded ? g_arch_name : NULL; }

void guest_describe(guest_facts *out) {
  guest_fact(out, "max_batch", LLM_MAX_BATCH);
  guest_fact(out, "max_sessions", LLM_MAX_SESSIONS);
  if (!g_loaded) return;
  guest_fact(out, "vocab_only", g_vocab_only);
  guest_fact(out, "n_layer", g_model.n_layer);
  guest_fact(out, "d_model", g_model.d_model);
  guest_fact(out, "n_head", g_model.n_head);
  guest_fact(out, "n_kv_head", g_model.n_kv_head);
  guest_fact(out, "head_dim", g_model.head_dim);
  guest_fact(out, "d_ff", g_model.d_ff);
  guest_fact(out, "n_vocab", g_vocab.n_vocab);
  guest_fact(out, "n_ctx_train", g_model.n_ctx_train);
  guest_fact(out, "kv_dim", g_model.kv_dim);
  guest_fact(out, "bos", g_vocab.bos);
  guest_fact(out, "eos", g_vocab.eos);
  guest_fact(out, "eot", g_eot);
  guest_fact(out, "add_bos", g_vocab.add_bos);
  guest_fact(out, "tokenizer_spm", g_vocab.kind == VOCAB_SPM);
  guest_fact(out, "has_chat_template", g_chat != CHAT_NONE);
  guest_fact(out, "chat_supported", g_chat >= CHAT_CHATML);
}

/* ---- sessions ----------------------------------------------------------------- */

static session_header *session(int32_t slot) {
  if (!g_loaded) {
    guest_fail(-1, "no model loaded");
    return NULL;
  }
  if (slot < 0 || slot >= LLM_MAX_SESSIONS || !g_slots[slot]) {
    guest_fail(-1, "session %d does not exist", slot);
    return NULL;
  }
  return (session_header *)g_slots[slot];
}

static int32_t *session_tokens(session_header *h) { return (int32_t *)(h + 1); }
static llm_kv *session_kv(session_header *h) { return (llm_kv *)((uint8_t *)h + h->kv_offset); }

EXPORT("llm_session_new") int32_t llm_session_new(int32_t n_ctx) {
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  if (g_vocab_only) return guest_fail(-1, "the model was loaded vocab-only: no sessions");
  if (n_ctx < 1 || n_ctx > g_model.n_ctx_train)
    return guest_fail(-1, "n_ctx %d is outside [1, %d] (the model's context length)", n_ctx, g_model.n_ctx_train);
  int32_t slot = -1;
  for (int32_t i = 0; i < LLM_MAX_SESSIONS && slot < 0; i++)
    if (!g_slots[i]) slot = i;
  if (slot < 0) return guest_fail(-1, "all %d session slots are in use", LLM_MAX_SESSIONS);
  uint64_t kv_offset = (sizeof(session_header) + 4u * (uint64_t)n_ctx + 63u) & ~(uint64_t)63u;
  uint64_t kv_bytes = llm_kv_bytes(&g_model, n_ctx);
  if (!kv_bytes || kv_bytes > UINT32_MAX - kv_offset) return guest_fail(-1, "a %d-token cache does not fit in memory", n_ctx);
  uint64_t bytes = kv_offset + kv_bytes;
  uint8_t *region = big_alloc((size_t)bytes);
  if (!region) return guest_fail(-1, "out of memory for a %d-token session (%llu bytes)", n_ctx, (unsigned long long)bytes);
  memset(region, 0, (size_t)kv_offset);
  session_header *h = (session_header *)region;
  h->magic = SESSION_MAGIC;
  h->n_ctx = n_ctx;
  h->kv_offset = (int32_t)kv_offset;
  h->rng = 0x5EED5EED5EED5EEDull;
  g_slots[slot] = region;
  if (bytes <= INT32_MAX) zw_prefetch(region, (int32_t)bytes, ZW_DEVICE);
  if (g_logits_slot == slot) g_logits_slot = -1;
  return slot;
}

EXPORT("llm_session_free") int32_t llm_session_free(int32_t slot) {
  if (!session(slot)) return -1;
  big_free(g_slots[slot]);
  g_slots[slot] = NULL;
  if (g_logits_slot == slot) g_logits_slot = -1;
  return 0;
}

EXPORT("llm_session_reset") int32_t llm_session_reset(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  h->n_past = h->n_tokens = h->last_eval = 0;
  if (g_logits_slot == slot) g_logits_slot = -1;
  return 0;
}

EXPORT("llm_session_seed") int32_t llm_session_seed(int32_t slot, int64_t seed) {
  session_header *h = session(slot);
  if (!h) return -1;
  h->rng = (uint64_t)seed;
  return 0;
}

EXPORT("llm_session_n_past") int32_t llm_session_n_past(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->n_past : -1;
}

EXPORT("llm_session_n_tokens") int32_t llm_session_n_tokens(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->n_tokens : -1;
}

EXPORT("llm_session_last_eval") int32_t llm_session_last_eval(int32_t slot) {
  session_header *h = session(slot);
  return h ? h->last_eval : -1;
}

EXPORT("llm_session_tokens") const int32_t *llm_session_tokens(int32_t slot) {
  session_header *h = session(slot);
  return h ? session_tokens(h) : NULL;
}

/* ---- snapshots ------------------------------------------------------------------ */

#define SNAPSHOT_MAGIC 0x4E534D4Cu /* "LMSN" */
#define SNAPSHOT_VERSION 2u /* 2: the KV rows are f16 (1 held f32) */

/* A snapshot: this header, then int32 tokens[n_tokens], then for each layer
 * its K rows and its V rows [n_past][kv_dim] (llm_kv: f16). The checksum covers every
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

/* Bytes of a snapshot of n_tokens tokens, n_past of them cached (0 when it
 * would not fit in an int32). */
static uint64_t snapshot_bytes(int32_t n_past, int32_t n_tokens) {
  uint64_t kv = (uint64_t)g_model.n_layer * 2u * (uint64_t)n_past * (uint64_t)g_model.kv_dim * sizeof(llm_kv);
  uint64_t total = sizeof(snapshot_header) + 4u * (uint64_t)n_tokens + kv;
  return total <= INT32_MAX ? total : 0;
}

/* [ptr, ptr+len) must lie in linear memory: checked before any access. */
static int in_memory(const void *ptr, int32_t len) {
  uint64_t end = (uint64_t)(uintptr_t)ptr + (uint64_t)(len < 0 ? 0 : len);
  return ptr && len >= 0 && end <= (uint64_t)__builtin_wasm_memory_size(0) * 65536u;
}

EXPORT("llm_snapshot_size") int32_t llm_snapshot_size(int32_t slot) {
  session_header *h = session(slot);
  if (!h) return -1;
  uint64_t total = snapshot_bytes(h->n_past, h->n_tokens);
  return total ? (int32_t)total : guest_fail(-1, "session %d: its snapshot would exceed 2 GiB", slot);
}

/* Write session slot's state (positions, sampler, token history, the used KV
 * rows) to [out, out+cap) as one checksummed blob; returns its size. */
EXPORT("llm_snapshot_write") int32_t llm_snapshot_write(int32_t slot, uint8_t *out, int32_t cap) {
  session_header *h = session(slot);
  if (!h) return -1;
  uint64_t total = snapshot_bytes(h->n_past, h->n_tokens);
  if (!total) return guest_fail(-1, "session %d: its snapshot would exceed 2 GiB", slot);
  if (!in_memory(out, cap) || (uint64_t)cap < total)
    return guest_fail(-1, "snapshot buffer [%u, +%d) is not %llu bytes of memory", (unsigned)(uintptr_t)out, cap,
                      (unsigned long long)total);
  snapshot_header sh = {SNAPSHOT_MAGIC, SNAPSHOT_VERSION, sizeof(snapshot_header), (uint32_t)total,
                        h->n_ctx, h->n_past, h->n_tokens, h->last_eval,
                        g_model.n_layer, g_model.kv_dim, g_model.n_vocab, 0, h->rng, 0};
  uint8_t *at = out + sizeof sh;
  memcpy(at, session_tokens(h), 4u * (size_t)h->n_tokens);
  at += 4u * (size_t)h->n_tokens;
  const size_t plane = (size_t)h->n_ctx * (size_t)g_model.kv_dim;
  const size_t rows = (size_t)h->n_past * (size_t)g_model.kv_dim * sizeof(llm_kv);
  const llm_kv *kv = session_kv(h);
  for (int32_t p = 0; p < 2 * g_model.n_layer; p++, at += rows) memcpy(at, kv + (size_t)p * plane, rows);
  memcpy(out, &sh, sizeof sh);
  sh.checksum = snapshot_checksum(out, total);
  memcpy(out, &sh, sizeof sh);
  return (int32_t)total;
}

/* Replace session slot's state by the snapshot at [blob, blob+len). Checks
 * everything first: on any failure the session is unchanged. */
EXPORT("llm_restore") int32_t llm_restore(int32_t slot, const uint8_t *blob, int32_t len) {
  session_header *h = session(slot);
  if (!h) return -1;
  snapshot_header sh;
  if (!in_memory(blob, len)) return guest_fail(-1, "snapshot [%u, +%d) lies outside memory", (unsigned)(uintptr_t)blob, len);
  if ((size_t)len < sizeof sh) return guest_fail(-1, "a %d-byte snapshot is shorter than its header", len);
  memcpy(&sh, blob, sizeof sh);
  if (sh.magic != SNAPSHOT_MAGIC || sh.header_bytes != sizeof sh)
    return guest_fail(-1, "not a session snapshot of this guest (bad magic)");
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
  if (snapshot_bytes(sh.n_past, sh.n_tokens) != (uint64_t)len)
    return guest_fail(-1, "snapshot size disagrees with its positions");
  const uint8_t *at = blob + sizeof sh;
  for (int32_t i = 0; i < sh.n_tokens; i++) {
    int32_t id;
    memcpy(&id, at + 4u * (size_t)i, 4);
    if (id < 0 || id >= g_model.n_vocab) return guest_fail(-1, "snapshot token %d (id %d) is out of range", i, id);
  }
  memmove(session_tokens(h), at, 4u * (size_t)sh.n_tokens);
  at += 4u * (size_t)sh.n_tokens;
  const size_t plane = (size_t)h->n_ctx * (size_t)g_model.kv_dim;
  const size_t rows = (size_t)sh.n_past * (size_t)g_model.kv_dim * sizeof(llm_kv);
  llm_kv *kv = session_kv(h);
  for (int32_t p = 0; p < 2 * g_model.n_layer; p++, at += rows) memmove(kv + (size_t)p * plane, at, rows);
  h->n_past = sh.n_past;
  h->n_tokens = sh.n_tokens;
  h->last_eval = sh.last_eval;
  h->rng = sh.rng;
  if (g_logits_slot == slot) g_logits_slot = -1; /* the logits belong to the replaced state */
  return 0;
}

static int32_t queue(session_header *h, const int32_t *ids, int32_t n) {
  if (n > h->n_ctx - h->n_tokens)
    return guest_fail(-1, "context full: %d tokens queued after %d would exceed n_ctx %d", n, h->n_tokens, h->n_ctx);
  for (int32_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= g_model.n_vocab) return guest_fail(-1, "token id %d is out of range", ids[i]);
  memcpy(session_tokens(h) + h->n_tokens, ids, (size_t)n * sizeof(int32_t));
  h->n_tokens += n;
  return n;
}

EXPORT("llm_feed") int32_t llm_feed(int32_t slot, const int32_t *ids, int32_t n) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (n < 0 || (n > 0 && !ids)) return guest_fail(-1, "bad token list");
  return queue(h, ids, n);
}

/* A completion prompt: bos first (on an empty session, when the vocabulary
 * adds one), then the text's tokens (special tokens parsed when asked). */
EXPORT("llm_prompt") int32_t llm_prompt(int32_t slot, const uint8_t *text, int32_t len, int32_t parse_special) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (len < 0 || (len && !text)) return guest_fail(-1, "bad text");
  tok_vec ids = {0};
  int32_t rc = -1;
  if ((h->n_tokens == 0 && g_vocab.add_bos && tok_vec_push(&ids, g_vocab.bos)) ||
      vocab_encode(&g_vocab, text, (size_t)len, parse_special, &ids)) {
    guest_fail(-1, "out of memory while tokenizing");
  } else {
    rc = queue(h, ids.ids, ids.n);
  }
  tok_vec_free(&ids);
  return rc;
}

typedef struct {
  uint8_t *p;
  size_t n, cap;
  int oom;
} text_buf;

static void put(text_buf *b, const void *s, size_t n) {
  if (b->oom || !n) return;
  if (n > b->cap - b->n) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->n < n) {
      if (cap > SIZE_MAX / 2) { b->oom = 1; return; }
      cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void puts_(text_buf *b, const char *s) { put(b, s, strlen(s)); }

/* One user turn in the file's chat template, rendered as the template does
 * for a whole conversation, then tokenized with special tokens parsed (as
 * llama.cpp and HF's apply_chat_template + tokenizer do). A later turn first
 * closes the previous answer unless it already ended with the end-of-turn
 * token. system: used on the first turn only; sys_mode 0 = the template's
 * default (ChatML literals), 1 = the given text (empty: none). */
EXPORT("llm_chat")
int32_t llm_chat(int32_t slot, const uint8_t *user, int32_t user_len, const uint8_t *sys, int32_t sys_len,
                 int32_t sys_mode) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (g_chat == CHAT_NONE)
    return guest_fail(-2, "this model has no chat template (tokenizer.chat_template): it is a base model, use completion");
  if (g_chat == CHAT_UNKNOWN)
    return guest_fail(-2, "the model's chat template is not one this guest renders (ChatML, Gemma, Llama 3)");
  if (user_len < 0 || (user_len && !user) || sys_len < 0 || (sys_len && !sys)) return guest_fail(-1, "bad chat arguments");
  if (sys_mode == 0 && g_chat == CHAT_CHATML) sys = g_default_system.p, sys_len = (int32_t)g_default_system.len;
  else if (sys_mode == 0) sys_len = 0;
  int first = h->n_tokens == 0;
  text_buf b = {0};
  tok_vec ids = {0};
  if (!first && session_tokens(h)[h->n_tokens - 1] != g_eot) {
    const uint8_t *p;
    int32_t n = vocab_decode(&g_vocab, g_eot, &p);
    put(&b, p, (size_t)n);
  }
  if (g_chat == CHAT_CHATML) {
    if (!first) puts_(&b, "\n");
    if (first && sys_len) {
      puts_(&b, "<|im_start|>system\n");
      put(&b, sys, (size_t)sys_len);
      puts_(&b, "<|im_end|>\n");
    }
    puts_(&b, "<|im_start|>user\n");
    put(&b, user, (size_t)user_len);
    puts_(&b, "<|im_end|>\n<|im_start|>assistant\n");
  } else if (g_chat == CHAT_GEMMA) { /* Gemma folds the system prompt into the first user turn */
    if (!first) puts_(&b, "\n");
    puts_(&b, "<start_of_turn>user\n");
    if (first && sys_len) {
      put(&b, sys, (size_t)sys_len);
      puts_(&b, "\n\n");
    }
    put(&b, user, (size_t)user_len);
    puts_(&b, "<end_of_turn>\n<start_of_turn>model\n");
  } else { /* CHAT_LLAMA3 */
    if (first && sys_len) {
      puts_(&b, "<|start_header_id|>system<|end_header_id|>\n\n");
      put(&b, sys, (size_t)sys_len);
      puts_(&b, "<|eot_id|>");
    }
    puts_(&b, "<|start_header_id|>user<|end_header_id|>\n\n");
    put(&b, user, (size_t)user_len);
    puts_(&b, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  }
  int32_t rc = -1;
  int bos = first && g_chat != CHAT_CHATML && g_vocab.bos >= 0; /* Gemma and Llama 3 templates start with bos */
  if (b.oom || (bos && tok_vec_push(&ids, g_vocab.bos)) || vocab_encode(&g_vocab, b.p, b.n, 1, &ids))
    guest_fail(-1, "out of memory while tokenizing");
  else
    rc = queue(h, ids.ids, ids.n);
  free(b.p);
  tok_vec_free(&ids);
  return rc;
}

static int32_t evaluate(int32_t slot, session_header *h) {
  int32_t todo = h->n_tokens - h->n_past;
  if (todo <= 0) return guest_fail(-1, "nothing to evaluate: queue a prompt or tokens first");
  const int32_t *toks = session_tokens(h);
  llm_kv *kv = session_kv(h);
  while (h->n_past < h->n_tokens) {
    int32_t n = h->n_tokens - h->n_past;
    if (n > LLM_MAX_BATCH) n = LLM_MAX_BATCH;
    llm_forward(&g_model, toks + h->n_past, n, h->n_past, kv, h->n_ctx, h->n_past + n == h->n_tokens);
    h->n_past += n;
  }
  zw_sync();
  h->last_eval = todo;
  g_logits_slot = slot;
  g_logits_n_past = h->n_past;
  return todo;
}

EXPORT("llm_eval") int32_t llm_eval(int32_t slot) {
  session_header *h = session(slot);
  return h ? evaluate(slot, h) : -1;
}

/* Evaluate what is queued, sample the next token and queue it. With nothing
 * queued, samples again from this session's last logits. Returns the id. */
EXPORT("llm_next") int32_t llm_next(int32_t slot, float temperature, float top_p) {
  session_header *h = session(slot);
  if (!h) return -1;
  if (h->n_tokens >= h->n_ctx) return guest_fail(-1, "context full (%d tokens)", h->n_ctx);
  if (h->n_past < h->n_tokens) {
    if (evaluate(slot, h) < 0) return -1;
  } else if (g_logits_slot != slot || g_logits_n_past != h->n_past) {
    return guest_fail(-1, "nothing to evaluate: queue a prompt or tokens first");
  } else {
    h->last_eval = 0;
  }
  int32_t id = sampler_pick(g_model.logits, g_model.n_vocab, temperature, top_p, &h->rng);
  if (id < 0) return guest_fail(-1, "out of memory while sampling");
  session_tokens(h)[h->n_tokens++] = id;
  return id;
}

EXPORT("llm_logits") float *llm_logits(void) { return g_loaded ? g_model.logits : NULL; }

EXPORT("llm_tokenize") int32_t llm_tokenize(const uint8_t *text, int32_t len, int32_t parse_special) {
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  if (len < 0 || (len && !text)) return guest_fail(-1, "bad text");
  g_result.n = 0;
  if (vocab_encode(&g_vocab, text, (size_t)len, parse_special, &g_result)) return guest_fail(-1, "out of memory while tokenizing");
  return g_result.n;
}

EXPORT("llm_result") int32_t *llm_result(void) { return g_result.ids; }

EXPORT("llm_token_ptr") const uint8_t *llm_token_ptr(int32_t id) {
  const uint8_t *p;
  if (!g_loaded || vocab_decode(&g_vocab, id, &p) < 0) return NULL;
  return p;
}

EXPORT("llm_token_len") int32_t llm_token_len(int32_t id) {
  const uint8_t *p;
  if (!g_loaded) return guest_fail(-1, "no model loaded");
  int32_t n = vocab_decode(&g_vocab, id, &p);
  return n < 0 ? guest_fail(-1, "token id %d is out of range", id) : n;
}
