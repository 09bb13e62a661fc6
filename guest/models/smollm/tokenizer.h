/* Byte-level BPE tokenizer (GPT-2 family) built from GGUF metadata:
 * tokenizer.ggml.tokens / merges / token_type. Pre-tokenization follows
 * tokenizer.ggml.pre = "smollm" (HF: Digits(individual_digits) + ByteLevel
 * regex), see gen_unicode_tables.py. Token strings and merges stay in the
 * file image; the tokenizer only adds hash tables and decoded bytes. */
#ifndef SMOLLM_TOKENIZER_H
#define SMOLLM_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

typedef struct {
  int32_t *ids;
  int32_t n, cap;
} tok_vec;

int tok_vec_push(tok_vec *v, int32_t id); /* 0, or -1 when out of memory */
void tok_vec_free(tok_vec *v);

typedef struct {
  int32_t n_vocab;
  gg_str *tok;        /* token strings in their byte-level (mapped) form */
  uint32_t *dec_off;  /* decoded bytes of token i: dec[dec_off[i] .. dec_off[i+1]) */
  uint8_t *dec;
  uint32_t *vocab_slots; /* open addressing, id + 1 (0 = empty) */
  uint32_t vocab_mask;
  uint64_t *merge_keys;  /* (left << 32 | right) + 1 (0 = empty) */
  int32_t *merge_rank, *merge_result;
  uint32_t merge_mask;
  int32_t n_merges;
  int32_t byte_token[256]; /* token of each single byte, -1 if none (then dropped) */
  int32_t *special;        /* control / user-defined tokens, longest first */
  int32_t n_special;
  int pre;                 /* TOK_PRE_*: the file's tokenizer.ggml.pre */
} tokenizer;

/* Pre-tokenizers (tokenizer.ggml.pre), as llama.cpp names them:
 * SMOLLM  digits split one by one, then the GPT-2 regex ('smollm');
 * LLAMA3  Llama 3's regex, numbers in runs of up to 3, and a piece that is a token
 *         as a whole is that token (ignore_merges) ('llama-bpe', 'llama3', 'llama-v3');
 * QWEN2   the same with single digits ('qwen2'). */
enum { TOK_PRE_SMOLLM = 0, TOK_PRE_LLAMA3 = 1, TOK_PRE_QWEN2 = 2 };

int tok_build(tokenizer *t, const gg_file *f, char *err, size_t errlen);
void tok_free(tokenizer *t);

/* id of a token string, or -1. */
int32_t tok_find(const tokenizer *t, const char *s, size_t len);

/* Append the tokens of `text` to out. parse_special: text equal to a special
 * token's string becomes that token (as HF tokenizers and llama.cpp do when
 * rendering chat templates); else it is encoded as ordinary bytes.
 * 0 on success, -1 when out of memory. */
int tok_encode(const tokenizer *t, const uint8_t *text, size_t len, int parse_special, tok_vec *out);

/* Bytes token `id` stands for (UTF-8 fragments); length, or -1 for a bad id. */
int32_t tok_decode(const tokenizer *t, int32_t id, const uint8_t **bytes);

#endif
