// Push-constant blocks of the Vulkan shaders, as the host writes them.
//
// Each shader declares the same fields in the same order in its
// `layout(push_constant)` block (std430: 8-byte addresses first, then 4-byte
// fields, no padding), named after these structs; the static_asserts pin the
// sizes both sides agree on. Addresses are buffer device addresses.
#pragma once

#include <cstdint>

namespace zw::vk {

struct ElementwisePush {  // shaders/elementwise.comp
  uint64_t a, b, out;
  uint32_t n;
  float s;
  uint32_t op;  // ZW_VK_EW_* in shaders/common.glsl
  uint32_t pad;
};

struct NormPush {  // shaders/norm.comp
  uint64_t x, gamma, beta, out;
  uint32_t rows, cols;
  float eps;
  uint32_t rms;
};

struct SoftmaxPush {  // shaders/softmax.comp
  uint64_t x, out;
  uint32_t rows, cols;
  float scale;
  uint32_t causal;
};

// freqs: head_dim/2 (hi, lo) float pairs of theta^(-2i/head_dim), from doubles;
// factors: 0, or head_dim/2 f32 divisors of those (zw.rope_factors, in guest memory).
struct RopePush {  // shaders/rope.comp
  uint64_t x, out, freqs, factors;
  uint32_t rows, heads, head_dim, pos0;
  uint32_t adjacent, pad;
};

struct AttentionPush {  // shaders/attention.comp
  uint64_t q, k, v, out;
  uint32_t seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  uint32_t flags, pad;  // ZW_CAUSAL | ZW_KV_F16
};

struct GatherPush {  // shaders/gather.comp
  uint64_t table, ids, out, row_bytes;
  uint32_t rows, n, dim, pad;
};

struct MatmulPush {  // shaders/gemv.comp, shaders/gemm.comp
  uint64_t a, b, c, b_row_bytes;
  uint32_t m, n, k, accumulate;
};

static_assert(sizeof(ElementwisePush) == 40);
static_assert(sizeof(NormPush) == 48);
static_assert(sizeof(SoftmaxPush) == 32);
static_assert(sizeof(RopePush) == 56);
static_assert(sizeof(AttentionPush) == 64);
static_assert(sizeof(GatherPush) == 48);
static_assert(sizeof(MatmulPush) == 48);

// Geometry the host and the shaders share.
constexpr uint32_t kGroupThreads = 256;      // elementwise, rope, norm, softmax
constexpr uint32_t kAttentionMaxHeadDim = 1024;  // shared-memory q and accumulator
constexpr uint32_t kGemvMaxM = 8;            // gemv.comp handles m <= this
constexpr uint32_t kGemvThreads = 64;        // gemv.comp: one output column per invocation
constexpr uint32_t kGemmTileRows = 32;       // gemm.comp: 32 x 64 outputs per group
constexpr uint32_t kGemmTileCols = 64;

}  // namespace zw::vk
