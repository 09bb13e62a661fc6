// Decoded arguments of the zw.* ops (kernel ABI v1), as backends receive them.
//
// Every tensor argument is an `Operand`: its guest byte offset into memory 0 and
// the number of bytes the op reads or writes there, both computed once by
// ops/validate. A backend turns the offset into an address with its own view of
// the memory (host pointer, device pointer, or Metal buffer + offset) and uses
// `bytes` wherever it needs the extent (binding, residency), never recomputing
// it. By the time a backend sees these structs, ops/validate has proved that
// every operand lies inside the committed memory, alignment holds and outputs
// don't partially overlap inputs.
#pragma once

#include <cstdint>

// The ABI numbers (dtype codes, flag bits, block layouts) are defined only
// there. Included by relative path so every compiler that sees this file
// (the library, tests, tools) finds it without an extra include directory.
#include "../../guest/include/zerowasm_abi.h"

namespace zw {

using Offset = uint64_t;  // guest offset widened, so offset + bytes never wraps

// A validated byte range [offset, offset + bytes) of guest memory. Not an
// aggregate on purpose: `MatmulArgs{off_a, off_b, ...}` with bare offsets must
// not compile by brace elision into {offset, bytes} pairs.
struct Operand {
  Offset offset = 0;
  uint64_t bytes = 0;

  constexpr Operand() = default;
  constexpr Operand(Offset offset_, uint64_t bytes_) : offset(offset_), bytes(bytes_) {}
  constexpr Offset end() const { return offset + bytes; }
};

enum class DType : uint8_t {
  f32 = ZW_DTYPE_F32,
  f16 = ZW_DTYPE_F16,
  q8_0 = ZW_DTYPE_Q8_0,
  q4_1 = ZW_DTYPE_Q4_1,
  q4_0 = ZW_DTYPE_Q4_0,
  q5_0 = ZW_DTYPE_Q5_0,
  q4_k = ZW_DTYPE_Q4_K,
  q5_k = ZW_DTYPE_Q5_K,
  q6_k = ZW_DTYPE_Q6_K,
};
constexpr int kDTypeCount = ZW_DTYPE_COUNT;  // codes are 0 .. kDTypeCount-1
constexpr uint64_t kQBlock = ZW_QBLOCK;       // values per (sub-)block every quantized row dequantizes in
constexpr uint64_t kQK_K = ZW_QK_K;           // values per K-quant super-block

// Values per block of `t` (1 for f32/f16): row lengths must be multiples of it.
constexpr uint64_t block_values(DType t) {
  switch (t) {
    case DType::f32:
    case DType::f16: return 1;
    case DType::q8_0:
    case DType::q4_1:
    case DType::q4_0:
    case DType::q5_0: return kQBlock;
    case DType::q4_k:
    case DType::q5_k:
    case DType::q6_k: return kQK_K;
  }
  return 1;
}

// Bytes per block of `t` (per element for f32/f16).
constexpr uint64_t block_bytes(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f16: return 2;
    case DType::q8_0: return ZW_Q8_0_BYTES;
    case DType::q4_1: return ZW_Q4_1_BYTES;
    case DType::q4_0: return ZW_Q4_0_BYTES;
    case DType::q5_0: return ZW_Q5_0_BYTES;
    case DType::q4_k: return ZW_Q4_K_BYTES;
    case DType::q5_k: return ZW_Q5_K_BYTES;
    case DType::q6_k: return ZW_Q6_K_BYTES;
  }
  return 0;
}

// Alignment a tensor of `t` must start at: f32 4; f16 and every block type 2
// (the block sizes are even and kernels read f16 fields byte-wise).
constexpr uint64_t dtype_align(DType t) { return t == DType::f32 ? 4 : 2; }

// Bytes of one row of `cols` elements of `t` (cols % block_values(t) == 0).
constexpr uint64_t row_bytes(DType t, uint64_t cols) { return cols / block_values(t) * block_bytes(t); }
constexpr bool is_block_quantized(DType t) { return block_values(t) > 1; }

