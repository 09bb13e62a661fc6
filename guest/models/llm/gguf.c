/* GGUF parser: see gguf.h. Layout (little-endian):
 *   "GGUF" u32 version u64 n_tensors u64 n_kv
 *   n_kv x { string key, u32 type, value }
 *   n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding to `general.alignment` (default 32), then tensor data;
 *   string = u64 length + bytes; array = u32 elem type, u64 count, elems. */
#include "gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GG_DEFAULT_ALIGNMENT 32u

typedef struct {
  const uint8_t *base;
  uint64_t size, pos;
  char *err;
  size_t errlen;
} cursor;

int gg_fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

const char *gg_printable(gg_str s, char *buf, size_t size) {
  size_t n = 0;
  for (; n < s.len && n + 1 < size; n++) buf[n] = (s.p[n] >= 0x20 && s.p[n] < 0x7f) ? (char)s.p[n] : '?';
  if (size) buf[n] = 0;
  return buf;
}

static uint64_t left(const cursor *c) { return c->size - c->pos; }

static int need(cursor *c, uint64_t n, const char *what) {
  if (n > left(c))
    return gg_fail(c->err, c->errlen, "gguf: %s at byte %llu needs %llu bytes, only %llu left", what,
                (unsigned long long)c->pos, (unsigned long long)n, (unsigned long long)left(c));
  return 0;
}

static uint32_t load_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static uint64_t load_u64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) {
  if (need(c, 4, what)) return -1;
  *v = load_u32(c->base + c->pos);
  c->pos += 4;
  return 0;
}

static int rd_u64(cursor *c, uint64_t *v, const char *what) {
  if (need(c, 8, what)) return -1;
  *v = load_u64(c->base + c->pos);
  c->pos += 8;
  return 0;
}

static int rd_str(cursor *c, gg_str *s, const char *what) {
  uint64_t n;
  if (rd_u64(c, &n, what)) return -1;
  if (n > left(c) || n > UINT32_MAX)
    return gg_fail(c->err, c->errlen, "gguf: %s length %llu at byte %llu runs past the end of the file",
                what, (unsigned long long)n, (unsigned long long)(c->pos - 8));
  s->p = c->base + c->pos;
  s->len = (uint32_t)n;
  c->pos += n;
  return 0;
}

static uint64_t scalar_size(uint32_t t) {
  switch (t) {
    case GG_U8: case GG_I8: case GG_BOOL: return 1;
    case GG_U16: case GG_I16: return 2;
    case GG_U32: case GG_I32: case GG_F32: return 4;
    case GG_U64: case GG_I64: case GG_F64: return 8;
    default: return 0;
  }
}

/* Skip one value of type t, checking every length; arrays of arrays are
 * rejected (no model needs them and they would make this recursive). */
static int skip_value(cursor *c, uint32_t t, gg_kv *kv) {
  if (t == GG_STRING) {
    gg_str s;
    return rd_str(c, &s, "string value");
  }
  if (t == GG_ARRAY) {
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "array type") || rd_u64(c, &n, "array count")) return -1;
    if (kv) {
      kv->arr_type = et;
      kv->arr_count = n;
      kv->val = c->base + c->pos;
    }
    if (et == GG_STRING) {
      /* each string takes >= 8 bytes: bound the count before looping */
      if (n > left(c) / 8)
        return gg_fail(c->err, c->errlen, "gguf: string array of %llu elements cannot fit in %llu bytes",
                    (unsigned long long)n, (unsigned long long)left(c));
      for (uint64_t i = 0; i < n; i++) {
        gg_str s;
        if (rd_str(c, &s, "array string")) return -1;
      }
      return 0;
    }
    uint64_t es = scalar_size(et);
    if (!es)
      return gg_fail(c->err, c->errlen, "gguf: array element type %u is not supported", (unsigned)et);
    if (n > left(c) / es)
      return gg_fail(c->err, c->errlen, "gguf: array of %llu x %llu-byte elements runs past the end of the file",
                  (unsigned long long)n, (unsigned long long)es);
    c->pos += n * es;
    return 0;
  }
  uint64_t es = scalar_size(t);
  if (!es) return gg_fail(c->err, c->errlen, "gguf: unknown value type %u", (unsigned)t);
  if (need(c, es, "scalar value")) return -1;
  c->pos += es;
  return 0;
}

