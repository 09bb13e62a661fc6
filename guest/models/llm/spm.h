/* SentencePiece-style tokenizer (GGUF tokenizer.ggml.model = "llama": Llama 2,
 * Mistral, Gemma), built from the file's tokens, scores and token types, and
 * encoding exactly as llama.cpp does:
 *   1. special tokens are split out first (longest token first over the whole
 *      text; control tokens only when asked, user-defined ones always);
 *   2. each remaining fragment gets " " in front when add_space_prefix is set
 *      and it starts the text or follows a special token, then every space
 *      becomes U+2581;
 *   3. the fragment's UTF-8 characters are merged pairwise, highest-scoring
 *      vocabulary entry first (leftmost on ties), while the pair is a token;
 *   4. a symbol that is no token becomes its bytes' <0xXX> tokens.
 * Token strings and scores stay in the file image. */
#ifndef LLM_SPM_H
#define LLM_SPM_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "tokenizer.h" /* tok_vec */

typedef struct {
  int32_t n_vocab;
  gg_str *tok;
  const uint8_t *scores; /* f32[n_vocab], unaligned */
  const uint8_t *types;  /* i32[n_vocab], unaligned */
  uint32_t *slots;       /* open addressing, id + 1 (0 = empty) */
  uint32_t mask;
  int32_t byte_token[256];
  int32_t *special; /* control / user-defined / unknown tokens, longest first */
  int32_t n_special;
  int add_space_prefix;
  uint32_t *dec_off; /* decoded bytes of token i: dec[dec_off[i] .. dec_off[i+1]) */
  uint8_t *dec;
} spm_tokenizer;

int spm_build(spm_tokenizer *t, const gg_file *f, char *err, size_t errlen);
void spm_free(spm_tokenizer *t);
int32_t spm_find(const spm_tokenizer *t, const uint8_t *s, size_t len);
/* 0, or -1 when out of memory. */
int spm_encode(const spm_tokenizer *t, const uint8_t *text, size_t len, int parse_special, tok_vec *out);
int32_t spm_decode(const spm_tokenizer *t, int32_t id, const uint8_t **bytes);

#endif
