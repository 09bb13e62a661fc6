/* Byte-level BPE: see tokenizer.h.
 *
 * Encoding = special-token split -> pre-tokenize into pieces -> map each byte
 * of a piece to its single-byte token -> apply merges, lowest rank first
 * (leftmost on ties), exactly as llama.cpp's BPE does (HF tokenizers' too,
 * but for bytes without a token: see bpe_piece). */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unicode_tables.h"

enum { CLS_OTHER = 0, CLS_LETTER = 1, CLS_NUMBER = 2, CLS_SPACE = 3 };
enum { TOKEN_TYPE_CONTROL = 3, TOKEN_TYPE_USER_DEFINED = 4 };
#define BAD_CP 0xFFFFFFFFu /* an invalid UTF-8 byte: class "other" */

int tok_vec_push(tok_vec *v, int32_t id) {
  if (v->n == v->cap) {
    int32_t cap = v->cap ? v->cap * 2 : 64;
    int32_t *p = realloc(v->ids, (size_t)cap * sizeof(int32_t));
    if (!p || cap < v->cap) return -1;
    v->ids = p;
    v->cap = cap;
  }
  v->ids[v->n++] = id;
  return 0;
}

void tok_vec_free(tok_vec *v) {
  free(v->ids);
  v->ids = NULL;
  v->n = v->cap = 0;
}

/* ---- GPT-2 byte <-> code point mapping ------------------------------------ */

/* Printable bytes map to themselves; the other 68 to U+0100 + k in order. */
static void byte_map(uint32_t to_cp[256]) {
  uint32_t next = 256;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    to_cp[b] = printable ? (uint32_t)b : next++;
  }
}

static size_t utf8_put(uint32_t cp, uint8_t *out) {
  if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
  if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | cp >> 6); out[1] = (uint8_t)(0x80 | (cp & 63)); return 2; }
  if (cp < 0x10000) {
    out[0] = (uint8_t)(0xE0 | cp >> 12); out[1] = (uint8_t)(0x80 | (cp >> 6 & 63));
    out[2] = (uint8_t)(0x80 | (cp & 63));
    return 3;
  }
  out[0] = (uint8_t)(0xF0 | cp >> 18); out[1] = (uint8_t)(0x80 | (cp >> 12 & 63));
  out[2] = (uint8_t)(0x80 | (cp >> 6 & 63)); out[3] = (uint8_t)(0x80 | (cp & 63));
  return 4;
}

/* Decode one code point at s[0..n); sets *len (>= 1). Invalid, overlong or
 * surrogate sequences give BAD_CP for one byte, so every byte is kept. */
