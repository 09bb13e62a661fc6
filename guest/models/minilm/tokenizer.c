/* BERT uncased WordPiece tokenizer, bit-for-bit with HF tokenizers for this
 * model: special tokens are split out of the raw text first, every other code
 * point is normalized and classified through unicode_tables.h (generated from
 * the reference tokenizer itself), words are split on whitespace and around
 * punctuation / CJK ideographs, then WordPiece greedy longest match. */
#include "tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

enum { KEEP, DROP, SPACE, CJK, MAP, HANGUL };
enum { WORD, PUNCT, WHITE };

/* ---- vocabulary: open-addressing hash of token strings -> id ---- */

static const char *vocab_text;
static int32_t vocab_n;
static int32_t *tok_start, *tok_len; /* per id: byte range in vocab_text */
static int32_t *slots;               /* id + 1, 0 = empty */
static uint32_t slot_mask;
static int32_t id_unk = -1, id_cls = -1, id_sep = -1;

/* Special tokens matched verbatim in the raw text (tokenizer.json added_tokens,
 * all with normalized=false). */
static const char *const special_names[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
#define NUM_SPECIALS 5
static int32_t special_ids[NUM_SPECIALS];

static uint32_t hash_bytes(const char *s, int32_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (int32_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
  return h;
}

static int32_t lookup(const char *s, int32_t n) {
  for (uint32_t i = hash_bytes(s, n) & slot_mask;; i = (i + 1) & slot_mask) {
    int32_t v = slots[i];
    if (v == 0) return -1;
    int32_t id = v - 1;
    if (tok_len[id] == n && memcmp(vocab_text + tok_start[id], s, (size_t)n) == 0) return id;
  }
}

int32_t tok_vocab_size(void) { return vocab_n; }

int32_t tok_load_vocab(const char *text, int32_t len) {
  if (len <= 0) return -1;
  int32_t lines = 0;
  for (int32_t i = 0; i < len; i++) lines += text[i] == '\n';
  if (text[len - 1] != '\n') lines++;
  free(tok_start);
  free(tok_len);
  free(slots);
  vocab_n = 0;
  uint32_t cap = 1024;
  while (cap < (uint32_t)lines * 2u) cap <<= 1;
  tok_start = malloc(sizeof(int32_t) * (size_t)lines);
  tok_len = malloc(sizeof(int32_t) * (size_t)lines);
  slots = calloc(cap, sizeof(int32_t));
  if (!tok_start || !tok_len || !slots) return -2;
  slot_mask = cap - 1;
  vocab_text = text;
  int32_t start = 0;
  for (int32_t i = 0; i <= len && vocab_n < lines; i++) {
    if (i < len && text[i] != '\n') continue;
    int32_t end = i;
    if (end > start && text[end - 1] == '\r') end--;
    int32_t id = vocab_n++;
    tok_start[id] = start;
    tok_len[id] = end - start;
    if (lookup(text + start, end - start) < 0) { /* first occurrence wins */
      uint32_t h = hash_bytes(text + start, end - start) & slot_mask;
      while (slots[h]) h = (h + 1) & slot_mask;
      slots[h] = id + 1;
    }
    start = i + 1;
  }
  for (int k = 0; k < NUM_SPECIALS; k++)
    special_ids[k] = lookup(special_names[k], (int32_t)strlen(special_names[k]));
  id_unk = special_ids[1];
  id_cls = special_ids[2];
  id_sep = special_ids[3];
  if (id_unk < 0 || id_cls < 0 || id_sep < 0) {
    vocab_n = 0;
    return -3;
  }
  return vocab_n;
}

/* ---- Unicode helpers ---- */

static inline uint8_t cp_code(uint32_t cp) {
  return ut_stage2[(uint32_t)ut_stage1[cp / UT_BLOCK] * UT_BLOCK + cp % UT_BLOCK];
}

static uint64_t map_lookup(uint32_t cp) {
  int32_t lo = 0, hi = UT_NUM_MAPS - 1;
  while (lo <= hi) {
    int32_t mid = (lo + hi) / 2;
    if (ut_map_keys[mid] == cp) return ut_map_vals[mid];
    if (ut_map_keys[mid] < cp) lo = mid + 1; else hi = mid - 1;
  }
  return cp; /* unreachable for table-consistent input */
}

/* Decode one code point at s[*pos] (< len); invalid sequences -> U+FFFD, 1 byte. */
static uint32_t utf8_next(const uint8_t *s, int32_t len, int32_t *pos) {
  int32_t i = *pos;
  uint32_t c = s[i];
  int32_t need;
  uint32_t min;
  if (c < 0x80) { *pos = i + 1; return c; }
  if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
  else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
  else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
  else { *pos = i + 1; return 0xFFFD; }
  if (i + need >= len) { *pos = i + 1; return 0xFFFD; }
  for (int32_t k = 1; k <= need; k++) {
    uint8_t b = s[i + k];
    if ((b & 0xC0) != 0x80) { *pos = i + 1; return 0xFFFD; }
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) { *pos = i + 1; return 0xFFFD; }
  *pos = i + 1 + need;
  return c;
}

static int32_t utf8_put(uint32_t c, char *out) {
  if (c < 0x80) { out[0] = (char)c; return 1; }
  if (c < 0x800) { out[0] = (char)(0xC0 | c >> 6); out[1] = (char)(0x80 | (c & 0x3F)); return 2; }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12); out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F)); return 3;
  }
  out[0] = (char)(0xF0 | c >> 18); out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F)); out[3] = (char)(0x80 | (c & 0x3F)); return 4;
}

