/* column_reduce.c: reductions over float32 columns that the host placed in
 * this guest's memory (e.g. the value buffers of an Arrow table mapped or
 * copied in by zerowasm.interop_arrow), computed by host kernels in place.
 *
 *   zerowasm cc guest/examples/column_reduce.c -o column_reduce.wasm
 *
 * zw_matmul with m = n = 1 is a dot product of two k-vectors (C[1,1] =
 * A[1,k] . B[1,k]^T), so a sum is a dot product with a vector of ones and a
 * sum of products is one matmul over the two columns themselves. */
#include <stdint.h>
#include <stdlib.h>

#include "zerowasm.h"

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("alloc") void *alloc(int32_t bytes) { return malloc((size_t)bytes); }
EXPORT("release") void release(void *p) { free(p); }

/* sum(x[0..n)) by the host kernel; NaN if n < 0 or the ones vector cannot be allocated. */
EXPORT("column_sum") double column_sum(const float *x, int32_t n) {
  if (n < 0) return __builtin_nan("");
  if (n == 0) return 0.0;
  float *ones = malloc((size_t)n * sizeof(float));
  if (!ones) return __builtin_nan("");
  for (int32_t i = 0; i < n; i++) ones[i] = 1.0f;
  float out = 0.0f;
  zw_matmul(ones, x, &out, 1, 1, n, ZW_B_DTYPE(ZW_F32));
  zw_sync(); /* `out` is read here, in the guest */
  free(ones);
  return out;
}

/* sum(x[i] * y[i]) by the host kernel; NaN if n < 0. */
EXPORT("column_dot") double column_dot(const float *x, const float *y, int32_t n) {
  if (n < 0) return __builtin_nan("");
  if (n == 0) return 0.0;
  float out = 0.0f;
  zw_matmul(x, y, &out, 1, 1, n, ZW_B_DTYPE(ZW_F32));
  zw_sync();
  return out;
}

/* mean(x) = column_sum / n, the guest's own arithmetic on the kernel's result. */
EXPORT("column_mean") double column_mean(const float *x, int32_t n) {
  return n > 0 ? column_sum(x, n) / (double)n : __builtin_nan("");
}
