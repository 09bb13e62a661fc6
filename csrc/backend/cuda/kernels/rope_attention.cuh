// Rotary embedding and scaled dot-product attention.
#ifndef ZEROWASM_CUDA_ROPE_ATTENTION_CUH
#define ZEROWASM_CUDA_ROPE_ATTENTION_CUH

#include "backend/cuda/kernels/common.cuh"

// One thread per rotated pair. The angle pos * theta^(-2i/d) is formed and
// reduced in f64 (kernel_math.h's zw_rope_angle_f64, but with a 64-bit
// position so pos0 + row cannot overflow): in f32 its error grows with pos. out may be exactly x: a
// thread reads both elements of its pair before writing them.
ZW_GLOBAL void zw_rope(zw_cuda::RopeParams p) {
  using namespace zw_cuda;
  constexpr double kInvPi = 0.318309886183790671537767526745;
  const int head_dim = p.head_dim, half = head_dim / 2;
  const int64_t pairs = static_cast<int64_t>(p.rows) * p.heads * half;
  const float* x = ptr<const float>(p.x);
  float* out = ptr<float>(p.out);
  const float* factors = p.factors ? ptr<const float>(p.factors) : nullptr;
  const bool adjacent = p.adjacent != 0;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < pairs;
       idx += stride) {
    const int i = static_cast<int>(idx % half);
    const int64_t vec = idx / half;  // row * heads + head
    const int64_t pos = p.pos0 + vec / p.heads;
    // In units of pi: sincospi reduces its argument exactly, so no slow
    // large-argument path (and no local memory) is compiled in.
    double freq = pow(static_cast<double>(p.theta), -static_cast<double>(2 * i) / head_dim);
    if (factors) freq /= static_cast<double>(factors[i]);
    const double turns = static_cast<double>(pos) * (freq * kInvPi);
    double s, c;
    sincospi(turns, &s, &c);
    const int64_t base = vec * head_dim;
    // adjacent (GGUF): pair (2i, 2i+1); otherwise (i, i + head_dim/2).
    const int64_t first = base + (adjacent ? 2 * i : i);
    const int64_t second = base + (adjacent ? 2 * i + 1 : i + half);
    const float x0 = x[first], x1 = x[second];
    const float cf = static_cast<float>(c), sf = static_cast<float>(s);
    out[first] = x0 * cf - x1 * sf;
    out[second] = x0 * sf + x1 * cf;
  }
}

// One block per (query, head): scores for a chunk of keys go to shared memory
// (a warp per key, lanes over head_dim), then an online softmax folds the chunk
// into running max / sum / output accumulators, so any seq_kv works with fixed
// shared memory. Causal: query i sees keys j <= i + seq_kv - seq_q; a query
// that sees no key gets zeros. GQA: head h reads kv head h / (heads / kv_heads).
// K/V are f32, or binary16 with kv_f16 (an f16 KV cache), read by element index.
namespace zw_cuda {
ZW_DEVICE_FN float kv_at(DevPtr base, int64_t idx, bool f16) {
  if (f16) return zw_f16_to_f32(ptr<const zw_u16>(base)[idx]);
  return ptr<const float>(base)[idx];
}
}  // namespace zw_cuda

ZW_GLOBAL void ZW_LAUNCH_BOUNDS(zw_cuda::kAttentionThreads) zw_attention(zw_cuda::AttentionParams p) {
  using namespace zw_cuda;
  ZW_DYNAMIC_SHARED(float, smem);
  const int hd = p.head_dim;
  float* q_s = smem;            // [hd]
  float* acc = smem + hd;       // [hd] running sum of p_j * v_j
  float* probs = smem + 2 * hd; // [chunk]

  const int64_t query = blockIdx.x / p.heads;
  const int head = static_cast<int>(blockIdx.x % p.heads);
  const int kv_head = head / (p.heads / p.kv_heads);
  const int tid = threadIdx.x, threads = blockDim.x;
  const int lane = tid & 31, warp = tid >> 5, warps = threads >> 5;

  int64_t keys = p.seq_kv;
  if (p.causal) {
    int64_t last = query + p.seq_kv - p.seq_q;
    keys = last < 0 ? 0 : (last + 1 < keys ? last + 1 : keys);
  }
  const float* q = ptr<const float>(p.q) + (query * p.heads + head) * hd;
  const int64_t kv_head_at = static_cast<int64_t>(kv_head) * hd;  // element index in key 0
  const bool f16 = p.kv_f16 != 0;
  const int64_t kv_stride = static_cast<int64_t>(p.kv_heads) * hd;  // between consecutive keys
  float* out = ptr<float>(p.out) + (query * p.heads + head) * hd;

  for (int d = tid; d < hd; d += threads) {
    q_s[d] = q[d];
    acc[d] = 0.0f;
  }
  zw_sync_block();

  float running_max = -INFINITY, running_sum = 0.0f;  // identical in every thread
  for (int64_t c0 = 0; c0 < keys; c0 += p.chunk) {
    const int n = static_cast<int>(keys - c0 < p.chunk ? keys - c0 : p.chunk);
    for (int j = warp; j < n; j += warps) {
      const int64_t kj = kv_head_at + (c0 + j) * kv_stride;
      float dot = 0.0f;
      for (int d = lane; d < hd; d += 32) dot += q_s[d] * kv_at(p.k, kj + d, f16);
      dot = warp_sum(dot);
      if (lane == 0) probs[j] = p.scale * dot;
    }
    zw_sync_block();
    float chunk_max = -INFINITY;
    for (int j = tid; j < n; j += threads) chunk_max = fmaxf(chunk_max, probs[j]);
    chunk_max = block_max(chunk_max);
    const float new_max = fmaxf(running_max, chunk_max);
    const float correction = zw_expf(running_max - new_max);  // 0 on the first chunk
    float chunk_sum = 0.0f;
    for (int j = tid; j < n; j += threads) {
      float e = zw_expf(probs[j] - new_max);
      probs[j] = e;
      chunk_sum += e;
    }
    chunk_sum = block_sum(chunk_sum);  // its barriers also publish probs[]
    running_sum = running_sum * correction + chunk_sum;
    running_max = new_max;
    for (int d = tid; d < hd; d += threads) {
      float a = acc[d] * correction;
      const int64_t vd = kv_head_at + c0 * kv_stride + d;
      for (int j = 0; j < n; ++j) a += probs[j] * kv_at(p.v, vd + j * kv_stride, f16);
      acc[d] = a;
    }
    zw_sync_block();  // probs[] is rewritten by the next chunk
  }
  const float inv = keys > 0 ? 1.0f / running_sum : 0.0f;
  for (int d = tid; d < hd; d += threads) out[d] = acc[d] * inv;
}

#endif  // ZEROWASM_CUDA_ROPE_ATTENTION_CUH
