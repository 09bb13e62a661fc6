#include "ops/op_table.hpp"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "ops/validate.hpp"
#include "zerowasm/zerowasm.hpp"

namespace zw {
namespace {

// Raw guest arguments by position.
struct Raw {
  const wasmtime_val_raw_t* v;
  uint32_t ptr(int i) const { return static_cast<uint32_t>(v[i].i32); }
  int32_t i32(int i) const { return v[i].i32; }
  uint32_t u32(int i) const { return static_cast<uint32_t>(v[i].i32); }
  float f32(int i) const { return v[i].f32; }
};

using namespace abi;  // flag bits and codes: ops/op_args.hpp, from zerowasm_abi.h

uint64_t issue_matmul(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck("matmul", ctx.memory_size);
  uint32_t flags = r.u32(6);
  ck.flags(flags, kMatmulAccumulate | kMatmulDTypeMask);
  MatmulArgs a{};
  a.m = ck.dim("m", r.i32(3));
  a.n = ck.dim("n", r.i32(4));
  a.k = ck.dim("k", r.i32(5));
  a.b_type = ck.dtype("flags.dtype", (flags & kMatmulDTypeMask) >> kMatmulDTypeShift);
  a.accumulate = flags & kMatmulAccumulate;
  if (uint64_t(a.k) % block_values(a.b_type) != 0)
    ck.fail("k = " + std::to_string(a.k) + " must be a multiple of " + std::to_string(block_values(a.b_type)) +
            " (the block size of B's dtype " + std::to_string(int(a.b_type)) + ")");
  a.b_row_bytes = row_bytes(a.b_type, uint64_t(a.k));
  a.a = ck.span("a", r.ptr(0), ck.product("m*k", {uint64_t(a.m), uint64_t(a.k)}), 4, 4);
  a.b = ck.span("b", r.ptr(1), uint64_t(a.n), a.b_row_bytes, dtype_align(a.b_type));
  a.c = ck.span("c", r.ptr(2), ck.product("m*n", {uint64_t(a.m), uint64_t(a.n)}), 4, 4);
  ck.no_overlap("c", a.c, "a", a.a, false);
  ck.no_overlap("c", a.c, "b", a.b, false);
  ctx.executor.run(a);
  return ck.bytes_touched();
}

// add, mul (binary) and scale, gelu, silu, gelu_tanh (unary): out may alias an input exactly.
template <Elementwise Op>
uint64_t issue_elementwise(OpContext& ctx, const wasmtime_val_raw_t* args) {
  static constexpr const char* kNames[] = {"add", "mul", "scale", "gelu", "silu", "gelu_tanh", "to_f16"};
  constexpr bool binary = Op == Elementwise::add || Op == Elementwise::mul;
  Raw r{args};
  ArgChecker ck(kNames[static_cast<int>(Op)], ctx.memory_size);
  ElementwiseArgs e{};
  e.op = Op;
  e.n = ck.dim("n", r.i32(binary ? 3 : 2));
  const char* in_name = binary ? "a" : "x";
  e.a = ck.span(in_name, r.ptr(0), uint64_t(e.n), 4, 4);
  e.b = binary ? ck.span("b", r.ptr(1), uint64_t(e.n), 4, 4) : e.a;
  e.out = ck.span("out", r.ptr(binary ? 2 : 1), uint64_t(e.n), 4, 4);
  ck.no_overlap("out", e.out, in_name, e.a, true);
  if (binary) ck.no_overlap("out", e.out, "b", e.b, true);
  if (Op == Elementwise::scale) e.s = r.f32(3);
  ctx.executor.run(e);
  return ck.bytes_touched();
}

// to_f16(x, out, n): x n f32, out n binary16, not overlapping at all (the sizes differ).
uint64_t issue_to_f16(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck("to_f16", ctx.memory_size);
  ElementwiseArgs e{};
  e.op = Elementwise::to_f16;
  e.n = ck.dim("n", r.i32(2));
  e.a = ck.span("x", r.ptr(0), uint64_t(e.n), 4, 4);
  e.b = e.a;
  e.out = ck.span("out", r.ptr(1), uint64_t(e.n), 2, 2);
  ck.no_overlap("out", e.out, "x", e.a, false);
  ctx.executor.run(e);
  return ck.bytes_touched();
}

// layernorm(x, gamma, beta, out, rows, cols, eps) / rmsnorm(x, gamma, out, rows, cols, eps)
template <bool Rms>
uint64_t issue_norm(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck(Rms ? "rmsnorm" : "layernorm", ctx.memory_size);
  const int base = Rms ? 3 : 4;  // index of rows
  NormArgs a{};
  a.rms = Rms;
  a.rows = ck.dim("rows", r.i32(base));
  a.cols = ck.dim("cols", r.i32(base + 1));
  a.eps = r.f32(base + 2);
  if (!(a.eps >= 0.0f)) ck.fail("eps must be >= 0");
  uint64_t elems = ck.product("rows*cols", {uint64_t(a.rows), uint64_t(a.cols)});
  a.x = ck.span("x", r.ptr(0), elems, 4, 4);
  a.gamma = ck.span("gamma", r.ptr(1), uint64_t(a.cols), 4, 4);
  if (!Rms) a.beta = ck.span("beta", r.ptr(2), uint64_t(a.cols), 4, 4);
  a.out = ck.span("out", r.ptr(Rms ? 2 : 3), elems, 4, 4);
  ck.no_overlap("out", a.out, "x", a.x, true);
  ck.no_overlap("out", a.out, "gamma", a.gamma, false);
  if (!Rms) ck.no_overlap("out", a.out, "beta", a.beta, false);
  ctx.executor.run(a);
  return ck.bytes_touched();
}

uint64_t issue_softmax(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck("softmax", ctx.memory_size);
  ck.flags(r.u32(5), kCausal);
  SoftmaxArgs a{};
  a.rows = ck.dim("rows", r.i32(2));
  a.cols = ck.dim("cols", r.i32(3));
  a.scale = r.f32(4);
  a.causal = r.u32(5) & kCausal;
  uint64_t elems = ck.product("rows*cols", {uint64_t(a.rows), uint64_t(a.cols)});
  a.x = ck.span("x", r.ptr(0), elems, 4, 4);
  a.out = ck.span("out", r.ptr(1), elems, 4, 4);
  ck.no_overlap("out", a.out, "x", a.x, true);
  ctx.executor.run(a);
  return ck.bytes_touched();
}

// rope(x, out, rows, heads, head_dim, pos0, theta, flags) and rope_factors(..., factors).
template <bool Factors>
uint64_t issue_rope(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck(Factors ? "rope_factors" : "rope", ctx.memory_size);
  ck.flags(r.u32(7), kRopeAdjacent);
  RopeArgs a{};
  a.rows = ck.dim("rows", r.i32(2));
  a.heads = ck.dim("heads", r.i32(3));
  a.head_dim = ck.dim("head_dim", r.i32(4), 2);
  if (a.head_dim % 2) ck.fail("head_dim = " + std::to_string(a.head_dim) + " must be even");
  a.pos0 = ck.dim("pos0", r.i32(5), 0);
  a.theta = r.f32(6);
  if (!(a.theta > 0.0f) || a.theta == __builtin_inff()) ck.fail("theta must be finite and > 0");
  a.adjacent = r.u32(7) & kRopeAdjacent;
  uint64_t elems = ck.product("rows*heads*head_dim", {uint64_t(a.rows), uint64_t(a.heads), uint64_t(a.head_dim)});
  a.x = ck.span("x", r.ptr(0), elems, 4, 4);
  a.out = ck.span("out", r.ptr(1), elems, 4, 4);
  ck.no_overlap("out", a.out, "x", a.x, true);
  if constexpr (Factors) {
    a.has_factors = true;
    a.factors = ck.span("factors", r.ptr(8), uint64_t(a.head_dim / 2), 4, 4);
    ck.no_overlap("out", a.out, "factors", a.factors, false);
  }
  ctx.executor.run(a);
  return ck.bytes_touched();
}

uint64_t issue_attention(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck("attention", ctx.memory_size);
  ck.flags(r.u32(10), kCausal | kKvF16);
  AttentionArgs a{};
  a.seq_q = ck.dim("seq_q", r.i32(4));
  a.seq_kv = ck.dim("seq_kv", r.i32(5));
  a.heads = ck.dim("heads", r.i32(6));
  a.kv_heads = ck.dim("kv_heads", r.i32(7));
  a.head_dim = ck.dim("head_dim", r.i32(8));
  a.scale = r.f32(9);
  a.causal = r.u32(10) & kCausal;
  a.kv_type = (r.u32(10) & kKvF16) ? DType::f16 : DType::f32;
  if (a.heads % a.kv_heads)
    ck.fail("heads = " + std::to_string(a.heads) + " is not a multiple of kv_heads = " +
            std::to_string(a.kv_heads));
  uint64_t q_elems = ck.product("seq_q*heads*head_dim", {uint64_t(a.seq_q), uint64_t(a.heads), uint64_t(a.head_dim)});
  uint64_t kv_elems = ck.product("seq_kv*kv_heads*head_dim", {uint64_t(a.seq_kv), uint64_t(a.kv_heads), uint64_t(a.head_dim)});
  a.q = ck.span("q", r.ptr(0), q_elems, 4, 4);
  const uint64_t kv_size = a.kv_type == DType::f16 ? 2 : 4;
  a.k = ck.span("k", r.ptr(1), kv_elems, kv_size, kv_size);
  a.v = ck.span("v", r.ptr(2), kv_elems, kv_size, kv_size);
  a.out = ck.span("out", r.ptr(3), q_elems, 4, 4);
  ck.no_overlap("out", a.out, "q", a.q, false);
  ck.no_overlap("out", a.out, "k", a.k, false);
  ck.no_overlap("out", a.out, "v", a.v, false);
  ctx.executor.run(a);
  return ck.bytes_touched();
}

uint64_t issue_gather(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck("gather", ctx.memory_size);
  GatherArgs a{};
  a.rows = ck.dim("rows", r.i32(1));
  a.n = ck.dim("n", r.i32(4));
  a.dim = ck.dim("dim", r.i32(5));
  a.type = ck.dtype("dtype", r.u32(6));
  if (uint64_t(a.dim) % block_values(a.type) != 0)
    ck.fail("dim = " + std::to_string(a.dim) + " must be a multiple of " + std::to_string(block_values(a.type)) +
            " (the block size of the table's dtype " + std::to_string(int(a.type)) + ")");
  a.table_row_bytes = row_bytes(a.type, uint64_t(a.dim));
  a.table = ck.span("table", r.ptr(0), uint64_t(a.rows), a.table_row_bytes, dtype_align(a.type));
  a.ids = ck.span("ids", r.ptr(2), uint64_t(a.n), 4, 4);
  a.out = ck.span("out", r.ptr(3), ck.product("n*dim", {uint64_t(a.n), uint64_t(a.dim)}), 4, 4);
  ck.no_overlap("out", a.out, "table", a.table, false);
  ck.no_overlap("out", a.out, "ids", a.ids, false);
  for (int32_t i = 0; i < a.n; ++i) {
    int32_t id;
    std::memcpy(&id, ctx.memory_base + a.ids.offset + 4 * uint64_t(i), 4);
    if (id < 0 || id >= a.rows)
      ck.fail("ids[" + std::to_string(i) + "] = " + std::to_string(id) + " is outside [0, " +
              std::to_string(a.rows) + ")");
  }
  ctx.executor.run(a);
  return ck.bytes_touched();
}

template <bool Prefetch>
uint64_t issue_hint(OpContext& ctx, const wasmtime_val_raw_t* args) {
  Raw r{args};
  ArgChecker ck(Prefetch ? "prefetch" : "advise", ctx.memory_size);
  HintArgs h{};
  int32_t len = ck.dim("len", r.i32(1), 0);
  int32_t code = r.i32(2);
  if (Prefetch) {
    if (code != kPrefetchHost && code != kPrefetchDevice)
      ck.fail("where = " + std::to_string(code) + " must be " + std::to_string(kPrefetchHost) + " (host) or " +
              std::to_string(kPrefetchDevice) + " (device)");
    h.hint = code == kPrefetchDevice ? Hint::prefetch_device : Hint::prefetch_host;
  } else {
    if (code != kAdviseReadMostly)
      ck.fail("advice = " + std::to_string(code) + " is unknown (" + std::to_string(kAdviseReadMostly) +
              " = read-mostly)");
    h.hint = Hint::read_mostly;
  }
  h.range = ck.span("ptr", r.ptr(0), uint64_t(len), 1, 1);
  if (h.range.bytes) ctx.executor.run(h);
  return ck.bytes_touched();
}

uint64_t issue_sync(OpContext& ctx, const wasmtime_val_raw_t*) {
  ctx.executor.sync();
  return 0;
}

constexpr OpDef kOps[] = {
    {"matmul", "iiiiiii", issue_matmul},
    {"add", "iiii", issue_elementwise<Elementwise::add>},
    {"mul", "iiii", issue_elementwise<Elementwise::mul>},
    {"scale", "iiif", issue_elementwise<Elementwise::scale>},
    {"gelu", "iii", issue_elementwise<Elementwise::gelu>},
    {"silu", "iii", issue_elementwise<Elementwise::silu>},
    {"layernorm", "iiiiiif", issue_norm<false>},
    {"rmsnorm", "iiiiif", issue_norm<true>},
    {"softmax", "iiiifi", issue_softmax},
    {"rope", "iiiiiifi", issue_rope<false>},
    {"attention", "iiiiiiiiifi", issue_attention},
    {"gather", "iiiiiii", issue_gather},
    {"sync", "", issue_sync, /*sync_point=*/true},
    {"prefetch", "iii", issue_hint<true>},
    {"advise", "iii", issue_hint<false>},
    // Added to ABI v1 after the rest (indices above are stable: the fuzz corpus uses them).
    {"gelu_tanh", "iii", issue_elementwise<Elementwise::gelu_tanh>},
    {"to_f16", "iii", issue_to_f16},
    {"rope_factors", "iiiiiifii", issue_rope<true>},
};

}  // namespace

std::span<const OpDef> op_table() { return kOps; }

std::vector<std::pair<std::string, int64_t>> abi_constants() {
  // Read from the entities validation and the backends use (DType, row_bytes,
  // the abi:: flags), not from the macros, so a value written down twice shows.
  return {
      {"ZW_ABI_VERSION", abi::kVersion},
      {"ZW_DTYPE_F32", int64_t(DType::f32)},
      {"ZW_DTYPE_F16", int64_t(DType::f16)},
      {"ZW_DTYPE_Q8_0", int64_t(DType::q8_0)},
      {"ZW_DTYPE_Q4_1", int64_t(DType::q4_1)},
      {"ZW_DTYPE_Q4_0", int64_t(DType::q4_0)},
      {"ZW_DTYPE_Q5_0", int64_t(DType::q5_0)},
      {"ZW_DTYPE_Q4_K", int64_t(DType::q4_k)},
      {"ZW_DTYPE_Q5_K", int64_t(DType::q5_k)},
      {"ZW_DTYPE_Q6_K", int64_t(DType::q6_k)},
      {"ZW_DTYPE_COUNT", kDTypeCount},
      {"ZW_QBLOCK", int64_t(block_values(DType::q8_0))},
      {"ZW_QK_K", int64_t(block_values(DType::q4_k))},
      {"ZW_Q8_0_BYTES", int64_t(row_bytes(DType::q8_0, kQBlock))},
      {"ZW_Q4_1_BYTES", int64_t(row_bytes(DType::q4_1, kQBlock))},
      {"ZW_Q4_0_BYTES", int64_t(row_bytes(DType::q4_0, kQBlock))},
      {"ZW_Q5_0_BYTES", int64_t(row_bytes(DType::q5_0, kQBlock))},
      {"ZW_Q4_K_BYTES", int64_t(row_bytes(DType::q4_k, kQK_K))},
      {"ZW_Q5_K_BYTES", int64_t(row_bytes(DType::q5_k, kQK_K))},
      {"ZW_Q6_K_BYTES", int64_t(row_bytes(DType::q6_k, kQK_K))},
      {"ZW_ACCUMULATE", abi::kMatmulAccumulate},
      {"ZW_B_DTYPE_SHIFT", abi::kMatmulDTypeShift},
      {"ZW_B_DTYPE_MASK", abi::kMatmulDTypeMask},
      {"ZW_CAUSAL", abi::kCausal},
      {"ZW_KV_F16", abi::kKvF16},
      {"ZW_ROPE_ADJACENT", abi::kRopeAdjacent},
      {"ZW_HOST", abi::kPrefetchHost},
      {"ZW_DEVICE", abi::kPrefetchDevice},
      {"ZW_ADVISE_READ_MOSTLY", abi::kAdviseReadMostly},
  };
}

}  // namespace zw
