// The one translation unit nvcc compiles into the embedded fatbin (cubins for
// sm_80 and sm_90 plus compute_90 PTX). Kernels are extern "C" so the host
// finds them by the plain names listed in kernel_params.h.
#include "backend/cuda/kernels/elementwise.cuh"
#include "backend/cuda/kernels/gather.cuh"
#include "backend/cuda/kernels/matmul.cuh"
#include "backend/cuda/kernels/norm_softmax.cuh"
#include "backend/cuda/kernels/rope_attention.cuh"
