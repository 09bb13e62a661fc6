// Row kernels: one block per row, block-wide reductions. out may be exactly x:
// every reduction finishes (with a barrier) before the final pass, in which
// each element is read and written by the same thread.
#ifndef ZEROWASM_CUDA_NORM_SOFTMAX_CUH
#define ZEROWASM_CUDA_NORM_SOFTMAX_CUH

#include "backend/cuda/kernels/common.cuh"

// layernorm: (x - mean) / sqrt(var + eps) * gamma + beta (population variance,
// two passes so large means don't cancel); rmsnorm: x / sqrt(mean(x^2) + eps) * gamma.
ZW_GLOBAL void zw_norm(zw_cuda::NormParams p) {
  using namespace zw_cuda;
  const int64_t row = blockIdx.x;
  const int cols = p.cols;
  const float* x = ptr<const float>(p.x) + row * cols;
  float* out = ptr<float>(p.out) + row * cols;
  const float* gamma = ptr<const float>(p.gamma);
  const float* beta = ptr<const float>(p.beta);
  const int tid = threadIdx.x, threads = blockDim.x;

  float mean = 0.0f;
  if (!p.rms) {
    float sum = 0.0f;
    for (int c = tid; c < cols; c += threads) sum += x[c];
    mean = block_sum(sum) / static_cast<float>(cols);
  }
  float squares = 0.0f;
  for (int c = tid; c < cols; c += threads) {
    float d = x[c] - mean;
    squares += d * d;
  }
  const float inv = 1.0f / sqrtf(block_sum(squares) / static_cast<float>(cols) + p.eps);
  for (int c = tid; c < cols; c += threads) {
    float y = (x[c] - mean) * inv * gamma[c];
    if (!p.rms) y += beta[c];
    out[c] = y;
  }
}

// Row r: softmax(scale * x). Causal keeps cols c <= r + (cols - rows); the
// rest (and a row with nothing kept) become 0.
ZW_GLOBAL void zw_softmax(zw_cuda::SoftmaxParams p) {
  using namespace zw_cuda;
  const int64_t row = blockIdx.x;
  const int cols = p.cols;
  const float* x = ptr<const float>(p.x) + row * cols;
  float* out = ptr<float>(p.out) + row * cols;
  const int tid = threadIdx.x, threads = blockDim.x;

  int kept = cols;
  if (p.causal) {
    int64_t last = row + (static_cast<int64_t>(cols) - p.rows);
    kept = last < 0 ? 0 : (last >= cols ? cols : static_cast<int>(last + 1));
  }
  float mx = -INFINITY;
  for (int c = tid; c < kept; c += threads) mx = fmaxf(mx, p.scale * x[c]);
  mx = block_max(mx);
  float sum = 0.0f;
  for (int c = tid; c < kept; c += threads) sum += zw_expf(p.scale * x[c] - mx);
  const float inv = 1.0f / block_sum(sum);
  for (int c = tid; c < cols; c += threads) out[c] = c < kept ? zw_expf(p.scale * x[c] - mx) * inv : 0.0f;
}

#endif  // ZEROWASM_CUDA_NORM_SOFTMAX_CUH