/* Bytes of a tensor of type t with `n` elements whose rows have ne0 values;
 * 0 for types we do not know (or that do not divide into blocks). */
static uint64_t tensor_bytes(uint32_t t, uint64_t n, uint64_t ne0, int *bad_block) {
  uint64_t block = 1, bytes = 0;
  switch (t) {
    case GG_T_F32: bytes = 4; break;
    case GG_T_F16: bytes = 2; break;
    case GG_T_Q4_0: block = 32; bytes = 18; break;
    case GG_T_Q4_1: block = 32; bytes = 20; break;
    case GG_T_Q8_0: block = 32; bytes = 34; break;
    case GG_T_Q5_0: block = 32; bytes = 22; break;
    case GG_T_Q5_1: block = 32; bytes = 24; break;
    case GG_T_BF16: bytes = 2; break;
    /* K-quants: super-blocks of 256 values */
    case GG_T_Q2_K: block = 256; bytes = 84; break;
    case GG_T_Q3_K: block = 256; bytes = 110; break;
    case GG_T_Q4_K: block = 256; bytes = 144; break;
    case GG_T_Q5_K: block = 256; bytes = 176; break;
    case GG_T_Q6_K: block = 256; bytes = 210; break;
    default: return 0;
  }
  if (ne0 % block) {
    *bad_block = 1;
    return 0;
  }
  /* n <= 2^56 (checked by the caller) and bytes / block <= 4: n / block * bytes fits */
  return n / block * bytes;
}

static int parse_tensor_info(cursor *c, gg_tensor *t, uint64_t index) {
  char name[64];
  if (rd_str(c, &t->name, "tensor name") || rd_u32(c, &t->n_dims, "tensor n_dims")) return -1;
  if (t->n_dims == 0 || t->n_dims > GG_MAX_DIMS)
    return gg_fail(c->err, c->errlen, "gguf: tensor %llu has %u dimensions (1..%d allowed)",
                (unsigned long long)index, (unsigned)t->n_dims, GG_MAX_DIMS);
  uint64_t numel = 1;
  for (int d = 0; d < GG_MAX_DIMS; d++) t->ne[d] = 1;
  for (uint32_t d = 0; d < t->n_dims; d++) {
    if (rd_u64(c, &t->ne[d], "tensor dimension")) return -1;
    /* numel <= 2^56 keeps numel * bytes-per-element far from overflow */
    if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 56) / numel)
      return gg_fail(c->err, c->errlen, "gguf: tensor '%s' dimension %u = %llu is zero or overflows",
                  gg_printable(t->name, name, sizeof name), (unsigned)d, (unsigned long long)t->ne[d]);
    numel *= t->ne[d];
  }
  if (rd_u32(c, &t->type, "tensor type") || rd_u64(c, &t->offset, "tensor offset")) return -1;
  int bad_block = 0;
  t->nbytes = tensor_bytes(t->type, numel, t->ne[0], &bad_block);
  if (bad_block)
    return gg_fail(c->err, c->errlen, "gguf: tensor '%s' row length %llu is not a multiple of its block",
                gg_printable(t->name, name, sizeof name), (unsigned long long)t->ne[0]);
  t->data = NULL; /* set once the data section is known */
  return 0;
}

