/* Exports of the MiniLM guest (reactor module). Protocol with the host
 * (python/zerowasm/models/minilm.py); errors, facts (info()) and alloc/free
 * follow guest/models/common/guest_api.h:
 *
 *   1. weights() lists the slots: "name rows [cols]" lines in slot order. For
 *      each slot: the host reads the tensor straight into an alloc'd block
 *      [p, p+nbytes) and binds it with set_weight(slot, p, nbytes)
 *   2. p = alloc(len); host writes vocab.txt there; load_vocab(p, len)
 *   3. finalize()
 *   4. per batch: host writes the UTF-8 texts back to back at `texts` and n+1
 *      int32 byte offsets at `offsets`; embed(texts, offsets, n, out) fills
 *      out[n, hidden]; tokenize(...) returns the token ids instead.
 *
 * Every entry point returns a negative code with a message in last_error()
 * on bad input instead of trapping, and leaves the instance usable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bert.h"
#include "guest_api.h"
#include "tokenizer.h"

#define EXPORT GUEST_EXPORT
#define MAX_TEXTS (1 << 20) /* per call */

enum {
  ERR_ARGS = -100,      /* bad count, range or offsets */
  ERR_NOT_READY = -101, /* weights or vocab missing */
  ERR_NO_MEMORY = -102,
  ERR_VOCAB = -103, /* vocab size differs from the embedding table */
};

void guest_describe(guest_facts *out) {
  guest_fact(out, "hidden", BERT_HIDDEN);
  guest_fact(out, "layers", BERT_LAYERS);
  guest_fact(out, "heads", BERT_HEADS);
  guest_fact(out, "ffn", BERT_FFN);
  guest_fact(out, "vocab", BERT_VOCAB);
  guest_fact(out, "max_tokens", BERT_MAX_TOKENS);
  guest_fact(out, "max_texts", MAX_TEXTS);
  guest_fact(out, "weight_count", W_COUNT);
}

static int32_t finalized;
static int32_t *id_buf, *len_buf;
static int32_t id_cap, len_cap;

/* "name rows [cols]\n" per weight slot, in slot order (NUL-terminated). */
EXPORT("weights") const char *weights(void) {
  static char text[W_COUNT * 64];
  size_t len = 0;
  for (int32_t slot = 0; slot < W_COUNT; slot++) {
    char name[56];
    int32_t rows, cols;
    if (bert_weight_name(slot, name, sizeof name) || bert_weight_shape(slot, &rows, &cols)) {
      guest_fail(ERR_ARGS, "weight slot %d has no name or shape", slot);
      return NULL;
    }
    int n = cols ? snprintf(text + len, sizeof text - len, "%s %d %d\n", name, rows, cols)
                 : snprintf(text + len, sizeof text - len, "%s %d\n", name, rows);
    if (n < 0 || (size_t)n >= sizeof text - len) {
      guest_fail(ERR_NO_MEMORY, "weight list does not fit its buffer");
      return NULL;
    }
    len += (size_t)n;
  }
  return text;
}

EXPORT("set_weight") int32_t set_weight(int32_t slot, const float *p, int32_t nbytes) {
  int32_t rc = bert_set_weight(slot, p, nbytes);
  if (rc == -1) return guest_fail(ERR_ARGS, "set_weight: no weight slot %d", slot);
  if (rc == -2)
    return guest_fail(ERR_ARGS, "set_weight: slot %d takes %d bytes, got %d", slot, 4 * bert_weight_numel(slot), nbytes);
  if (rc) return guest_fail(ERR_ARGS, "set_weight: slot %d data at %u is not 4-byte aligned", slot, (unsigned)(uintptr_t)p);
  return 0;
}

EXPORT("load_vocab") int32_t load_vocab(const char *text, int32_t len) {
  int32_t n = tok_load_vocab(text, len);
  if (n == -2) return guest_fail(ERR_NO_MEMORY, "load_vocab: out of memory for the vocabulary index");
  if (n < 0) return guest_fail(ERR_VOCAB, "load_vocab: not a BERT vocabulary (one token per line, with [UNK], [CLS], [SEP])");
  return n;
}

EXPORT("finalize") int32_t finalize(void) {
  if (!bert_ready()) return guest_fail(ERR_NOT_READY, "finalize: not every weight slot is bound");
  if (tok_vocab_size() == 0) return guest_fail(ERR_NOT_READY, "finalize: no vocabulary loaded");
  if (tok_vocab_size() != BERT_VOCAB)
    return guest_fail(ERR_VOCAB, "finalize: the vocabulary has %d tokens, the embedding table %d", tok_vocab_size(),
                      BERT_VOCAB);
  if (!finalized) bert_place_weights();
  finalized = 1;
  return 0;
}

static int32_t check_texts(const int32_t *offsets, int32_t n) {
  if (n <= 0 || n > MAX_TEXTS || !offsets) return guest_fail(ERR_ARGS, "text count %d is outside [1, %d]", n, MAX_TEXTS);
  if (offsets[0] < 0) return guest_fail(ERR_ARGS, "text offset 0 is negative (%d)", offsets[0]);
  for (int32_t i = 0; i < n; i++)
    if (offsets[i + 1] < offsets[i])
      return guest_fail(ERR_ARGS, "text offsets decrease at %d (%d after %d)", i + 1, offsets[i + 1], offsets[i]);
  return 0;
}

static int32_t grow(int32_t **buf, int32_t *cap, int32_t need) {
  if (need <= *cap) return 0;
  free(*buf);
  *buf = malloc(sizeof(int32_t) * (size_t)need);
  *cap = *buf ? need : 0;
  return *buf ? 0 : guest_fail(ERR_NO_MEMORY, "out of memory for %d token ids", need);
}

/* Tokenize n texts into the packed id_buf / len_buf; returns the total tokens. */
static int32_t encode_all(const char *texts, const int32_t *offsets, int32_t n, int32_t limit) {
  int32_t rc = check_texts(offsets, n);
  if (rc) return rc;
  if (tok_vocab_size() == 0) return guest_fail(ERR_NOT_READY, "no vocabulary loaded");
  if (limit < 2 || limit > BERT_MAX_TOKENS)
    return guest_fail(ERR_ARGS, "token limit %d is outside [2, %d]", limit, BERT_MAX_TOKENS);
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
  if (!finalized) return guest_fail(ERR_NOT_READY, "embed: call finalize() first");
  int32_t total = encode_all(texts, offsets, n, BERT_MAX_TOKENS);
  if (total < 0) return total;
  for (int32_t done = 0, at = 0; done < n;) {
    int32_t count = 0, tokens = 0;
    while (done + count < n && (count == 0 || tokens + len_buf[done + count] <= TOKENS_PER_PASS))
      tokens += len_buf[done + count++];
    int32_t rc = bert_embed(id_buf + at, len_buf + done, count, out + (size_t)done * BERT_HIDDEN);
    if (rc == -5) return guest_fail(ERR_NO_MEMORY, "embed: out of memory for %d tokens of activations", tokens);
    if (rc) return guest_fail(ERR_ARGS, "embed: the encoder rejected its input (error %d)", rc);
    done += count;
    at += tokens;
  }
  return total;
}
