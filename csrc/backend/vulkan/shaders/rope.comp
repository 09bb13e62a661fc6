// zw.rope over x [rows, heads, head_dim], one invocation per rotated pair.
// With -DZW_ROPE_F64 (devices with shaderFloat64) freqs holds doubles and the
// angle is formed and reduced mod 2*pi in double: exact to f32 rounding at any
// position. Without doubles the host sends each frequency as a float pair
// hi + lo (computed in double); pos * (hi + lo) is formed as an unevaluated
// sum and the nearest multiple of 2*pi is removed in two parts, so cos/sin see
// the angle within ~1e-7 rad for any position below 2^24. The products' rounding
// errors come from Dekker's exact product (two_prod), not from fma: a driver may
// split fma into a multiply and an add (lavapipe does), which loses ~pos * 6e-8 rad.
// zw.rope_factors divides each frequency by its factor (guest memory) before
// that, as a float pair too. Exact aliasing out == x is safe (each pair is read,
// then written, by one invocation; pairs are disjoint).
#version 460
#include "common.glsl"

layout(local_size_x = 256) in;
layout(push_constant) uniform Push {  // vk_params.h RopePush
  uint64_t x, out_, freqs, factors;
  uint rows, heads, head_dim, pos0;
  uint adjacent, pad;
} p;

#ifdef ZW_ROPE_F64
layout(buffer_reference, std430, buffer_reference_align = 8) buffer F64 { double v[]; };
#endif

#define ZW_TWO_PI_HI 6.2831854820251465
#define ZW_TWO_PI_LO -1.7484556025237907e-07
#define ZW_INV_TWO_PI 0.15915494309189535

// Vulkan only promises 2^-11 absolute error for the built-in sin/cos, so they
// are computed here: quadrant reduction to |t| <= pi/4, then Taylor series
// (truncation below 1e-11) of degree 11 (sin) and 12 (cos).
#define ZW_PI_2_HI 1.5707963705062866
#define ZW_PI_2_LO -4.3711388286737929e-08
vec2 zw_cos_sin(float r) {
  float q = roundEven(r * 0.63661977236758134);
  precise float t = fma(-q, ZW_PI_2_HI, r);
  t = fma(-q, ZW_PI_2_LO, t);
  float t2 = t * t;
  float s = t * (1.0 + t2 * (-1.0 / 6.0 + t2 * (1.0 / 120.0 + t2 * (-1.0 / 5040.0 + t2 * (1.0 / 362880.0 +
            t2 * (-1.0 / 39916800.0))))));
  float c = 1.0 + t2 * (-0.5 + t2 * (1.0 / 24.0 + t2 * (-1.0 / 720.0 + t2 * (1.0 / 40320.0 +
            t2 * (-1.0 / 3628800.0 + t2 * (1.0 / 479001600.0))))));
  int quadrant = int(q) & 3;
  if (quadrant == 0) return vec2(c, s);
  if (quadrant == 1) return vec2(-s, c);
  if (quadrant == 2) return vec2(-c, -s);
  return vec2(s, -c);
}

// a * b = p + e exactly (Dekker: each factor split into 12-bit halves whose
// products are exact; no fma needed, `precise` keeps the compiler from fusing or
// reordering). |a|, |b| < 2^100 here, so nothing overflows.
void two_prod(float a, float b, out float p, out float e) {
  precise float prod = a * b;
  precise float ca = 4097.0 * a;
  precise float ah = ca - (ca - a);
  precise float al = a - ah;
  precise float cb = 4097.0 * b;
  precise float bh = cb - (cb - b);
  precise float bl = b - bh;
  precise float err = ((ah * bh - prod) + ah * bl + al * bh) + al * bl;
  p = prod;
  e = err;
}

vec2 rope_cos_sin(float pos, float f_hi, float f_lo) {
  float a_hi, a_err;
  two_prod(pos, f_hi, a_hi, a_err);
  precise float a_lo = a_err + pos * f_lo;  // a_hi + a_lo ~ pos * (f_hi + f_lo)
  float turns = roundEven(a_hi * ZW_INV_TWO_PI);
  float t_hi, t_err;
  two_prod(turns, ZW_TWO_PI_HI, t_hi, t_err);
  // a_hi - t_hi is exact: turns >= 1 puts them within a factor of 2 (Sterbenz).
  precise float r = (a_hi - t_hi) - t_err;
  r = (r - turns * ZW_TWO_PI_LO) + a_lo;
  return zw_cos_sin(r);
}

void main() {
  uint half_dim = p.head_dim / 2u;
  uint pairs = p.rows * p.heads * half_dim;
  F32 x = F32(p.x);
  F32 o = F32(p.out_);
  F32 f = F32(p.freqs);
  uint stride = gl_NumWorkGroups.x * 256u;
  for (uint idx = gl_GlobalInvocationID.x; idx < pairs; idx += stride) {
    uint i = idx % half_dim;
    uint vec_ = idx / half_dim;
    uint row = vec_ / p.heads;
    uint base = vec_ * p.head_dim;
    uint first = base + (p.adjacent != 0u ? 2u * i : i);
    uint second = base + (p.adjacent != 0u ? 2u * i + 1u : i + half_dim);
#ifdef ZW_ROPE_F64
    double freq = F64(p.freqs).v[i];
    if (p.factors != 0ul) freq /= double(F32(p.factors).v[i]);
    double angle = double(p.pos0 + row) * freq;
    vec2 cs = zw_cos_sin(float(angle - 6.283185307179586 * floor(angle / 6.283185307179586 + 0.5)));
#else
    float f_hi = f.v[2u * i], f_lo = f.v[2u * i + 1u];
    if (p.factors != 0ul) {  // (hi + lo) / factor as a pair: the quotient and its remainder's share
      float factor = F32(p.factors).v[i];
      precise float q = f_hi / factor;
      float qf, qf_err;
      two_prod(q, factor, qf, qf_err);
      precise float rem = ((f_hi - qf) - qf_err) + f_lo;  // f_hi - qf exact: qf ~ f_hi
      f_hi = q;
      f_lo = rem / factor;
    }
    vec2 cs = rope_cos_sin(float(p.pos0 + row), f_hi, f_lo);
#endif
    float x0 = x.v[first];
    float x1 = x.v[second];
    o.v[first] = x0 * cs.x - x1 * cs.y;
    o.v[second] = x0 * cs.y + x1 * cs.x;
  }
}