// Flag words and codes of the ops, as the guest passes them.
namespace abi {
constexpr int kVersion = ZW_ABI_VERSION;
constexpr uint32_t kMatmulAccumulate = ZW_ACCUMULATE;
constexpr uint32_t kMatmulDTypeMask = ZW_B_DTYPE_MASK;
constexpr int kMatmulDTypeShift = ZW_B_DTYPE_SHIFT;
constexpr uint32_t kCausal = ZW_CAUSAL;             // softmax, attention
constexpr uint32_t kKvF16 = ZW_KV_F16;              // attention
constexpr uint32_t kRopeAdjacent = ZW_ROPE_ADJACENT;
constexpr int32_t kPrefetchHost = ZW_HOST;           // zw.prefetch `where`
constexpr int32_t kPrefetchDevice = ZW_DEVICE;
constexpr int32_t kAdviseReadMostly = ZW_ADVISE_READ_MOSTLY;  // zw.advise `advice`
static_assert(kMatmulDTypeMask >> kMatmulDTypeShift >= uint32_t(kDTypeCount - 1),
              "every dtype code must fit matmul's dtype field");
}  // namespace abi

// C[m,n] (+)= A[m,k] . B^T with B stored [n,k] in b_type.
// a: m*k f32, b: n rows of b_row_bytes (= row_bytes(b_type, k)), c: m*n f32.
struct MatmulArgs {
  Operand a, b, c;
  int32_t m, n, k;
  DType b_type;
  uint64_t b_row_bytes;
  bool accumulate;
};

// to_f16: out holds n binary16 values (2n bytes), the rest n f32.
enum class Elementwise : uint8_t { add, mul, scale, gelu, silu, gelu_tanh, to_f16 };

// out[i] = f(a[i], b[i]); b is unused for the unary ops, s only for scale.
// out is either disjoint from the inputs or exactly equal to one of them.
// For unary ops b == a. All three span n floats.
struct ElementwiseArgs {
  Elementwise op;
  Operand a, b, out;
  int32_t n;
  float s;
};

// Per row: layernorm (x-mean)/sqrt(var+eps)*gamma+beta, or rmsnorm
// x/sqrt(mean(x^2)+eps)*gamma (beta unused and empty). out may equal x exactly.
struct NormArgs {
  bool rms;
  Operand x, gamma, beta, out;
  int32_t rows, cols;
  float eps;
};

// Per row softmax(scale*x); causal: row r keeps cols <= r + (cols - rows), others 0.
struct SoftmaxArgs {
  Operand x, out;
  int32_t rows, cols;
  float scale;
  bool causal;
};

// x, out: [rows, heads, head_dim]; row r at position pos0 + r; frequency i is
// theta^(-2i/head_dim); adjacent: pairs (2i, 2i+1), else (i, i + head_dim/2).
// Frequency i is theta^(-2i/head_dim), divided by factors[i] (head_dim/2 f32) when has_factors.
struct RopeArgs {
  Operand x, out;
  int32_t rows, heads, head_dim, pos0;
  float theta;
  bool adjacent;
  bool has_factors = false;
  Operand factors;
};

// q, out: [seq_q, heads, head_dim] f32; k, v: [seq_kv, kv_heads, head_dim] of kv_type.
// causal: query i sees keys j <= i + seq_kv - seq_q.
struct AttentionArgs {
  Operand q, k, v, out;
  int32_t seq_q, seq_kv, heads, kv_heads, head_dim;
  float scale;
  bool causal;
  DType kv_type;  // of k and v: f32, or f16 (ZW_KV_F16)
};

// out[i,:] = f32(table[ids[i],:]); ids already checked to lie in [0, rows).
// table: rows of table_row_bytes (= row_bytes(type, dim)); ids: n i32; out: n*dim f32.
struct GatherArgs {
  Operand table;
  int32_t rows;
  Operand ids, out;
  int32_t n, dim;
  DType type;
  uint64_t table_row_bytes;
};

// Placement hints for managed memory; backends without one ignore them.
enum class Hint : uint8_t { prefetch_host, prefetch_device, read_mostly };
struct HintArgs {
  Hint hint;
  Operand range;  // never empty: the op table drops zero-length hints
};

}  // namespace zw
