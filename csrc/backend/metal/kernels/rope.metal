// zw.rope: rotary position embedding over x [rows, heads, head_dim].
//
// One thread per rotated pair (pair choice, frequency and rotation come from
// the shared kernel math). Precision: Metal has no doubles, and a float angle
// pos * freq loses about pos * 6e-8 rad. Instead the host sends each
// frequency as a float pair hi + lo (computed in double); the kernel forms
// pos * (hi + lo) as an unevaluated float sum (the product error of pos * hi
// is exact with fma) and subtracts the nearest multiple of 2*pi in two parts,
// so sin/cos see an angle within ~1e-7 rad of the exact one for any
// pos < 2^24. Exact aliasing out == x is safe: a thread reads its pair before
// writing it, and pairs are disjoint.
//
// x [[buffer(0)]], out [[buffer(1)]], params [[buffer(2)]],
// freqs [[buffer(3)]]: head_dim/2 (hi, lo) pairs when params.has_freq_table,
// factors [[buffer(4)]]: head_dim/2 divisors of the frequencies when
// params.has_factors (zw.rope_factors; the pair is divided as a pair).
#include "zw_metal_common.h"

// 2*pi = ZW_TWO_PI_HI + ZW_TWO_PI_LO (ZW_TWO_PI_HI is 2*pi rounded to float).
#define ZW_TWO_PI_HI 6.2831854820251465f
#define ZW_TWO_PI_LO -1.7484556025237907e-07f
#define ZW_INV_TWO_PI 0.15915494309189535f

// cos and sin of pos * (f_hi + f_lo).
inline float2 zw_rope_cos_sin(float pos, float f_hi, float f_lo) {
  const float a_hi = pos * f_hi;
  const float a_lo = fma(pos, f_hi, -a_hi) + pos * f_lo;  // a_hi + a_lo ~ pos * freq
  const float turns = rint(a_hi * ZW_INV_TWO_PI);
  // a_hi - turns*2pi is small, so one fma rounding costs at most ~1.2e-7 rad.
  float r = fma(-turns, ZW_TWO_PI_HI, a_hi);
  r = fma(-turns, ZW_TWO_PI_LO, r) + a_lo;
  return float2(precise::cos(r), precise::sin(r));
}

kernel void zwk_rope(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                     constant ZwRopeParams& p [[buffer(2)]], constant float* freqs [[buffer(3)]],
                     device const float* factors [[buffer(4)]], uint gid [[thread_position_in_grid]], uint grid [[threads_per_grid]]) {
  const uint half_dim = p.head_dim / 2;
  const uint pairs = p.rows * p.heads * half_dim;
  const bool adjacent = p.adjacent != 0;
  for (uint idx = gid; idx < pairs; idx += grid) {
    const uint i = idx % half_dim;
    const uint vec = idx / half_dim;  // index of the (row, head) vector
    const uint row = vec / p.heads;
    const uint base = vec * p.head_dim;
    const uint first = base + uint(zw_rope_first(int(i), int(p.head_dim), adjacent));
    const uint second = base + uint(zw_rope_second(int(i), int(p.head_dim), adjacent));

    float f_hi, f_lo;
    if (p.has_freq_table != 0) {
      f_hi = freqs[2 * i];
      f_lo = freqs[2 * i + 1];
    } else {
      f_hi = zw_rope_inv_freq(int(i), int(p.head_dim), p.theta);
      f_lo = 0.0f;
    }
    if (p.has_factors != 0) {  // (hi + lo) / factor: the quotient, then its remainder's share
      const float factor = factors[i];
      const float q = f_hi / factor;
      f_lo = (fma(-q, factor, f_hi) + f_lo) / factor;
      f_hi = q;
    }
    const float2 cs = zw_rope_cos_sin(float(p.pos0 + row), f_hi, f_lo);
    const zw_pair y = zw_rope_rotate(x[first], x[second], cs.x, cs.y);
    out[first] = y.first;
    out[second] = y.second;
  }
}
