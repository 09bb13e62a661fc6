// Decoded arguments of the zw.* ops (kernel ABI v1), as backends receive them.
//
// Every pointer is a guest byte offset into memory 0 (`Offset`); a backend turns
// it into an address with its own view of the memory (host pointer, device
// pointer, or Metal buffer + offset). By the time a backend sees these structs,
// ops/validate has proved that every byte each argument implies lies inside the
// committed memory, alignment holds and outputs don't partially overlap inputs.
#pragma once

#include <cstdint>

namespace zw {

using Offset = uint64_t;  // guest offset widened, so offset + bytes never wraps

enum class DType : uint8_t { f32 = 0, f16 = 1, q8_0 = 2, q4_1 = 3 };
constexpr int kDTypeCount = 4;

// Bytes of one row of `cols` elements of `t` (cols % 32 == 0 for block types).
constexpr uint64_t row_bytes(DType t, uint64_t cols) {
  switch (t) {
    case DType::f32: return cols * 4;
    case DType::f16: return cols * 2;
    case DType::q8_0: return cols / 32 * 34;
    case DType::q4_1: return cols / 32 * 20;
  }
  return 0;
}
constexpr bool is_block_quantized(DType t) { return t == DType::q8_0 || t == DType::q4_1; }

// C[m,n] (+)= A[m,k] . B^T with B stored [n,k] in b_type.
struct MatmulArgs {
  Offset a, b, c;
  int32_t m, n, k;
  DType b_type;
  bool accumulate;
};

enum class Elementwise : uint8_t { add, mul, scale, gelu, silu };

// out[i] = f(a[i], b[i]); b is unused for the unary ops, s only for scale.
// out is either disjoint from the inputs or exactly equal to one of them.
struct ElementwiseArgs {
  Elementwise op;
  Offset a, b, out;
  int32_t n;
  float s;
};

// Per row: layernorm (x-mean)/sqrt(var+eps)*gamma+beta, or rmsnorm
// x/sqrt(mean(x^2)+eps)*gamma (beta unused). out may equal x exactly.
struct NormArgs {
  bool rms;
  Offset x, gamma, beta, out;
  int32_t rows, cols;
  float eps;
};

// Per row softmax(scale*x); causal: row r keeps cols <= r + (cols - rows), others 0.
struct SoftmaxArgs {
  Offset x, out;
  int32_t rows, cols;
  float scale;
  bool causal;
};

// x, out: [rows, heads, head_dim]; row r at position pos0 + r; frequency i is
// theta^(-2i/head_dim); adjacent: pairs (2i, 2i+1), else (i, i + head_dim/2).
struct RopeArgs {
  Offset x, out;
  int32_t rows, heads, head_dim, pos0;
  float theta;
  bool adjacent;
};

// q, out: [seq_q, heads, head_dim]; k, v: [seq_kv, kv_heads, head_dim].
// causal: query i sees keys j <= i + seq_kv - seq_q.
struct AttentionArgs {
  Offset q, k, v, out;
  int32_t seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  bool causal;
};

// out[i,:] = f32(table[ids[i],:]); ids already checked to lie in [0, rows).
struct GatherArgs {
  Offset table;
  int32_t rows;
  Offset ids, out;
  int32_t n, dim;
  DType type;
};

// Placement hints for managed memory; backends without one ignore them.
enum class Hint : uint8_t { prefetch_host, prefetch_device, read_mostly };
struct HintArgs {
  Hint hint;
  Offset ptr;
  uint64_t len;
};

}  // namespace zw
