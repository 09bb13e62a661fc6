/* vec_add.c: a guest that keeps its data in its own memory and runs a host
 * kernel on it in place.
 *
 *   zerowasm cc guest/examples/vec_add.c -o vec_add.wasm
 *
 * The pointers passed to zw_add are offsets into this module's memory; with
 * zerowasm that memory is what the CPU/GPU kernel reads and writes. */
#include <stdint.h>
#include <stdlib.h>

#include "zerowasm.h"

#define EXPORT(name) __attribute__((export_name(name)))

/* Host code may fill buffers it gets from here, in place. */
EXPORT("alloc") void *alloc(int32_t bytes) { return malloc((size_t)bytes); }
EXPORT("release") void release(void *p) { free(p); }

/* out = a + b by the host kernel, then a checksum computed by the guest itself:
 * reading out[] here is only correct after zw_sync(). Returns sum(out[i]) in
 * double. */
EXPORT("add_sum") double add_sum(const float *a, const float *b, float *out, int32_t n) {
  zw_add(a, b, out, n);
  zw_sync();
  double sum = 0.0;
  for (int32_t i = 0; i < n; i++) sum += out[i];
  return sum;
}

/* Self-contained demo: two vectors allocated and filled in guest memory,
 * a[i] = i, b[i] = 0.5, so the checksum is n(n-1)/2 + n/2 = n*n/2 (exact in
 * float for n <= 4096). Returns -1 if allocation fails. */
EXPORT("run") double run(int32_t n) {
  float *a = malloc((size_t)n * sizeof(float));
  float *b = malloc((size_t)n * sizeof(float));
  float *out = malloc((size_t)n * sizeof(float));
  double sum = -1.0;
  if (a && b && out) {
    for (int32_t i = 0; i < n; i++) {
      a[i] = (float)i;
      b[i] = 0.5f;
    }
    sum = add_sum(a, b, out, n);
  }
  free(a);
  free(b);
  free(out);
  return sum;
}
