// Syntax probe: csrc/kernels/kernel_math.h is valid Metal on its own.
#include <metal_stdlib>
using namespace metal;
#include "kernel_math.h"
