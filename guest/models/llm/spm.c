/* SentencePiece-style tokenizer: see spm.h (the algorithm is llama.cpp's
 * llm_tokenizer_spm, so ids agree with llama.cpp's tokenize on the same file). */
#include "spm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4, TYPE_BYTE = 6 };

static uint32_t fnv(const uint8_t *p, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

static int32_t type_of(const spm_tokenizer *t, int32_t id) {
  int32_t ty;
  memcpy(&ty, t->types + 4 * (size_t)id, 4);
  return ty;
}

static float score_of(const spm_tokenizer *t, int32_t id) {
  float s;
  memcpy(&s, t->scores + 4 * (size_t)id, 4);
  return s;
}

int32_t spm_find(const spm_tokenizer *t, const uint8_t *s, size_t len) {
  for (uint32_t i = fnv(s, len) & t->mask;; i = (i + 1) & t->mask) {
    uint32_t slot = t->slots[i];
    if (!slot) return -1;
    gg_str o = t->tok[slot - 1];
    if (o.len == len && memcmp(o.p, s, len) == 0) return (int32_t)slot - 1;
  }
}

/* bytes of token `id` as text: U+2581 -> ' ' for normal tokens, <0xXX> -> the byte */
static size_t decoded(const spm_tokenizer *t, int32_t id, uint8_t *out) {
  gg_str s = t->tok[id];
  int32_t ty = type_of(t, id);
  if (ty == TYPE_BYTE && s.len == 6 && memcmp(s.p, "<0x", 3) == 0 && s.p[5] == '>') {
    unsigned v;
    char hex[3] = {(char)s.p[3], (char)s.p[4], 0};
    if (sscanf(hex, "%2x", &v) == 1) {
      out[0] = (uint8_t)v;
      return 1;
    }
  }
  size_t n = 0;
  for (uint32_t i = 0; i < s.len;) {
    if (ty == TYPE_NORMAL && i + 3 <= s.len && memcmp(s.p + i, "\xE2\x96\x81", 3) == 0) {
      out[n++] = ' ';
      i += 3;
    } else {
      out[n++] = s.p[i++];
    }
  }
  return n;
}

int spm_build(spm_tokenizer *t, const gg_file *f, char *err, size_t errlen) {
  memset(t, 0, sizeof *t);
  gg_str_iter it;
  uint64_t n, n_scores, n_types;
  if (gg_str_array(f, "tokenizer.ggml.tokens", &it, &n, err, errlen)) return -1;
  if (n == 0 || n > (1u << 24)) return gg_fail(err, errlen, "tokenizer: %llu tokens (1..2^24 allowed)", (unsigned long long)n);
  const gg_kv *sc = gg_find_kv(f, "tokenizer.ggml.scores");
  if (!sc || sc->type != GG_ARRAY || sc->arr_type != GG_F32)
    return gg_fail(err, errlen, "tokenizer: tokenizer.ggml.scores (f32 array) is missing");
  n_scores = sc->arr_count;
  if (gg_i32_array(f, "tokenizer.ggml.token_type", &t->types, &n_types, err, errlen)) return -1;
  if (n_scores != n || n_types != n)
    return gg_fail(err, errlen, "tokenizer: %llu tokens but %llu scores and %llu types", (unsigned long long)n,
                   (unsigned long long)n_scores, (unsigned long long)n_types);
  t->scores = sc->val;
  t->n_vocab = (int32_t)n;
  uint32_t slots = 64;
  while (slots < 2 * n) slots <<= 1;
  t->tok = malloc((size_t)n * sizeof(gg_str));
  t->slots = calloc(slots, sizeof(uint32_t));
  t->special = malloc((size_t)n * sizeof(int32_t));
  t->dec_off = malloc(((size_t)n + 1) * sizeof(uint32_t));
  t->mask = slots - 1;
  if (!t->tok || !t->slots || !t->special || !t->dec_off) goto oom;
  uint64_t total = 0;
  for (int32_t id = 0; id < t->n_vocab; id++) {
    gg_str s = gg_str_next(&it);
    t->tok[id] = s;
    total += s.len;
    uint32_t i = fnv(s.p, s.len) & t->mask;
    for (; t->slots[i]; i = (i + 1) & t->mask) {
      gg_str o = t->tok[t->slots[i] - 1];
      if (o.len == s.len && memcmp(o.p, s.p, s.len) == 0) break; /* duplicate: the last id wins, as llama.cpp */
    }
    t->slots[i] = (uint32_t)id + 1;
    int32_t ty = type_of(t, id);
    if ((ty == TYPE_CONTROL || ty == TYPE_USER_DEFINED || ty == TYPE_UNKNOWN) && s.len > 0)
      t->special[t->n_special++] = id;
  }
  if (total > UINT32_MAX - 1) return gg_fail(err, errlen, "tokenizer: token strings too large");
  t->dec = malloc(total ? (size_t)total : 1);
  if (!t->dec) goto oom;
  uint32_t pos = 0;
  for (int32_t id = 0; id < t->n_vocab; id++) {
    t->dec_off[id] = pos;
    pos += (uint32_t)decoded(t, id, t->dec + pos); /* never longer than the token string */
  }
  t->dec_off[t->n_vocab] = pos;
  for (int b = 0; b < 256; b++) {
    char name[8];
    snprintf(name, sizeof name, "<0x%02X>", b);
    t->byte_token[b] = spm_find(t, (const uint8_t *)name, 6);
    if (t->byte_token[b] < 0) {
      uint8_t c = (uint8_t)b;
      t->byte_token[b] = spm_find(t, &c, 1); /* llama.cpp's fallback; -1: the byte is dropped */
    }
  }
  /* longest first; stable among equal lengths (ids ascending), by merge sort */
  int32_t *tmp = malloc((size_t)(t->n_special ? t->n_special : 1) * sizeof(int32_t));
  if (!tmp) goto oom;
  for (int32_t w = 1; w < t->n_special; w *= 2) {
    for (int32_t lo = 0; lo < t->n_special; lo += 2 * w) {
      int32_t mid = lo + w < t->n_special ? lo + w : t->n_special;
      int32_t hi = lo + 2 * w < t->n_special ? lo + 2 * w : t->n_special;
      int32_t a = lo, b = mid, k = lo;
      while (a < mid && b < hi) tmp[k++] = t->tok[t->special[b]].len > t->tok[t->special[a]].len ? t->special[b++] : t->special[a++];
      while (a < mid) tmp[k++] = t->special[a++];
      while (b < hi) tmp[k++] = t->special[b++];
    }
    memcpy(t->special, tmp, (size_t)t->n_special * sizeof(int32_t));
  }
  free(tmp);
  t->add_space_prefix = 1; /* llama.cpp's default for this tokenizer model */
  const gg_kv *asp = gg_find_kv(f, "tokenizer.ggml.add_space_prefix");
  if (asp && asp->type == GG_BOOL) t->add_space_prefix = asp->val[0] != 0;
  return 0;
oom:
  spm_free(t);
  return gg_fail(err, errlen, "tokenizer: out of memory");
}

void spm_free(spm_tokenizer *t) {
  free(t->tok);
  free(t->slots);
  free(t->special);
  free(t->dec_off);
  free(t->dec);
  memset(t, 0, sizeof *t);
}

int32_t spm_decode(const spm_tokenizer *t, int32_t id, const uint8_t **bytes) {
  if (id < 0 || id >= t->n_vocab) return -1;
  *bytes = t->dec + t->dec_off[id];
  return (int32_t)(t->dec_off[id + 1] - t->dec_off[id]);
}

/* ---- one fragment: symbol merging ----------------------------------------------- */

typedef struct {
  float score;
  int32_t left, right;
  uint32_t size;
} bigram;

typedef struct {
  const uint8_t *text;
  uint32_t *start, *n;
  int32_t *prev, *next;
  bigram *heap;
  size_t heap_n;
} work;

static int bigram_before(const bigram *a, const bigram *b) { /* a pops first */
  return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(work *w, bigram g) {
  size_t i = w->heap_n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!bigram_before(&g, &w->heap[parent])) break;
    w->heap[i] = w->heap[parent];
    i = parent;
  }
  w->heap[i] = g;
}