int gg_parse(gg_file *f, const uint8_t *base, uint64_t size, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  cursor c = {base, size, 0, err, errlen};
  uint32_t magic;
  if (!base) return gg_fail(err, errlen, "gguf: no file");
  if (rd_u32(&c, &magic, "magic")) return -1;
  if (magic != 0x46554747u) /* "GGUF" */
    return gg_fail(err, errlen, "gguf: bad magic 0x%08x (not a GGUF file)", (unsigned)magic);
  if (rd_u32(&c, &f->version, "version")) return -1;
  if (f->version != 2 && f->version != 3)
    return gg_fail(err, errlen, "gguf: version %u is not supported (2 or 3)", (unsigned)f->version);
  if (rd_u64(&c, &f->n_tensors, "tensor count") || rd_u64(&c, &f->n_kv, "metadata count")) return -1;
  /* smallest kv: 8-byte key length + 4-byte type + 1-byte value; smallest
   * tensor info: 8 + 4 + 8 + 4 + 8 bytes. Bound counts before allocating. */
  if (f->n_kv > left(&c) / 13)
    return gg_fail(err, errlen, "gguf: metadata count %llu cannot fit in a %llu-byte file",
                (unsigned long long)f->n_kv, (unsigned long long)size);
  if (f->n_tensors > left(&c) / 32)
    return gg_fail(err, errlen, "gguf: tensor count %llu cannot fit in a %llu-byte file",
                (unsigned long long)f->n_tensors, (unsigned long long)size);
  f->base = base;
  f->size = size;
  f->kv = calloc(f->n_kv ? (size_t)f->n_kv : 1, sizeof(gg_kv));
  f->tensors = calloc(f->n_tensors ? (size_t)f->n_tensors : 1, sizeof(gg_tensor));
  if (!f->kv || !f->tensors) {
    gg_free(f);
    return gg_fail(err, errlen, "gguf: out of memory for %llu entries", (unsigned long long)(f->n_kv + f->n_tensors));
  }
  for (uint64_t i = 0; i < f->n_kv; i++) {
    gg_kv *kv = &f->kv[i];
    if (rd_str(&c, &kv->key, "metadata key") || rd_u32(&c, &kv->type, "metadata type")) goto bad;
    kv->val = base + c.pos;
    uint64_t start = c.pos;
    if (skip_value(&c, kv->type, kv)) goto bad;
    if (kv->type != GG_ARRAY) kv->val = base + start;
    kv->val_bytes = c.pos - (uint64_t)(kv->val - base);
  }
  f->alignment = GG_DEFAULT_ALIGNMENT;
  const gg_kv *al = gg_find_kv(f, "general.alignment");
  if (al) {
    if (al->type != GG_U32) {
      gg_fail(err, errlen, "gguf: general.alignment has type %u, expected u32", (unsigned)al->type);
      goto bad;
    }
    uint32_t a = load_u32(al->val);
    if (a == 0 || (a & (a - 1)) || a > 65536) {
      gg_fail(err, errlen, "gguf: general.alignment %u is not a power of two <= 65536", (unsigned)a);
      goto bad;
    }
    f->alignment = a;
  }
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (parse_tensor_info(&c, &f->tensors[i], i)) goto bad;
  /* data section starts at the next multiple of the alignment */
  uint64_t data_start = c.pos + (f->alignment - c.pos % f->alignment) % f->alignment;
  if (data_start > size) {
    gg_fail(err, errlen, "gguf: data section (byte %llu) starts past the end of the %llu-byte file",
         (unsigned long long)data_start, (unsigned long long)size);
    goto bad;
  }
  uint64_t data_size = size - data_start;
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    gg_tensor *t = &f->tensors[i];
    uint64_t off = t->offset;
    if (!t->nbytes) continue; /* unsized type: never read, so never pointed at */
    if (off % f->alignment || off > data_size || t->nbytes > data_size - off) {
      char name[64];
      gg_fail(err, errlen, "gguf: tensor '%s' [offset %llu, %llu bytes] lies outside the %llu-byte data section "
           "or is misaligned", gg_printable(t->name, name, sizeof name), (unsigned long long)off,
           (unsigned long long)t->nbytes, (unsigned long long)data_size);
      goto bad;
    }
    t->data = base + data_start + off;
  }
  return 0;
bad:
  gg_free(f);
  return -1;
}

void gg_free(gg_file *f) {
  free(f->kv);
  free(f->tensors);
  f->kv = NULL;
  f->tensors = NULL;
  f->n_kv = f->n_tensors = 0;
}

int gg_str_eq(gg_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.len == n && memcmp(s.p, lit, n) == 0;
}

const gg_kv *gg_find_kv(const gg_file *f, const char *key) {
  for (uint64_t i = 0; i < f->n_kv; i++)
    if (gg_str_eq(f->kv[i].key, key)) return &f->kv[i];
  return NULL;
}

