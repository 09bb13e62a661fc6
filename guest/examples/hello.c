/* hello.c: the smallest zerowasm guest. No kernels, so it also runs in any
 * plain Wasm runtime. It exports one function per value type (i32, i64, f32,
 * f64) plus a memory round trip through dot().
 *
 *   zerowasm cc guest/examples/hello.c -o hello.wasm
 *
 * Reactor module: call _initialize once before anything else (zerowasm does). */
#include <stdint.h>
#include <stdlib.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("add") int32_t add(int32_t a, int32_t b) { return a + b; }

EXPORT("mul64") int64_t mul64(int64_t a, int64_t b) { return a * b; }

EXPORT("axpb") double axpb(double a, double x, double b) { return a * x + b; }

/* Sum of x[i] * y[i], accumulated in double so the result is the correctly
 * rounded float of a nearly exact sum. x and y are offsets into this module's
 * memory, e.g. from alloc(). */
EXPORT("dot") float dot(const float *x, const float *y, int32_t n) {
  double sum = 0.0;
  for (int32_t i = 0; i < n; i++) sum += (double)x[i] * (double)y[i];
  return (float)sum;
}

/* Host code asks the guest for memory and fills it in place (no copies). */
EXPORT("alloc") void *alloc(int32_t bytes) { return malloc((size_t)bytes); }
EXPORT("release") void release(void *p) { free(p); }