static bigram heap_pop(work *w) {
  bigram top = w->heap[0], last = w->heap[--w->heap_n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= w->heap_n) break;
    if (child + 1 < w->heap_n && bigram_before(&w->heap[child + 1], &w->heap[child])) child++;
    if (!bigram_before(&w->heap[child], &last)) break;
    w->heap[i] = w->heap[child];
    i = child;
  }
  if (w->heap_n) w->heap[i] = last;
  return top;
}

static void try_bigram(const spm_tokenizer *t, work *w, int32_t left, int32_t right) {
  if (left < 0 || right < 0) return;
  uint32_t size = w->n[left] + w->n[right];
  int32_t id = spm_find(t, w->text + w->start[left], size);
  if (id < 0) return;
  heap_push(w, (bigram){score_of(t, id), left, right, size});
}

static int push_symbol(const spm_tokenizer *t, const uint8_t *s, uint32_t n, tok_vec *out) {
  int32_t id = spm_find(t, s, n);
  if (id >= 0) return tok_vec_push(out, id);
  for (uint32_t j = 0; j < n; j++) /* a symbol that is no token: its bytes */
    if (t->byte_token[s[j]] >= 0 && tok_vec_push(out, t->byte_token[s[j]])) return -1;
  return 0;
}

/* text is already escaped (spaces as U+2581) */
static int encode_fragment(const spm_tokenizer *t, const uint8_t *text, size_t len, tok_vec *out) {
  if (!len) return 0;
  static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  work w = {text, malloc(len * 4), malloc(len * 4), malloc(len * 4), malloc(len * 4), malloc(3 * len * sizeof(bigram)), 0};
  int rc = -1;
  if (!w.start || !w.n || !w.prev || !w.next || !w.heap) goto done;
  int32_t count = 0;
  for (size_t off = 0; off < len;) {
    size_t n = utf8_len[text[off] >> 4];
    if (n > len - off) n = len - off;
    w.start[count] = (uint32_t)off;
    w.n[count] = (uint32_t)n;
    w.prev[count] = count - 1;
    off += n;
    w.next[count] = off == len ? -1 : count + 1;
    count++;
  }
  for (int32_t i = 1; i < count; i++) try_bigram(t, &w, i - 1, i);
  while (w.heap_n) {
    bigram g = heap_pop(&w);
    if (w.n[g.left] == 0 || w.n[g.right] == 0 || w.n[g.left] + w.n[g.right] != g.size) continue; /* stale */
    w.n[g.left] += w.n[g.right];
    w.n[g.right] = 0;
    w.next[g.left] = w.next[g.right];
    if (w.next[g.right] >= 0) w.prev[w.next[g.right]] = g.left;
    try_bigram(t, &w, w.prev[g.left], g.left);
    try_bigram(t, &w, g.left, w.next[g.left]);
  }
  for (int32_t i = 0; i != -1; i = w.next[i])
    if (push_symbol(t, text + w.start[i], w.n[i], out)) goto done;
  rc = 0;
done:
  free(w.start);
  free(w.n);
  free(w.prev);
  free(w.next);
  free(w.heap);
  return rc;
}

