/* See vocab.h. */
#include "vocab.h"

#include <string.h>

static int32_t token_id(const gg_file *f, const char *key, int32_t n_vocab) {
  uint32_t v;
  char scratch[8];
  if (!gg_find_kv(f, key) || gg_get_u32(f, key, &v, scratch, sizeof scratch)) return -1;
  return v < (uint32_t)n_vocab ? (int32_t)v : -1;
}

int vocab_build(vocab *v, const gg_file *f, char *err, size_t errlen) {
  memset(v, 0, sizeof *v);
  gg_str model;
  char shown[48];
  if (gg_get_str(f, "tokenizer.ggml.model", &model, err, errlen)) return -1;
  if (gg_str_eq(model, "gpt2")) {
    if (tok_build(&v->bpe, f, err, errlen)) return -1;
    v->kind = VOCAB_BPE;
    v->n_vocab = v->bpe.n_vocab;
  } else if (gg_str_eq(model, "llama")) {
    if (spm_build(&v->spm, f, err, errlen)) return -1;
    v->kind = VOCAB_SPM;
    v->n_vocab = v->spm.n_vocab;
    v->add_bos = 1; /* llama.cpp's default for SentencePiece vocabularies */
  } else {
    return gg_fail(err, errlen, "tokenizer: model '%s' is not supported ('gpt2' byte-level BPE, 'llama' SentencePiece)",
                   gg_printable(model, shown, sizeof shown));
  }
  const gg_kv *ab = gg_find_kv(f, "tokenizer.ggml.add_bos_token");
  if (ab && ab->type == GG_BOOL) v->add_bos = ab->val[0] != 0;
  v->bos = token_id(f, "tokenizer.ggml.bos_token_id", v->n_vocab);
  v->eos = token_id(f, "tokenizer.ggml.eos_token_id", v->n_vocab);
  if (v->add_bos && v->bos < 0) {
    vocab_free(v);
    return gg_fail(err, errlen, "tokenizer: add_bos_token is set but bos_token_id is missing or out of range");
  }
  return 0;
}

void vocab_free(vocab *v) {
  if (v->kind == VOCAB_BPE) tok_free(&v->bpe);
  if (v->kind == VOCAB_SPM) spm_free(&v->spm);
  memset(v, 0, sizeof *v);
}

int32_t vocab_find(const vocab *v, const char *s, size_t len) {
  return v->kind == VOCAB_BPE ? tok_find(&v->bpe, s, len) : spm_find(&v->spm, (const uint8_t *)s, len);
}

int vocab_encode(const vocab *v, const uint8_t *text, size_t len, int parse_special, tok_vec *out) {
  return v->kind == VOCAB_BPE ? tok_encode(&v->bpe, text, len, parse_special, out)
                              : spm_encode(&v->spm, text, len, parse_special, out);
}

int32_t vocab_decode(const vocab *v, int32_t id, const uint8_t **bytes) {
  return v->kind == VOCAB_BPE ? tok_decode(&v->bpe, id, bytes) : spm_decode(&v->spm, id, bytes);
}