static uint32_t utf8_get(const uint8_t *s, size_t n, size_t *len) {
  uint8_t b = s[0];
  *len = 1;
  if (b < 0x80) return b;
  size_t need;
  uint32_t cp, min;
  if ((b & 0xE0) == 0xC0) { need = 2; cp = b & 0x1F; min = 0x80; }
  else if ((b & 0xF0) == 0xE0) { need = 3; cp = b & 0x0F; min = 0x800; }
  else if ((b & 0xF8) == 0xF0) { need = 4; cp = b & 0x07; min = 0x10000; }
  else return BAD_CP;
  if (need > n) return BAD_CP;
  for (size_t i = 1; i < need; i++) {
    if ((s[i] & 0xC0) != 0x80) return BAD_CP;
    cp = cp << 6 | (s[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return BAD_CP;
  *len = need;
  return cp;
}

/* ---- hashing --------------------------------------------------------------- */

static uint32_t fnv(uint32_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}
#define FNV_SEED 2166136261u

static uint32_t mix64(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (uint32_t)k;
}

static uint32_t table_size(uint32_t n) {
  uint32_t s = 64;
  while (s < 2 * n) s <<= 1;
  return s;
}

/* Lookup of the concatenation a || b without building it. */
static int32_t find2(const tokenizer *t, const uint8_t *a, size_t na, const uint8_t *b, size_t nb) {
  uint32_t h = fnv(fnv(FNV_SEED, a, na), b, nb);
  for (uint32_t i = h & t->vocab_mask;; i = (i + 1) & t->vocab_mask) {
    uint32_t slot = t->vocab_slots[i];
    if (!slot) return -1;
    gg_str s = t->tok[slot - 1];
    if (s.len == na + nb && memcmp(s.p, a, na) == 0 && memcmp(s.p + na, b, nb) == 0) return (int32_t)slot - 1;
  }
}

int32_t tok_find(const tokenizer *t, const char *s, size_t len) {
  return find2(t, (const uint8_t *)s, len, NULL, 0);
}

static int32_t merge_lookup(const tokenizer *t, int32_t left, int32_t right, int32_t *result) {
  uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
  for (uint32_t i = mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
    uint64_t k = t->merge_keys[i];
    if (!k) return -1;
    if (k == key) {
      *result = t->merge_result[i];
      return t->merge_rank[i];
    }
  }
}

/* 1 if inserted, 0 for a duplicate (the first, lowest rank, wins). */
static int merge_insert(tokenizer *t, int32_t left, int32_t right, int32_t rank, int32_t result) {
  uint64_t key = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
  for (uint32_t i = mix64(key) & t->merge_mask;; i = (i + 1) & t->merge_mask) {
    if (t->merge_keys[i] == key) return 0;
    if (!t->merge_keys[i]) {
      t->merge_keys[i] = key;
      t->merge_rank[i] = rank;
      t->merge_result[i] = result;
      return 1;
    }
  }
}

/* ---- building -------------------------------------------------------------- */

static int build_vocab(tokenizer *t, const gg_file *f, char *err, size_t errlen) {
  gg_str_iter it;
  uint64_t n;
  if (gg_str_array(f, "tokenizer.ggml.tokens", &it, &n, err, errlen)) return -1;
  if (n == 0 || n > (1u << 24)) return gg_fail(err, errlen, "tokenizer: %llu tokens (1..2^24 allowed)", (unsigned long long)n);
  t->n_vocab = (int32_t)n;
  t->tok = malloc((size_t)n * sizeof(gg_str));
  uint32_t slots = table_size((uint32_t)n);
  t->vocab_slots = calloc(slots, sizeof(uint32_t));
  t->vocab_mask = slots - 1;
  if (!t->tok || !t->vocab_slots) return gg_fail(err, errlen, "tokenizer: out of memory");
  for (int32_t id = 0; id < t->n_vocab; id++) {
    gg_str s = gg_str_next(&it);
    t->tok[id] = s;
    uint32_t h = fnv(FNV_SEED, s.p, s.len);
    uint32_t i = h & t->vocab_mask;
    int dup = 0;
    for (; t->vocab_slots[i]; i = (i + 1) & t->vocab_mask) {
      gg_str o = t->tok[t->vocab_slots[i] - 1];
      if (o.len == s.len && memcmp(o.p, s.p, s.len) == 0) { dup = 1; break; }
    }
    if (!dup) t->vocab_slots[i] = (uint32_t)id + 1; /* duplicates: the first id wins */
  }
  return 0;
}

/* Decoded bytes of every token: each code point of the mapped form back to
 * its byte; code points outside the map (not produced by byte-level vocabs)
 * are kept as their UTF-8. */
static int build_decoder(tokenizer *t, char *err, size_t errlen) {
  uint32_t to_cp[256];
  int16_t from_cp[512];
  byte_map(to_cp);
  for (int i = 0; i < 512; i++) from_cp[i] = -1;
  for (int b = 0; b < 256; b++) from_cp[to_cp[b]] = (int16_t)b;
  uint64_t total = 0;
  for (int32_t id = 0; id < t->n_vocab; id++) total += t->tok[id].len; /* decoded <= mapped length */
  if (total > UINT32_MAX - 1) return gg_fail(err, errlen, "tokenizer: token strings too large");
  t->dec = malloc(total ? (size_t)total : 1);
  t->dec_off = malloc(((size_t)t->n_vocab + 1) * sizeof(uint32_t));
  if (!t->dec || !t->dec_off) return gg_fail(err, errlen, "tokenizer: out of memory");
  uint32_t pos = 0;
  for (int32_t id = 0; id < t->n_vocab; id++) {
    gg_str s = t->tok[id];
    t->dec_off[id] = pos;
    for (size_t i = 0; i < s.len;) {
      size_t len;
      uint32_t cp = utf8_get(s.p + i, s.len - i, &len);
      if (cp != BAD_CP && cp < 512 && from_cp[cp] >= 0) {
        t->dec[pos++] = (uint8_t)from_cp[cp];
      } else {
        memcpy(t->dec + pos, s.p + i, len);
        pos += (uint32_t)len;
      }
      i += len;
    }
  }
  t->dec_off[t->n_vocab] = pos;
  for (int b = 0; b < 256; b++) {
    uint8_t buf[4];
    size_t n = utf8_put(to_cp[b], buf);
    t->byte_token[b] = find2(t, buf, n, NULL, 0); /* -1: no token (SmolLM lacks 21 bytes) */
  }
  return 0;
}

static int build_merges(tokenizer *t, const gg_file *f, char *err, size_t errlen) {
  gg_str_iter it;
  uint64_t n;
  if (gg_str_array(f, "tokenizer.ggml.merges", &it, &n, err, errlen)) return -1;
  if (n > (1u << 24)) return gg_fail(err, errlen, "tokenizer: %llu merges (at most 2^24)", (unsigned long long)n);
  uint32_t slots = table_size((uint32_t)n);
  t->merge_keys = calloc(slots, sizeof(uint64_t));
  t->merge_rank = malloc(slots * sizeof(int32_t));
  t->merge_result = malloc(slots * sizeof(int32_t));
  t->merge_mask = slots - 1;
  if (!t->merge_keys || !t->merge_rank || !t->merge_result) return gg_fail(err, errlen, "tokenizer: out of memory");
  for (uint64_t r = 0; r < n; r++) {
    gg_str m = gg_str_next(&it);
    /* "left right": split at the first space after the first byte (as llama.cpp) */
    uint32_t sp = 1;
    while (sp < m.len && m.p[sp] != ' ') sp++;
    if (sp >= m.len) continue; /* malformed merge: ignored */
    int32_t left = find2(t, m.p, sp, NULL, 0);
    int32_t right = find2(t, m.p + sp + 1, m.len - sp - 1, NULL, 0);
    int32_t result = find2(t, m.p, sp, m.p + sp + 1, m.len - sp - 1);
    if (left < 0 || right < 0 || result < 0) continue; /* refers to unknown tokens: unusable */
    t->n_merges += merge_insert(t, left, right, (int32_t)r, result);
  }
  return 0;
}

static int build_specials(tokenizer *t, const gg_file *f, char *err, size_t errlen) {
  const uint8_t *types;
  uint64_t n;
  t->n_special = 0;
  if (!gg_find_kv(f, "tokenizer.ggml.token_type")) return 0;
  if (gg_i32_array(f, "tokenizer.ggml.token_type", &types, &n, err, errlen)) return -1;
  if (n != (uint64_t)t->n_vocab)
    return gg_fail(err, errlen, "tokenizer: %llu token types for %d tokens", (unsigned long long)n, t->n_vocab);
  t->special = malloc((size_t)t->n_vocab * sizeof(int32_t));
  if (!t->special) return gg_fail(err, errlen, "tokenizer: out of memory");
  for (int32_t id = 0; id < t->n_vocab; id++) {
    int32_t ty;
    memcpy(&ty, types + 4 * (size_t)id, 4);
    if ((ty == TOKEN_TYPE_CONTROL || ty == TOKEN_TYPE_USER_DEFINED) && t->tok[id].len > 0)
      t->special[t->n_special++] = id;
  }
  /* longest first, so "<|im_start|>" wins over any prefix of it (insertion sort: few tokens) */
  for (int32_t i = 1; i < t->n_special; i++) {
    int32_t v = t->special[i], j = i;
    while (j > 0 && t->tok[t->special[j - 1]].len < t->tok[v].len) {
      t->special[j] = t->special[j - 1];
      j--;
    }
    t->special[j] = v;
  }
  return 0;
}

int tok_build(tokenizer *t, const gg_file *f, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  gg_str model, pre;
  if (gg_get_str(f, "tokenizer.ggml.model", &model, err, errlen)) return -1;
  char shown[48];
  if (!gg_str_eq(model, "gpt2"))
    return gg_fail(err, errlen, "tokenizer: model '%s' is not supported (byte-level BPE 'gpt2' only)",
                gg_printable(model, shown, sizeof shown));
  if (gg_get_str(f, "tokenizer.ggml.pre", &pre, err, errlen)) return -1;
  if (gg_str_eq(pre, "smollm"))
    t->pre = TOK_PRE_SMOLLM;
  else if (gg_str_eq(pre, "llama-bpe") || gg_str_eq(pre, "llama3") || gg_str_eq(pre, "llama-v3"))
    t->pre = TOK_PRE_LLAMA3;
  else if (gg_str_eq(pre, "qwen2"))
    t->pre = TOK_PRE_QWEN2;
  else
    return gg_fail(err, errlen,
                   "tokenizer: pre-tokenizer '%s' is not supported ('smollm', 'llama-bpe', 'llama3', 'qwen2')",
                   gg_printable(pre, shown, sizeof shown));
  if (build_vocab(t, f, err, errlen) || build_decoder(t, err, errlen) || build_merges(t, f, err, errlen) ||
      build_specials(t, f, err, errlen)) {
    tok_free(t);
    return -1;
  }
  return 0;
}

void tok_free(tokenizer *t) {
  free(t->tok);
  free(t->dec_off);
  free(t->dec);
  free(t->vocab_slots);
  free(t->merge_keys);
  free(t->merge_rank);
  free(t->merge_result);
  free(t->special);
  memset(t, 0, sizeof *t);
}

int32_t tok_decode(const tokenizer *t, int32_t id, const uint8_t **bytes) {
  if (id < 0 || id >= t->n_vocab) return -1;
  *bytes = t->dec + t->dec_off[id];
  return (int32_t)(t->dec_off[id + 1] - t->dec_off[id]);
}

/* ---- pre-tokenizer ----------------------------------------------------------- */

static int in_ranges(const uint32_t (*r)[2], int n, uint32_t cp) {
  int lo = 0, hi = n - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (cp < r[mid][0]) hi = mid - 1;
    else if (cp > r[mid][1]) lo = mid + 1;
    else return 1;
  }
  return 0;
}

static uint8_t classify(uint32_t cp) {
  if (cp == BAD_CP) return CLS_OTHER;
  if (cp < 0x80) { /* fast path; agrees with the tables */
    if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CLS_LETTER;
    if (cp >= '0' && cp <= '9') return CLS_NUMBER;
    if (cp == ' ' || (cp >= 9 && cp <= 13)) return CLS_SPACE;
    return CLS_OTHER;
  }
  if (in_ranges(uni_letter_ranges, UNI_LETTER_COUNT, cp)) return CLS_LETTER;
  if (in_ranges(uni_number_ranges, UNI_NUMBER_COUNT, cp)) return CLS_NUMBER;
  if (in_ranges(uni_space_ranges, UNI_SPACE_COUNT, cp)) return CLS_SPACE;
  return CLS_OTHER;
}

static int is_split_digit(uint32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return cp != BAD_CP && in_ranges(uni_digit_ranges, UNI_DIGIT_COUNT, cp);
}

typedef struct {
  uint32_t *cp;
  uint32_t *pos; /* byte offset of each code point; pos[n] = length */
  uint8_t *cls;
  size_t n;
} cps;

/* End of the GPT-2 regex match starting at code point i of the piece [i, e). */
static size_t regex_match(const cps *c, size_t i, size_t e) {
  uint32_t ch = c->cp[i];
  if (ch == '\'' && i + 1 < e) {
    uint32_t a = c->cp[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < e) {
      uint32_t b = c->cp[i + 2];
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  /* ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` in that order */
  size_t k = (ch == ' ' && i + 1 < e) ? i + 1 : i;
  uint8_t cls = c->cls[k];
  if (cls != CLS_SPACE) {
    size_t j = k + 1;
    while (j < e && c->cls[j] == cls) j++;
    return j;
  }
  cls = c->cls[i];
  if (cls == CLS_SPACE) {
    size_t j = i + 1;
    while (j < e && c->cls[j] == CLS_SPACE) j++;
    if (j == e) return j;          /* `\s+(?!\S)` up to the end of the piece */
    if (j - i >= 2) return j - 1;  /* ... backing off one so the last joins the next word */
    return i + 1;                  /* `\s+` */
  }
  return i + 1; /* not reached: every class is handled above */
}

static int is_newline(uint32_t cp) { return cp == '\r' || cp == '\n'; }

static uint32_t ascii_lower(uint32_t cp) { return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp; }

/* End of Llama 3's regex match at code point i of [i, e): its alternatives in order,
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d) | [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,max_digits}
 *   | ?[^\s\p{L}\p{N}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+
 * (Qwen2's is the same with max_digits 1). The case-insensitive contractions fold
 * ASCII only, as llama.cpp does. */
static size_t llama3_match(const cps *c, size_t i, size_t e, size_t max_digits) {
  uint32_t ch = c->cp[i];
  if (ch == '\'' && i + 1 < e) {
    uint32_t a = ascii_lower(c->cp[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < e) {
      uint32_t b = ascii_lower(c->cp[i + 2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  uint8_t cls = c->cls[i];
  size_t letters = i;  /* where a letter run would start */
  if (cls != CLS_LETTER && cls != CLS_NUMBER && !is_newline(ch) && i + 1 < e && c->cls[i + 1] == CLS_LETTER)
    letters = i + 1;
  if (c->cls[letters] == CLS_LETTER) {
    size_t j = letters + 1;
    while (j < e && c->cls[j] == CLS_LETTER) j++;
    return j;
  }
  if (cls == CLS_NUMBER) {
    size_t j = i + 1;
    while (j < e && j - i < max_digits && c->cls[j] == CLS_NUMBER) j++;
    return j;
  }
  size_t k = (ch == ' ' && i + 1 < e) ? i + 1 : i;
  if (c->cls[k] == CLS_OTHER) {
    size_t j = k + 1;
    while (j < e && c->cls[j] == CLS_OTHER) j++;
    while (j < e && is_newline(c->cp[j])) j++;
    return j;
  }
  /* cls is CLS_SPACE here: a whitespace run [i, j) */
  size_t j = i + 1;
  while (j < e && c->cls[j] == CLS_SPACE) j++;
  for (size_t p = j; p > i; p--)  /* \s*[\r\n]+ ends after the run's last newline */
    if (is_newline(c->cp[p - 1])) return p;
  if (j == e) return j;          /* \s+(?!\S) up to the end */
  if (j - i >= 2) return j - 1;  /* ... backing off one so the last joins the next piece */
  return j;                      /* \s+ */
}

/* Llama 3's ignore_merges: the token whose text is the whole piece, else -1 (or -2
 * when out of memory). Token texts are byte-level mapped, so the piece is mapped first. */
static int32_t whole_piece_token(const tokenizer *t, const uint8_t *s, size_t n) {
  static uint32_t to_cp[256];
  if (!to_cp[0]) byte_map(to_cp); /* byte 0 maps to U+0100, never 0 */
  uint8_t *mapped = malloc(2 * n + 1);  /* mapped code points are below U+0800 */
  if (!mapped) return -2;
  size_t len = 0;
  for (size_t i = 0; i < n; i++) len += utf8_put(to_cp[s[i]], mapped + len);
  int32_t id = tok_find(t, (const char *)mapped, len);
  free(mapped);
  return id;
}

/* BPE of one piece in O(n log n): symbols form a linked list over the piece's
 * byte positions; candidate merges wait in a min-heap ordered by (rank,
 * position), so the lowest rank merges first and the leftmost on ties, as HF
 * tokenizers does. Stale candidates (a side already merged away) are skipped
 * when popped. */
typedef struct {
  int32_t rank, pos, left, right, result;
} merge_cand;

typedef struct {
  int32_t *id, *next, *prev;
  merge_cand *heap;
  size_t cap, heap_n;
} bpe_work;

static int cand_less(const merge_cand *a, const merge_cand *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_work *w, merge_cand c) {
  size_t i = w->heap_n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!cand_less(&c, &w->heap[parent])) break;
    w->heap[i] = w->heap[parent];
    i = parent;
  }
  w->heap[i] = c;
}

static merge_cand heap_pop(bpe_work *w) {
  merge_cand top = w->heap[0], last = w->heap[--w->heap_n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= w->heap_n) break;
    if (child + 1 < w->heap_n && cand_less(&w->heap[child + 1], &w->heap[child])) child++;
    if (!cand_less(&w->heap[child], &last)) break;
    w->heap[i] = w->heap[child];
    i = child;
  }
  if (w->heap_n) w->heap[i] = last;
  return top;
}

#define NO_TOKEN (-2) /* a byte of the piece that has no token (-1 marks merged-away symbols) */

static void try_pair(const tokenizer *t, bpe_work *w, int32_t pos) {
  if (pos < 0) return;
  int32_t nx = w->next[pos];
  if (nx < 0 || w->id[pos] == NO_TOKEN || w->id[nx] == NO_TOKEN) return;
  int32_t result;
  int32_t rank = merge_lookup(t, w->id[pos], w->id[nx], &result);
  if (rank >= 0) heap_push(w, (merge_cand){rank, pos, w->id[pos], w->id[nx], result});
}

static int bpe_piece(const tokenizer *t, const uint8_t *s, size_t n, tok_vec *out, bpe_work *w) {
  if (n > w->cap) {
    size_t cap = n < 64 ? 64 : n;
    free(w->id);
    free(w->heap);
    w->id = malloc(3 * cap * sizeof(int32_t));
    w->heap = malloc(3 * cap * sizeof(merge_cand)); /* n-1 initial + <= 2 per merge */
    w->cap = (w->id && w->heap) ? cap : 0;
    if (!w->cap) return -1;
    w->next = w->id + cap;
    w->prev = w->id + 2 * cap;
  }
  /* A byte without a token stays a symbol (NO_TOKEN) that merges with nothing
   * and is dropped at the end, as llama.cpp does: its neighbours do not merge
   * across it. (HF tokenizers drops it first, so they can; llama.cpp is the
   * reference.) */
  int32_t m = 0;
  for (size_t i = 0; i < n; i++) w->id[m++] = t->byte_token[s[i]] >= 0 ? t->byte_token[s[i]] : NO_TOKEN;
  for (int32_t i = 0; i < m; i++) {
    w->next[i] = i + 1 < m ? i + 1 : -1;
    w->prev[i] = i - 1;
  }
  w->heap_n = 0;
  for (int32_t i = 0; i + 1 < m; i++) try_pair(t, w, i);
  while (w->heap_n) {
    merge_cand c = heap_pop(w);
    int32_t nx = w->next[c.pos];
    if (w->id[c.pos] != c.left || nx < 0 || w->id[nx] != c.right) continue; /* stale */
    w->id[c.pos] = c.result; /* merge nx into pos */
    w->next[c.pos] = w->next[nx];
    if (w->next[nx] >= 0) w->prev[w->next[nx]] = c.pos;
    w->id[nx] = -1; /* dead: never matches a candidate again */
    try_pair(t, w, w->prev[c.pos]);
    try_pair(t, w, c.pos);
  }
  for (int32_t i = m ? 0 : -1; i >= 0; i = w->next[i])
    if (w->id[i] != NO_TOKEN && tok_vec_push(out, w->id[i])) return -1;
  return 0;
}

/* Ordinary text (no special tokens): pre-tokenize, then BPE each piece. */
static int encode_plain(const tokenizer *t, const uint8_t *s, size_t len, tok_vec *out) {
  if (!len) return 0;
  cps c = {malloc(len * sizeof(uint32_t)), malloc((len + 1) * sizeof(uint32_t)), malloc(len), 0};
  bpe_work work = {0};
  int rc = -1;
  if (!c.cp || !c.pos || !c.cls) goto done;
  for (size_t i = 0; i < len;) {
    size_t l;
    c.cp[c.n] = utf8_get(s + i, len - i, &l);
    c.pos[c.n] = (uint32_t)i;
    c.cls[c.n] = classify(c.cp[c.n]);
    c.n++;
    i += l;
  }
  c.pos[c.n] = (uint32_t)len;
  if (t->pre != TOK_PRE_SMOLLM) {
    size_t max_digits = t->pre == TOK_PRE_LLAMA3 ? 3 : 1;
    for (size_t i = 0; i < c.n;) {
      size_t j = llama3_match(&c, i, c.n, max_digits);
      int32_t whole = t->pre == TOK_PRE_LLAMA3 ? whole_piece_token(t, s + c.pos[i], c.pos[j] - c.pos[i]) : -1;
      if (whole == -2) goto done;
      if (whole >= 0 ? tok_vec_push(out, whole) : bpe_piece(t, s + c.pos[i], c.pos[j] - c.pos[i], out, &work))
        goto done;
      i = j;
    }
    rc = 0;
    goto done;
  }
  for (size_t i = 0; i < c.n;) {
    if (is_split_digit(c.cp[i])) { /* Digits(individual_digits): a piece of its own */
      if (bpe_piece(t, s + c.pos[i], c.pos[i + 1] - c.pos[i], out, &work)) goto done;
      i++;
      continue;
    }
    size_t e = i + 1;
    while (e < c.n && !is_split_digit(c.cp[e])) e++;
    while (i < e) { /* the regex sees only this digit-free stretch */
      size_t j = regex_match(&c, i, e);
      if (bpe_piece(t, s + c.pos[i], c.pos[j] - c.pos[i], out, &work)) goto done;
      i = j;
    }
  }
  rc = 0;
done:
  free(c.cp);
  free(c.pos);
  free(c.cls);
  free(work.id);
  free(work.heap);
  return rc;
}

int tok_encode(const tokenizer *t, const uint8_t *text, size_t len, int parse_special, tok_vec *out) {
  size_t start = 0;
  if (parse_special) {
    for (size_t i = 0; i < len; i++) {
      for (int32_t k = 0; k < t->n_special; k++) {
        gg_str sp = t->tok[t->special[k]];
        if (sp.len <= len - i && text[i] == sp.p[0] && memcmp(text + i, sp.p, sp.len) == 0) {
          if (encode_plain(t, text + start, i - start, out) || tok_vec_push(out, t->special[k])) return -1;
          i += sp.len - 1;
          start = i + 1;
          break;
        }
      }
    }
  }
  return encode_plain(t, text + start, len - start, out);
}