const gg_tensor *gg_find_tensor(const gg_file *f, const char *name) {
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (gg_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
  return NULL;
}

static const gg_kv *need_kv(const gg_file *f, const char *key, char *err, size_t errlen) {
  const gg_kv *kv = gg_find_kv(f, key);
  if (!kv) gg_fail(err, errlen, "gguf: metadata key '%s' is missing", key);
  return kv;
}

int gg_get_u32(const gg_file *f, const char *key, uint32_t *out, char *err, size_t errlen) {
  const gg_kv *kv = need_kv(f, key, err, errlen);
  if (!kv) return -1;
  uint64_t v;
  switch (kv->type) {
    case GG_U8: v = kv->val[0]; break;
    case GG_U16: { uint16_t x; memcpy(&x, kv->val, 2); v = x; break; }
    case GG_U32: v = load_u32(kv->val); break;
    case GG_U64: v = load_u64(kv->val); break;
    case GG_I32: { int32_t x; memcpy(&x, kv->val, 4); if (x < 0) goto range; v = (uint64_t)x; break; }
    case GG_I64: { int64_t x; memcpy(&x, kv->val, 8); if (x < 0) goto range; v = (uint64_t)x; break; }
    default: return gg_fail(err, errlen, "gguf: metadata '%s' has type %u, expected an integer", key, (unsigned)kv->type);
  }
  if (v > UINT32_MAX) goto range;
  *out = (uint32_t)v;
  return 0;
range:
  return gg_fail(err, errlen, "gguf: metadata '%s' is out of range", key);
}

int gg_get_f32(const gg_file *f, const char *key, float *out, char *err, size_t errlen) {
  const gg_kv *kv = need_kv(f, key, err, errlen);
  if (!kv) return -1;
  if (kv->type == GG_F32) {
    memcpy(out, kv->val, 4);
  } else if (kv->type == GG_F64) {
    double d;
    memcpy(&d, kv->val, 8);
    *out = (float)d;
  } else {
    return gg_fail(err, errlen, "gguf: metadata '%s' has type %u, expected f32", key, (unsigned)kv->type);
  }
  return 0;
}

int gg_get_str(const gg_file *f, const char *key, gg_str *out, char *err, size_t errlen) {
  const gg_kv *kv = need_kv(f, key, err, errlen);
  if (!kv) return -1;
  if (kv->type != GG_STRING)
    return gg_fail(err, errlen, "gguf: metadata '%s' has type %u, expected string", key, (unsigned)kv->type);
  out->len = (uint32_t)load_u64(kv->val); /* checked by gg_parse */
  out->p = kv->val + 8;
  return 0;
}

int gg_str_array(const gg_file *f, const char *key, gg_str_iter *it, uint64_t *count, char *err,
                 size_t errlen) {
  const gg_kv *kv = need_kv(f, key, err, errlen);
  if (!kv) return -1;
  if (kv->type != GG_ARRAY || kv->arr_type != GG_STRING)
    return gg_fail(err, errlen, "gguf: metadata '%s' is not an array of strings", key);
  it->p = kv->val;
  it->left = kv->arr_count;
  *count = kv->arr_count;
  return 0;
}

gg_str gg_str_next(gg_str_iter *it) {
  gg_str s = {0, 0};
  if (!it->left) return s;
  s.len = (uint32_t)load_u64(it->p);
  s.p = it->p + 8;
  it->p += 8 + (uint64_t)s.len;
  it->left--;
  return s;
}

int gg_i32_array(const gg_file *f, const char *key, const uint8_t **data, uint64_t *count, char *err,
                 size_t errlen) {
  const gg_kv *kv = need_kv(f, key, err, errlen);
  if (!kv) return -1;
  if (kv->type != GG_ARRAY || (kv->arr_type != GG_I32 && kv->arr_type != GG_U32))
    return gg_fail(err, errlen, "gguf: metadata '%s' is not an array of 32-bit integers", key);
  *data = kv->val;
  *count = kv->arr_count;
  return 0;
}
