/* Guest for the C++ embedding example: keeps A, B and C in its own memory and
 * multiplies them with the host's zw.matmul.
 *
 *   zerowasm cc examples/embed_cpp/matmul_guest.c -o matmul_guest.wasm */
#include <stdint.h>
#include <stdlib.h>

#include "zerowasm.h"

#define EXPORT(name) __attribute__((export_name(name)))

static float *a_buf, *b_buf, *c_buf;
static int32_t dims[3];

/* Allocates A[m,k], B[n,k] (weights layout) and C[m,n]; returns 0 or -1. */
EXPORT("setup") int32_t setup(int32_t m, int32_t n, int32_t k) {
  free(a_buf), free(b_buf), free(c_buf);
  a_buf = malloc((size_t)m * k * sizeof(float));
  b_buf = malloc((size_t)n * k * sizeof(float));
  c_buf = malloc((size_t)m * n * sizeof(float));
  dims[0] = m, dims[1] = n, dims[2] = k;
  return (a_buf && b_buf && c_buf) ? 0 : -1;
}

EXPORT("a_ptr") float *a_ptr(void) { return a_buf; }
EXPORT("b_ptr") float *b_ptr(void) { return b_buf; }
EXPORT("c_ptr") float *c_ptr(void) { return c_buf; }

/* C = A . B^T, computed by the host kernel on this module's own memory. */
EXPORT("run") void run(void) { zw_matmul(a_buf, b_buf, c_buf, dims[0], dims[1], dims[2], 0); }
