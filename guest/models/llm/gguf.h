/* GGUF (v2/v3) parser over a file image in this module's memory.
 *
 * The file is untrusted: every count, length, offset and size read from it is
 * checked against the bytes that remain before it is used, with arithmetic
 * that cannot overflow (compare `n > size - pos`, never `pos + n > size`).
 * Nothing is copied: keys, strings and tensor data are pointers into the
 * image, which must stay in place for as long as the parsed file is used. */
#ifndef LLM_GGUF_H
#define LLM_GGUF_H

#include <stddef.h>
#include <stdint.h>

/* Value types of metadata entries (GGUF spec). */
enum gg_vtype {
  GG_U8 = 0, GG_I8 = 1, GG_U16 = 2, GG_I16 = 3, GG_U32 = 4, GG_I32 = 5, GG_F32 = 6,
  GG_BOOL = 7, GG_STRING = 8, GG_ARRAY = 9, GG_U64 = 10, GG_I64 = 11, GG_F64 = 12,
  GG_VTYPE_COUNT = 13,
};

/* Tensor types we can size (ggml numbering). Others are accepted in the file
 * but flagged unsized: only a model that needs them rejects them. */
enum gg_ttype {
  GG_T_F32 = 0, GG_T_F16 = 1, GG_T_Q4_0 = 2, GG_T_Q4_1 = 3, GG_T_Q5_0 = 6, GG_T_Q5_1 = 7, GG_T_Q8_0 = 8,
  GG_T_Q2_K = 10, GG_T_Q3_K = 11, GG_T_Q4_K = 12, GG_T_Q5_K = 13, GG_T_Q6_K = 14, GG_T_BF16 = 30,
};

#define GG_MAX_DIMS 4

typedef struct {
  const uint8_t *p; /* not NUL-terminated */
  uint32_t len;
} gg_str;

typedef struct {
  gg_str key;
  uint32_t type;       /* enum gg_vtype */
  uint32_t arr_type;   /* element type when type == GG_ARRAY */
  uint64_t arr_count;  /* element count when type == GG_ARRAY */
  const uint8_t *val;  /* scalar value, string (u64 length first) or first array element */
  uint64_t val_bytes;  /* bytes from val to the end of the value */
} gg_kv;

typedef struct {
  gg_str name;
  uint32_t n_dims;
  uint64_t ne[GG_MAX_DIMS]; /* ne[0] is the row length; missing dims are 1 */
  uint32_t type;            /* enum gg_ttype (or unknown) */
  uint64_t offset;          /* from the start of the data section, as in the file */
  uint64_t nbytes;          /* 0 when the type is unsized */
  const uint8_t *data;      /* NULL when the type is unsized */
} gg_tensor;

typedef struct {
  const uint8_t *base;
  uint64_t size;
  uint32_t version;
  uint64_t n_kv, n_tensors;
  gg_kv *kv;
  gg_tensor *tensors;
  uint64_t alignment;
} gg_file;

/* Parse; 0 on success, else -1 with a message in err. On failure nothing
 * needs freeing; on success call gg_free. */
int gg_parse(gg_file *f, const uint8_t *base, uint64_t size, char *err, size_t errlen);
void gg_free(gg_file *f);

const gg_kv *gg_find_kv(const gg_file *f, const char *key);
const gg_tensor *gg_find_tensor(const gg_file *f, const char *name);

/* Typed metadata getters: 0 on success, -1 (message in err) when the key is
 * missing or has another type. Integer getters accept any integer type whose
 * value fits. */
int gg_get_u32(const gg_file *f, const char *key, uint32_t *out, char *err, size_t errlen);
int gg_get_f32(const gg_file *f, const char *key, float *out, char *err, size_t errlen);
int gg_get_str(const gg_file *f, const char *key, gg_str *out, char *err, size_t errlen);

/* Walks an array of strings element by element; each string was already
 * checked by gg_parse, so this cannot run past the file. */
typedef struct {
  const uint8_t *p;
  uint64_t left;
} gg_str_iter;
int gg_str_array(const gg_file *f, const char *key, gg_str_iter *it, uint64_t *count, char *err,
                 size_t errlen);
gg_str gg_str_next(gg_str_iter *it);

/* Array of i32/u32 (unaligned: read elements with memcpy). */
int gg_i32_array(const gg_file *f, const char *key, const uint8_t **data, uint64_t *count, char *err,
                 size_t errlen);

int gg_str_eq(gg_str s, const char *lit);

/* Formats a message into err (when err and errlen are nonzero) and returns -1:
   `return gg_fail(err, errlen, "...", ...);` (shared with the tokenizer). */
int gg_fail(char *err, size_t errlen, const char *fmt, ...);

/* s as NUL-terminated printable ASCII for messages (others become '?'); returns buf. */
const char *gg_printable(gg_str s, char *buf, size_t size);

#endif
