// Syntax probe: csrc/kernels/kernel_math.h as the shaders include it.
#include "zw_metal_common.h"
float probe(float x) { return zw_gelu(x) + zw_silu(x) + zw_gelu_tanh(x); }
