/* Exports of the MiniLM guest (reactor module). Protocol with the host
 * (python/zerowasm/models/minilm.py):
 *
 *   1. for each weight slot: p = alloc(nbytes); host reads the tensor straight
 *      into [p, p+nbytes); set_weight(slot, p, nbytes)
 *   2. p = alloc(len); host writes vocab.txt there; load_vocab(p, len)
 *   3. finalize()
 *   4. per batch: host writes the UTF-8 texts back to back at `texts` and n+1
 *      int32 byte offsets at `offsets`; embed(texts, offsets, n, out) fills
 *      out[n, 384]; tokenize(...) returns the token ids instead.
 *
 * Every entry point returns a negative code on bad input (see minilm.py's
 * _ERRORS) instead of trapping, and leaves the instance usable. */
#include <stdint.h>
#include <stdlib.h>

#include "bert.h"
#include "tokenizer.h"

#define EXPORT(name) __attribute__((export_name(name)))

enum {
  ERR_ARGS = -100,      /* bad count, range or offsets */
  ERR_NOT_READY = -101, /* weights or vocab missing */
  ERR_NO_MEMORY = -102,
  ERR_VOCAB = -103, /* vocab size differs from the embedding table */
};

static int32_t finalized;
static int32_t *id_buf, *len_buf;
static int32_t id_cap, len_cap;

EXPORT("alloc") void *guest_alloc(int32_t size) {
  if (size <= 0) return 0;
  return aligned_alloc(64, ((size_t)size + 63) & ~(size_t)63);
}

EXPORT("dealloc") void guest_dealloc(void *p) { free(p); }

EXPORT("weight_count") int32_t weight_count(void) { return W_COUNT; }
EXPORT("weight_numel") int32_t weight_numel(int32_t slot) { return bert_weight_numel(slot); }
EXPORT("hidden_size") int32_t hidden_size(void) { return BERT_HIDDEN; }
EXPORT("max_tokens") int32_t max_tokens(void) { return BERT_MAX_TOKENS; }

EXPORT("set_weight") int32_t set_weight(int32_t slot, const float *p, int32_t nbytes) {
  int32_t rc = bert_set_weight(slot, p, nbytes);
  return rc ? ERR_ARGS : 0;
}

EXPORT("load_vocab") int32_t load_vocab(const char *text, int32_t len) {
  int32_t n = tok_load_vocab(text, len);
  if (n == -2) return ERR_NO_MEMORY;
  return n < 0 ? ERR_VOCAB : n;
}

EXPORT("finalize") int32_t finalize(void) {
  if (!bert_ready() || tok_vocab_size() == 0) return ERR_NOT_READY;
  if (tok_vocab_size() != BERT_VOCAB) return ERR_VOCAB;
  if (!finalized) bert_place_weights();
  finalized = 1;
  return 0;
}

static int32_t check_texts(const int32_t *offsets, int32_t n) {
  if (n <= 0 || n > (1 << 20) || !offsets) return ERR_ARGS;
  if (offsets[0] < 0) return ERR_ARGS;
  for (int32_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i]) return ERR_ARGS;
  return 0;
}

static int32_t grow(int32_t **buf, int32_t *cap, int32_t need) {
  if (need <= *cap) return 0;
  free(*buf);
  *buf = malloc(sizeof(int32_t) * (size_t)need);
  *cap = *buf ? need : 0;
  return *buf ? 0 : ERR_NO_MEMORY;
}

/* Tokenize n texts into the packed id_buf / len_buf; returns the total tokens. */
static int32_t encode_all(const char *texts, const int32_t *offsets, int32_t n, int32_t limit) {
  int32_t rc = check_texts(offsets, n);
  if (rc) return rc;
  if (tok_vocab_size() == 0) return ERR_NOT_READY;
  if (limit < 2 || limit > BERT_MAX_TOKENS) return ERR_ARGS;
  if (grow(&id_buf, &id_cap, n * limit) || grow(&len_buf, &len_cap, n)) return ERR_NO_MEMORY;
  int32_t total = 0;
  for (int32_t i = 0; i < n; i++) {
    len_buf[i] = tok_encode(texts + offsets[i], offsets[i + 1] - offsets[i], id_buf + total, limit);
    total += len_buf[i];
  }
  return total;
}

/* ids: capacity n * limit int32; lens: n int32. Returns the total token count. */
EXPORT("tokenize")
int32_t tokenize(const char *texts, const int32_t *offsets, int32_t n, int32_t limit, int32_t *ids,
                 int32_t *lens) {
  int32_t total = encode_all(texts, offsets, n, limit);
  if (total < 0) return total;
  for (int32_t i = 0; i < total; i++) ids[i] = id_buf[i];
  for (int32_t i = 0; i < n; i++) lens[i] = len_buf[i];
  return total;
}

/* Tokens per forward pass: bounds the activations (~15 KB per token) whatever
 * the batch size; 32 texts of the maximum length fit in one pass. Sequences
 * never interact, so the split does not change any result. */
#define TOKENS_PER_PASS (32 * BERT_MAX_TOKENS)

/* out: n * 384 f32. Returns the number of tokens encoded. */
EXPORT("embed")
int32_t embed(const char *texts, const int32_t *offsets, int32_t n, float *out) {
  if (!finalized) return ERR_NOT_READY;
  int32_t total = encode_all(texts, offsets, n, BERT_MAX_TOKENS);
  if (total < 0) return total;
  for (int32_t done = 0, at = 0; done < n;) {
    int32_t count = 0, tokens = 0;
    while (done + count < n && (count == 0 || tokens + len_buf[done + count] <= TOKENS_PER_PASS))
      tokens += len_buf[done + count++];
    int32_t rc = bert_embed(id_buf + at, len_buf + done, count, out + (size_t)done * BERT_HIDDEN);
    if (rc == -5) return ERR_NO_MEMORY;
    if (rc) return ERR_ARGS;
    done += count;
    at += tokens;
  }
  return total;
}
