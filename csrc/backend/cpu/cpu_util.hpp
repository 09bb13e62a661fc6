// Small helpers shared by the CPU kernel files.
#pragma once

#include <cstddef>
#include <new>

namespace zw::cpu {

// Compile a hot loop twice, baseline and AVX2+FMA, with the dynamic loader
// picking one at load time (GNU ifunc): vector speed without -march flags, so
// one binary runs on every x86-64. Elsewhere it is a plain function.
// ("arch=haswell" would be wrong: its resolver tests for a Haswell *model*,
// so AMD and newer Intel CPUs got the baseline clone; x86-64-v3 tests features.)
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    __GNUC__ >= 12
#define ZW_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define ZW_MULTIVERSION __attribute__((target_clones("avx2", "default")))
#else
#define ZW_MULTIVERSION
#endif

// For helpers that must be inlined into a ZW_MULTIVERSION body (so they get
// its ISA and vectorize with it) instead of being called per element.
#if defined(__GNUC__) || defined(__clang__)
#define ZW_INLINE inline __attribute__((always_inline))
#else
#define ZW_INLINE inline
#endif

// Dot product with eight independent partial sums: a fixed-width reduction
// the vectorizer maps to lanes without reassociating (which it may not do
// without fast-math). Inlined, it takes the ISA of the function it is in.
ZW_INLINE float dot_lanes8(const float* a, const float* b, int n) {
  float lanes[8] = {};
  int i = 0;
  for (; i + 8 <= n; i += 8)
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  float tail = 0.0f;
  for (; i < n; ++i) tail += a[i] * b[i];
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail;
}

// Per-thread scratch floats (64-byte aligned), grown on demand and kept, so
// kernels never allocate on the hot path. Use distinct `Slot` types for
// buffers that must be live at the same time.
template <class Slot>
float* scratch_floats(size_t count) {
  struct Buffer {
    float* data = nullptr;
    size_t cap = 0;
    ~Buffer() {
      if (data) ::operator delete(data, std::align_val_t{64});
    }
  };
  thread_local Buffer buf;
  if (count > buf.cap) {
    if (buf.data) ::operator delete(buf.data, std::align_val_t{64});
    buf.data = nullptr;
    buf.cap = 0;
    buf.data = static_cast<float*>(::operator new(count * sizeof(float), std::align_val_t{64}));
    buf.cap = count;
  }
  return buf.data;
}

}  // namespace zw::cpu