/* ---- encoder state ---- */

typedef struct {
  int32_t *ids;
  int32_t n, limit; /* limit: word-piece slots left before [SEP] */
  /* current word: "##" prefix room, then UTF-8 bytes; char_end[i] = byte end of char i */
  char bytes[2 + TOK_MAX_WORD_CHARS * 4];
  int32_t char_end[TOK_MAX_WORD_CHARS];
  int32_t chars; /* may exceed TOK_MAX_WORD_CHARS: then only counted */
} Encoder;

static inline int full(const Encoder *e) { return e->n >= e->limit; }

static void push(Encoder *e, int32_t id) {
  if (!full(e)) e->ids[e->n++] = id;
}

static void flush_word(Encoder *e) {
  int32_t nch = e->chars;
  e->chars = 0;
  if (nch == 0 || full(e)) return;
  if (nch > TOK_MAX_WORD_CHARS) { push(e, id_unk); return; }
  int32_t pieces[TOK_MAX_WORD_CHARS];
  int32_t np = 0, start = 0;
  char *word = e->bytes + 2;
  while (start < nch) {
    int32_t begin = start ? e->char_end[start - 1] : 0, found = -1, end = nch;
    for (; end > start; end--) {
      int32_t blen = e->char_end[end - 1] - begin;
      if (start == 0) {
        found = lookup(word, blen);
      } else { /* continuation: "##" written just before the piece */
        char saved0 = word[begin - 2], saved1 = word[begin - 1];
        char *key = word + begin - 2;
        key[0] = '#'; key[1] = '#';
        found = lookup(key, blen + 2);
        key[0] = saved0; key[1] = saved1;
      }
      if (found >= 0) break;
    }
    if (found < 0) { push(e, id_unk); return; }
    pieces[np++] = found;
    start = end;
  }
  for (int32_t i = 0; i < np; i++) push(e, pieces[i]);
}

static void add_char(Encoder *e, uint32_t cp) {
  if (e->chars < TOK_MAX_WORD_CHARS) {
    int32_t at = e->chars ? e->char_end[e->chars - 1] : 0;
    e->char_end[e->chars] = at + utf8_put(cp, e->bytes + 2 + at);
  }
  e->chars++;
}

/* Feed one normalized code point through the pre-tokenizer. */
static void emit(Encoder *e, uint32_t cp) {
  int cls = cp_code(cp) >> 4;
  if (cls == WHITE) {
    flush_word(e);
  } else if (cls == PUNCT) {
    flush_word(e);
    add_char(e, cp);
    flush_word(e);
  } else {
    add_char(e, cp);
  }
}

/* Normalize one raw code point (clean text, CJK spacing, NFD minus marks, lower). */
static void feed(Encoder *e, uint32_t cp) {
  uint8_t code = cp_code(cp);
  switch (code & 15) {
    case KEEP: emit(e, cp); break;
    case DROP: break;
    case SPACE: emit(e, ' '); break;
    case CJK: emit(e, ' '); emit(e, cp); emit(e, ' '); break;
    case HANGUL: {
      uint32_t s = cp - 0xAC00, tail = 0x11A7 + s % 28;
      emit(e, 0x1100 + s / 588);
      emit(e, 0x1161 + (s % 588) / 28);
      if (tail != 0x11A7) emit(e, tail);
      break;
    }
    default: { /* MAP */
      uint64_t v = map_lookup(cp);
      for (int k = 0; k < 3; k++, v >>= 21)
        if (v & 0x1FFFFF) emit(e, (uint32_t)(v & 0x1FFFFF));
      break;
    }
  }
}

static int32_t match_special(const char *s, int32_t left) {
  if (left < 5 || s[0] != '[') return -1;
  for (int k = 0; k < NUM_SPECIALS; k++) {
    int32_t n = (int32_t)strlen(special_names[k]);
    if (special_ids[k] >= 0 && n <= left && memcmp(s, special_names[k], (size_t)n) == 0) return k;
  }
  return -1;
}

int32_t tok_encode(const char *text, int32_t len, int32_t *ids, int32_t max_tokens) {
  if (vocab_n == 0 || max_tokens < 2) return 0;
  Encoder e;
  e.ids = ids;
  e.n = 0;
  e.limit = max_tokens - 1; /* room for [SEP] */
  e.chars = 0;
  push(&e, id_cls);
  int32_t pos = 0;
  while (pos < len && !full(&e)) {
    int32_t k = match_special(text + pos, len - pos);
    if (k >= 0) {
      flush_word(&e);
      push(&e, special_ids[k]);
      pos += (int32_t)strlen(special_names[k]);
      continue;
    }
    feed(&e, utf8_next((const uint8_t *)text, len, &pos));
  }
  flush_word(&e);
  ids[e.n++] = id_sep;
  return e.n;
}
