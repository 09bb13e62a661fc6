// kernel_math.h's scalar functions (CTest `kernel_math`): fp16 conversion
// bit-exactness (exhaustive where it is cheap, every rounding tie otherwise) and
// the accuracy of exp/erf/GELU/SiLU against the C library in double.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "harness.hpp"
#include "kernels/kernel_math.h"

using namespace zwtest;

namespace {

float bits_f(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }

// Round a double to the nearest half (ties to even) by value, independently
// of the bit manipulation under test; returns the half's value.
double nearest_half_value(double x) {
  double a = std::fabs(x);
  if (a >= 65520.0) return std::copysign(INFINITY, x);
  int e = a == 0 ? -14 : std::max(std::ilogb(a), -14);
  double ulp = std::ldexp(1.0, e - 10);
  return std::copysign(std::nearbyint(a / ulp) * ulp, x);
}

void check_to_half(float f, int& bad, std::string& first) {
  uint16_t h = zw_f32_to_f16(f);
  double got = half_to_double(h), want = nearest_half_value(f);
  bool ok = std::isnan(f) ? std::isnan(got)
                          : got == want && std::signbit(got) == std::signbit(static_cast<double>(f));
  if (!ok && bad++ == 0) first = std::to_string(f);
}

void test_fp16() {
  int bad = 0;
  for (uint32_t h = 0; h <= 0xffff; ++h) {  // every half decodes exactly
    double want = half_to_double(static_cast<uint16_t>(h));
    float got = zw_f16_to_f32(static_cast<uint16_t>(h));
    bool ok = std::isnan(want) ? std::isnan(got)
                               : got == want && std::signbit(got) == std::signbit(want);
    if (!ok) ++bad;
    if (!std::isnan(want) && zw_f32_to_f16(got) != h) ++bad;  // and round-trips
  }
  check(bad == 0, "f16->f32 exhaustive + round trip, bad=" + std::to_string(bad));

  // Every tie between adjacent halves (and its neighbours), both signs.
  bad = 0;
  std::string first;
  for (uint32_t h = 0; h < 0x7c00; ++h) {
    double lo = half_to_double(static_cast<uint16_t>(h));
    double hi = h + 1 == 0x7c00 ? 65536.0 : half_to_double(static_cast<uint16_t>(h + 1));
    float mid = static_cast<float>((lo + hi) / 2);  // exact: needs 12 significant bits
    for (float f : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, INFINITY)}) {
      check_to_half(f, bad, first);
      check_to_half(-f, bad, first);
    }
  }
  // A sweep over all f32 exponents with scattered mantissas, plus specials.
  for (uint64_t u = 0; u <= 0xffffffffull; u += 4093) check_to_half(bits_f(static_cast<uint32_t>(u)), bad, first);
  for (float f : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 65504.0f, 65519.996f, 65520.0f, 1e-8f,
                  2.98023224e-8f /* 2^-25: tie -> 0 */, 2.9802326e-8f, 1e-45f, 3.4e38f})
    check_to_half(f, bad, first);
  check(bad == 0, "f32->f16 rounding, bad=" + std::to_string(bad) + " first=" + first);
  check((zw_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (zw_f32_to_f16(NAN) & 0x3ff) != 0,
        "f32->f16 keeps NaN a NaN");
}

template <class F, class R>
double max_rel(F f, R ref, double lo, double hi, int steps, double floor_mag) {
  double worst = 0;
  for (int i = 0; i <= steps; ++i) {
    float x = static_cast<float>(lo + (hi - lo) * i / steps);
    double want = ref(static_cast<double>(x));
    double err = std::fabs(static_cast<double>(f(x)) - want) / std::max(std::fabs(want), floor_mag);
    worst = std::max(worst, err);
  }
  return worst;
}

void test_scalar_math() {
  auto exp_ref = [](double x) { return std::exp(x); };
  double e = max_rel(zw_expf, exp_ref, -87.0, 88.7, 2000000, 0.0);
  check(e < 4e-7, "zw_expf rel " + std::to_string(e));
  check(zw_expf(-INFINITY) == 0.0f && std::isinf(zw_expf(INFINITY)) && std::isnan(zw_expf(NAN)) &&
            std::isinf(zw_expf(89.0f)) && zw_expf(-100.0f) == 0.0f,
        "zw_expf specials");
  e = max_rel(zw_erf, [](double x) { return std::erf(x); }, -8.0, 8.0, 1000000, 1.0);
  check(e < 3e-7, "zw_erf abs " + std::to_string(e));
  e = max_rel(zw_erf, [](double x) { return std::erf(x); }, -1.0, 1.0, 1000000, 0.0);
  check(e < 5e-7, "zw_erf rel near 0 " + std::to_string(e));
  // erfc form: 1 + erf(x) cancels to 0 in double long before the true value underflows.
  auto gelu_ref = [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); };
  e = max_rel(zw_gelu, gelu_ref, -12.0, 12.0, 2000000, 1.0);
  check(e < 5e-7, "zw_gelu error (relative above |1|, absolute below) " + std::to_string(e));
  e = max_rel(zw_gelu, gelu_ref, -4.0, 12.0, 2000000, 1e-30);
  check(e < 3e-6, "zw_gelu per-element rel on [-4, 12] " + std::to_string(e));
  // Deep negative tail (|gelu| < 1e-4): x^2/2 rounded to f32 costs ~x^2 * 6e-8
  // relative inside exp; still far below 1e-5 of any tensor's max.
  e = max_rel(zw_gelu, gelu_ref, -13.0, -4.0, 2000000, 1e-30);
  check(e < 3e-5, "zw_gelu per-element rel on [-13, -4] " + std::to_string(e));
  auto silu_ref = [](double x) { return x / (1.0 + std::exp(-x)); };
  e = max_rel(zw_silu, silu_ref, -80.0, 80.0, 2000000, 1e-30);
  check(e < 1e-6, "zw_silu rel " + std::to_string(e));
  // Tanh GELU: x * sigmoid(2y) in double is the same function without 1 + tanh's cancellation.
  auto gelu_tanh_ref = [](double x) {
    return x / (1.0 + std::exp(-2.0 * std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  };
  e = max_rel(zw_gelu_tanh, gelu_tanh_ref, -12.0, 12.0, 2000000, 1.0);
  check(e < 5e-7, "zw_gelu_tanh error (relative above |1|, absolute below) " + std::to_string(e));
  // Negative tail (values below 1e-28 at x = -9): the f32 roundings of x^3 and 2y (|2y| ~ 66
  // there) show as ~2 * |2y| * 6e-8 relative through exp; far below 1e-5 of any tensor's max.
  e = max_rel(zw_gelu_tanh, gelu_tanh_ref, -9.0, 12.0, 2000000, 1e-30);
  check(e < 2e-5, "zw_gelu_tanh per-element rel on [-9, 12] " + std::to_string(e));
  check(zw_gelu_tanh(0.0f) == 0.0f && std::isinf(zw_gelu_tanh(INFINITY)) && zw_gelu_tanh(-1000.0f) == 0.0f,
        "gelu_tanh specials");
  check(zw_gelu(0.0f) == 0.0f && zw_silu(0.0f) == 0.0f && std::isinf(zw_gelu(INFINITY)) &&
            zw_silu(-1000.0f) == 0.0f,
        "gelu/silu specials");
}

}  // namespace

int main() {
  test_fp16();
  test_scalar_math();
  return report();
}
