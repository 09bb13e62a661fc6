// Softmax building blocks shared by zw.softmax (row_ops.cpp) and the
// online softmax of attention (attention.cpp). Defined in row_ops.cpp.
#pragma once

namespace zw::cpu {

// max over i < n of scale * x[i] (-inf for n == 0).
float row_max_scaled(const float* x, int n, float scale);

// out[i] = exp(scale * x[i] - m) for i < n (out may equal x); returns the sum
// in double (eight lanes: exact enough for any row length).
double exp_row(const float* x, float* out, int n, float scale, float m);

}  // namespace zw::cpu