/* ---- special tokens and escaping ------------------------------------------------ */

typedef struct {
  size_t start, len;
  int32_t token; /* -1: raw text */
} fragment;

typedef struct {
  fragment *f;
  size_t n, cap;
} fragments;

static int frag_insert(fragments *fs, size_t at, fragment x) {
  if (fs->n == fs->cap) {
    size_t cap = fs->cap ? 2 * fs->cap : 16;
    fragment *p = realloc(fs->f, cap * sizeof(fragment));
    if (!p) return -1;
    fs->f = p;
    fs->cap = cap;
  }
  memmove(fs->f + at + 1, fs->f + at, (fs->n - at) * sizeof(fragment));
  fs->f[at] = x;
  fs->n++;
  return 0;
}

/* Split every raw fragment at each occurrence of special token id (as
 * llama.cpp's tokenizer_st_partition). */
static int split_on(const spm_tokenizer *t, const uint8_t *text, fragments *fs, int32_t id) {
  gg_str sp = t->tok[id];
  for (size_t k = 0; k < fs->n; k++) {
    fragment fr = fs->f[k];
    if (fr.token >= 0 || fr.len < sp.len) continue;
    for (size_t i = fr.start; i + sp.len <= fr.start + fr.len; i++) {
      if (text[i] != sp.p[0] || memcmp(text + i, sp.p, sp.len) != 0) continue;
      /* [fr.start, i) raw, the token, then the rest (examined next round) */
      size_t end = fr.start + fr.len;
      size_t at = k;
      if (i > fr.start) {
        fs->f[at] = (fragment){fr.start, i - fr.start, -1};
        if (frag_insert(fs, ++at, (fragment){i, sp.len, id})) return -1;
      } else {
        fs->f[at] = (fragment){i, sp.len, id};
      }
      if (i + sp.len < end && frag_insert(fs, at + 1, (fragment){i + sp.len, end - i - sp.len, -1})) return -1;
      k = at; /* the loop moves on to the rest */
      break;
    }
  }
  return 0;
}

int spm_encode(const spm_tokenizer *t, const uint8_t *text, size_t len, int parse_special, tok_vec *out) {
  fragments fs = {0};
  uint8_t *buf = NULL;
  int rc = -1;
  if (!len) return 0; /* as llama.cpp: no text, no fragments, no tokens */
  if (frag_insert(&fs, 0, (fragment){0, len, -1})) goto done;
  for (int32_t k = 0; k < t->n_special && len; k++) {
    int32_t id = t->special[k], ty = type_of(t, id);
    if (!parse_special && ty != TYPE_USER_DEFINED) continue;
    if (split_on(t, text, &fs, id)) goto done;
  }
  buf = malloc(3 * len + 4); /* every byte may become U+2581, plus the prefix */
  if (!buf) goto done;
  int prev_special = 1;
  for (size_t k = 0; k < fs.n; k++) {
    fragment fr = fs.f[k];
    if (fr.token >= 0) {
      if (tok_vec_push(out, fr.token)) goto done;
      prev_special = 1;
      continue;
    }
    size_t n = 0;
    if (t->add_space_prefix && prev_special) memcpy(buf + n, "\xE2\x96\x81", 3), n += 3;
    for (size_t i = fr.start; i < fr.start + fr.len; i++) {
      if (text[i] == ' ') memcpy(buf + n, "\xE2\x96\x81", 3), n += 3;
      else buf[n++] = text[i];
    }
    if (encode_fragment(t, buf, n, out)) goto done;
    prev_special = 0;
  }
  rc = 0;
done:
  free(fs.f);
  free(buf);
  return rc;
}
