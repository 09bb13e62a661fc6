/* The tokenizer a GGUF file's metadata asks for (tokenizer.ggml.model):
 * "gpt2" byte-level BPE (../smollm/tokenizer.c) or "llama" SentencePiece
 * (spm.c), behind one interface; plus the special ids the decoder needs. */
#ifndef LLM_VOCAB_H
#define LLM_VOCAB_H

#include "gguf.h"
#include "spm.h"
#include "tokenizer.h"

typedef enum { VOCAB_BPE = 1, VOCAB_SPM = 2 } vocab_kind;

typedef struct {
  vocab_kind kind;
  tokenizer bpe;
  spm_tokenizer spm;
  int32_t n_vocab;
  int32_t bos, eos; /* -1 when the file names none */
  int add_bos;      /* prompts start with bos (tokenizer.ggml.add_bos_token) */
} vocab;

int vocab_build(vocab *v, const gg_file *f, char *err, size_t errlen);
void vocab_free(vocab *v);
int32_t vocab_find(const vocab *v, const char *s, size_t len);
int vocab_encode(const vocab *v, const uint8_t *text, size_t len, int parse_special, tok_vec *out);
int32_t vocab_decode(const vocab *v, int32_t id, const uint8_t **bytes);

#endif
