/* BERT WordPiece tokenizer (uncased), matching HF tokenizers' BertNormalizer +
 * BertPreTokenizer + WordPiece + [CLS]/[SEP] template for all-MiniLM-L6-v2. */
#ifndef MINILM_TOKENIZER_H
#define MINILM_TOKENIZER_H

#include <stdint.h>

#define TOK_MAX_WORD_CHARS 100 /* longer words become [UNK] */

/* Build the vocabulary from vocab.txt bytes (one token per line, id = line
 * number). The bytes must stay alive and unchanged while the tokenizer is used.
 * Returns the number of tokens, or a negative error code. */
int32_t tok_load_vocab(const char *text, int32_t len);

/* Number of tokens in the loaded vocabulary (0 when none is loaded). */
int32_t tok_vocab_size(void);

/* Tokenize UTF-8 text (invalid bytes count as U+FFFD) into at most max_tokens
 * ids, [CLS] and [SEP] included, truncating the word pieces as needed
 * (max_tokens >= 2). Returns the count written to ids. */
int32_t tok_encode(const char *text, int32_t len, int32_t *ids, int32_t max_tokens);

#endif
