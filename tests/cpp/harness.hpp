// Shared pieces of the native tests: a guest-memory arena, random data, an
// independent half decoder, and result reporting. (Op results are checked in
// Python against numpy float64: tests/ops_harness.py.)
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "memory/linear_memory.hpp"

namespace zwtest {

using zw::Offset;

// Bump allocator over one LinearMemory, handing out guest offsets like a guest would.
class Arena {
 public:
  explicit Arena(zw::LinearMemory& mem) : mem_(mem) {}
  Offset alloc(size_t bytes, size_t align = 64) {
    next_ = (next_ + align - 1) / align * align;
    Offset off = next_;
    next_ += bytes;
    if (next_ > mem_.committed()) mem_.grow_to((next_ + 0xffff) / 0x10000 * 0x10000);
    return off;
  }
  template <class T>
  T* at(Offset off) const { return reinterpret_cast<T*>(mem_.base() + off); }
  template <class T>
  Offset put(const std::vector<T>& v) {
    Offset off = alloc(v.size() * sizeof(T));
    std::memcpy(at<T>(off), v.data(), v.size() * sizeof(T));
    return off;
  }
  template <class T>
  std::vector<T> get(Offset off, size_t n) const {
    std::vector<T> v(n);
    std::memcpy(v.data(), at<T>(off), n * sizeof(T));
    return v;
  }
  void reset() { next_ = 64; }  // keep offset 0 unused, like a real guest

 private:
  zw::LinearMemory& mem_;
  Offset next_ = 64;
};

inline std::mt19937& rng() {
  static std::mt19937 g(12345);
  return g;
}
inline std::vector<float> randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng());
  return v;
}
inline int randint(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); }

// Independent IEEE half decode (ldexp based, not the bit tricks under test).
inline double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
  double v;
  if (exp == 31) v = mant ? NAN : INFINITY;
  else if (exp == 0) v = std::ldexp(mant, -24);
  else v = std::ldexp(1024 + mant, exp - 25);
  return sign ? -v : v;
}
// A random finite half with a modest magnitude (for block scales).
inline uint16_t random_half_scale(double lo, double hi) {
  for (;;) {
    uint16_t h = static_cast<uint16_t>(randint(0, 0xffff));
    double v = std::fabs(half_to_double(h));
    if (v >= lo && v <= hi) return h;
  }
}

// `rows` random rows of `cols` elements in a weight dtype, as stored (block
// scales are finite halves of a modest magnitude).
inline std::vector<uint8_t> random_weights(zw::DType t, int rows, int cols) {
  std::vector<uint8_t> bytes(zw::row_bytes(t, cols) * rows);
  uint8_t* p = bytes.data();
  auto put16 = [&](uint16_t h) { p[0] = h & 0xff; p[1] = h >> 8; p += 2; };
  for (int r = 0; r < rows; ++r) {
    if (t == zw::DType::f32) {
      std::vector<float> f = randn(cols);
      std::memcpy(p, f.data(), cols * 4);
      p += cols * 4;
    } else if (t == zw::DType::f16) {
      for (int c = 0; c < cols; ++c)
        put16(random_half_scale(1e-3, 4.0) | static_cast<uint16_t>(randint(0, 1) << 15));
    } else {
      for (int b = 0; b < cols / 32; ++b) {
        put16(random_half_scale(1e-3, 0.1));
        if (t == zw::DType::q4_1) put16(random_half_scale(1e-3, 1.0) | static_cast<uint16_t>(0x8000));
        for (int j = 0; j < (t == zw::DType::q8_0 ? 32 : 16); ++j) *p++ = static_cast<uint8_t>(randint(0, 255));
      }
    }
  }
  return bytes;
}

struct Tally {
  int passed = 0, failed = 0;
};
inline Tally& tally() {
  static Tally t;
  return t;
}
inline void check(bool ok, const std::string& what) {
  if (ok) {
    ++tally().passed;
  } else {
    ++tally().failed;
    std::printf("FAIL %s\n", what.c_str());
  }
}
// The exit status of a test binary: prints the tally, 0 when nothing failed.
inline int report() {
  std::printf("%d passed, %d failed\n", tally().passed, tally().failed);
  return tally().failed == 0 && tally().passed > 0 ? 0 : 1;
}

}  // namespace zwtest
