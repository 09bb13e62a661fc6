// Dispatch plans of the Metal kernels (see encode_plan.hpp).
#include "backend/metal/encode_plan.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <string>

#include "zerowasm/error.hpp"

namespace zw {
namespace mtl {

namespace {

const char* const kKernelNames[] = {
#define ZW_METAL_KERNEL_NAME(id, function) #function,
    ZW_METAL_KERNELS(ZW_METAL_KERNEL_NAME)
#undef ZW_METAL_KERNEL_NAME
};
static_assert(sizeof(kKernelNames) / sizeof(kKernelNames[0]) == kKernelCount, "one name per Kernel");

// Families are indexed by dtype code: the kernel list keeps that order.
#define ZW_CHECK_FAMILY(family)                                                                   \
  static_assert(static_cast<int>(Kernel::family##_f16) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::f16) &&                                           \
                    static_cast<int>(Kernel::family##_q8_0) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q8_0) &&                                          \
                    static_cast<int>(Kernel::family##_q4_1) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q4_1) &&                                          \
                    static_cast<int>(Kernel::family##_q4_0) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q4_0) &&                                          \
                    static_cast<int>(Kernel::family##_q5_0) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q5_0) &&                                          \
                    static_cast<int>(Kernel::family##_q4_k) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q4_k) &&                                          \
                    static_cast<int>(Kernel::family##_q5_k) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q5_k) &&                                          \
                    static_cast<int>(Kernel::family##_q6_k) - static_cast<int>(Kernel::family##_f32) == \
                        static_cast<int>(DType::q6_k) && kDTypeCount == 9,                        \
                "ZW_METAL_KERNELS lists " #family " in dtype order, one kernel per dtype");
ZW_CHECK_FAMILY(gather)
ZW_CHECK_FAMILY(matvec)
ZW_CHECK_FAMILY(tiled)
ZW_CHECK_FAMILY(simd)
#undef ZW_CHECK_FAMILY

Kernel with_dtype(Kernel f32_kernel, DType type) {
  return static_cast<Kernel>(static_cast<int>(f32_kernel) + static_cast<int>(type));
}

uint64_t ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
uint64_t round_up_to(uint64_t v, uint64_t a) { return ceil_div(v, a) * a; }

// Threadgroup memory of the row reductions (one float per simdgroup); a
// multiple of 16 bytes, as setThreadgroupMemoryLength requires.
constexpr uint32_t kReductionScratchBytes = ZW_MAX_SIMDGROUPS * sizeof(float);
constexpr uint32_t kTileBytes = ZW_MM_TILE_FLOATS * sizeof(float);
static_assert(kReductionScratchBytes % 16 == 0 && kTileBytes % 16 == 0,
              "threadgroup memory lengths must be multiples of 16 bytes");

PipelineLimits limits_of(const DeviceLimits& device, Kernel kernel) {
  PipelineLimits limits = device.pipeline ? device.pipeline(kernel) : PipelineLimits{};
  limits.simd_width = std::max<uint32_t>(1, limits.simd_width);
  return limits;
}

// Threads for a grid-stride or row kernel: at most `want`, whole simdgroups,
// within the pipeline's limit and at most ZW_MAX_SIMDGROUPS simdgroups (the
// reductions keep one partial per simdgroup).
uint32_t threads_for(const PipelineLimits& pipeline, uint64_t want) {
  const uint64_t width = pipeline.simd_width;
  const uint64_t cap = std::min<uint64_t>(pipeline.max_threads, uint64_t{ZW_MAX_SIMDGROUPS} * width);
  const uint64_t limit = std::max<uint64_t>(width, cap / width * width);
  const uint64_t rounded = std::max<uint64_t>(width, round_up_to(want, width));
  return static_cast<uint32_t>(std::min(rounded, limit));
}

// Starts a plan for `kernel`: the pipeline's limits, buffers and params.
template <typename Params>
EncodePlan start(const char* op, Kernel kernel, const DeviceLimits& device,
                 std::initializer_list<BufferBinding> buffers, uint32_t params_index,
                 const Params& params, PipelineLimits* limits) {
  EncodePlan plan;
  plan.op = op;
  plan.kernel = kernel;
  *limits = limits_of(device, kernel);
  if (!limits->available) {
    throw Error(std::string("Metal: ") + op + ": the shader library has no " + kernel_name(kernel));
  }
  plan.simd_width = limits->simd_width;
  for (const BufferBinding& b : buffers) plan.buffers[plan.buffer_count++] = b;
  plan.params_index = params_index;
  static_assert(sizeof(Params) <= sizeof(plan.params), "parameter block too large");
  std::memcpy(plan.params.data(), &params, sizeof(Params));
  plan.params_size = sizeof(Params);
  return plan;
}

uint32_t u32(uint64_t v) { return static_cast<uint32_t>(v); }

}  // namespace

const char* kernel_name(Kernel kernel) { return kKernelNames[static_cast<int>(kernel)]; }

bool kernel_is_optional(Kernel kernel) { return kernel >= Kernel::simd_f32 && kernel <= Kernel::simd_q6_k; }

EncodePlan plan_encode(const MatmulArgs& args, const DeviceLimits& device) {
  const uint64_t m = static_cast<uint64_t>(args.m);
  const uint64_t n = static_cast<uint64_t>(args.n);
  const uint64_t k = static_cast<uint64_t>(args.k);
  const ZwMatmulParams params{u32(m), u32(n), u32(k), u32(args.b_row_bytes), args.accumulate ? 1u : 0u};
  const std::initializer_list<BufferBinding> buffers = {{0, args.a}, {1, args.b}, {2, args.c}};
  PipelineLimits limits;
  if (m <= ZW_MV_MAX_ROWS) {
    // One simdgroup per output column; fewer per threadgroup when the pipeline allows fewer threads.
    EncodePlan plan = start("matmul", with_dtype(Kernel::matvec_f32, args.b_type), device, buffers, 3,
                            params, &limits);
    const uint32_t simdgroups =
        std::clamp<uint32_t>(limits.max_threads / limits.simd_width, 1, ZW_MV_SIMDGROUPS);
    plan.threads = simdgroups * limits.simd_width;
    plan.groups = {u32(ceil_div(n, simdgroups)), 1, 1};
    return plan;
  }
  Kernel kernel = with_dtype(Kernel::tiled_f32, args.b_type);
  if (device.simdgroup_matrix) {
    // The simd variant assumes four 32-wide simdgroups per threadgroup.
    const Kernel simd = with_dtype(Kernel::simd_f32, args.b_type);
    const PipelineLimits simd_limits = limits_of(device, simd);
    if (simd_limits.available && simd_limits.simd_width == 32 && simd_limits.max_threads >= ZW_MM_THREADS) {
      kernel = simd;
    }
  }
  EncodePlan plan = start("matmul", kernel, device, buffers, 3, params, &limits);
  if (limits.max_threads < ZW_MM_THREADS) {
    throw Error("Metal: matmul: the " + std::string(kernel_name(kernel)) + " pipeline allows only " +
                std::to_string(limits.max_threads) + " threads per threadgroup, the tiles need " +
                std::to_string(ZW_MM_THREADS));
  }
  if (kTileBytes > device.max_threadgroup_memory) {
    throw Error("Metal: matmul tiles need " + std::to_string(kTileBytes) +
                " bytes of threadgroup memory, the device has " +
                std::to_string(device.max_threadgroup_memory));
  }
  plan.threads = ZW_MM_THREADS;
  plan.threadgroup_memory = kTileBytes;
  plan.groups = {u32(ceil_div(n, ZW_MM_BN)), u32(ceil_div(m, ZW_MM_BM)), 1};
  return plan;
}

EncodePlan plan_encode(const ElementwiseArgs& args, const DeviceLimits& device) {
  const uint64_t n = static_cast<uint64_t>(args.n);
  const ZwElementwiseParams params{u32(n), args.s};
  Kernel kernel = Kernel::add;
  const char* op = "add";
  switch (args.op) {
    case Elementwise::add: kernel = Kernel::add; op = "add"; break;
    case Elementwise::mul: kernel = Kernel::mul; op = "mul"; break;
    case Elementwise::scale: kernel = Kernel::scale; op = "scale"; break;
    case Elementwise::gelu: kernel = Kernel::gelu; op = "gelu"; break;
    case Elementwise::silu: kernel = Kernel::silu; op = "silu"; break;
    case Elementwise::gelu_tanh: kernel = Kernel::gelu_tanh; op = "gelu_tanh"; break;
    case Elementwise::to_f16: kernel = Kernel::to_f16; op = "to_f16"; break;
  }
  const bool binary = args.op == Elementwise::add || args.op == Elementwise::mul;
  PipelineLimits limits;
  EncodePlan plan = binary ? start(op, kernel, device, {{0, args.a}, {1, args.b}, {2, args.out}}, 3, params, &limits)
                           : start(op, kernel, device, {{0, args.a}, {1, args.out}}, 2, params, &limits);
  plan.threads = threads_for(limits, 256);
  plan.groups = {u32(std::min(ceil_div(n, plan.threads), device.max_stride_groups)), 1, 1};
  return plan;
}

EncodePlan plan_encode(const NormArgs& args, const DeviceLimits& device) {
  const uint64_t rows = static_cast<uint64_t>(args.rows);
  const uint64_t cols = static_cast<uint64_t>(args.cols);
  const ZwNormParams params{u32(rows), u32(cols), args.eps};
  PipelineLimits limits;
  EncodePlan plan =
      args.rms ? start("rmsnorm", Kernel::rmsnorm, device,
                       {{0, args.x}, {1, args.gamma}, {3, args.out}}, 4, params, &limits)
               : start("layernorm", Kernel::layernorm, device,
                       {{0, args.x}, {1, args.gamma}, {2, args.beta}, {3, args.out}}, 4, params, &limits);
  plan.threads = threads_for(limits, std::min<uint64_t>(cols, 256));
  plan.threadgroup_memory = kReductionScratchBytes;
  plan.groups = {u32(rows), 1, 1};
  return plan;
}

EncodePlan plan_encode(const SoftmaxArgs& args, const DeviceLimits& device) {
  const uint64_t rows = static_cast<uint64_t>(args.rows);
  const uint64_t cols = static_cast<uint64_t>(args.cols);
  const ZwSoftmaxParams params{u32(rows), u32(cols), args.scale, args.causal ? 1u : 0u};
  PipelineLimits limits;
  EncodePlan plan = start("softmax", Kernel::softmax, device,
                          {{0, args.x}, {1, args.out}}, 2, params, &limits);
  plan.threads = threads_for(limits, std::min<uint64_t>(cols, 256));
  plan.threadgroup_memory = kReductionScratchBytes;
  plan.groups = {u32(rows), 1, 1};
  return plan;
}

EncodePlan plan_encode(const RopeArgs& args, const DeviceLimits& device) {
  const uint64_t values = static_cast<uint64_t>(args.rows) * args.heads * args.head_dim;
  // Frequencies theta^(-2i/head_dim) in double, sent as float pairs hi + lo
  // (angles stay accurate at large positions). buffer(3) is always bound.
  const uint32_t pairs = static_cast<uint32_t>(args.head_dim / 2);
  const bool table = pairs <= ZW_ROPE_MAX_TABLE_PAIRS;
  const ZwRopeParams params{u32(args.rows),  u32(args.heads),         u32(args.head_dim),
                            u32(args.pos0),  args.theta,              args.adjacent ? 1u : 0u,
                            table ? 1u : 0u, args.has_factors ? 1u : 0u};
  PipelineLimits limits;
  // buffer(4), the factors, is always bound (to x when there are none: never read).
  EncodePlan plan = start(args.has_factors ? "rope_factors" : "rope", Kernel::rope, device,
                          {{0, args.x}, {1, args.out}, {4, args.has_factors ? args.factors : args.x}}, 2, params,
                          &limits);
  plan.constants.assign(table ? 2 * pairs : 2, 0.0f);
  if (table) {
    for (uint32_t i = 0; i < pairs; ++i) {
      const double f = std::pow(static_cast<double>(args.theta),
                                -static_cast<double>(2 * i) / static_cast<double>(args.head_dim));
      plan.constants[2 * i] = static_cast<float>(f);
      plan.constants[2 * i + 1] = static_cast<float>(f - static_cast<double>(plan.constants[2 * i]));
    }
  }
  plan.threads = threads_for(limits, 256);
  plan.groups = {u32(std::min(ceil_div(values / 2, plan.threads), device.max_stride_groups)), 1, 1};
  return plan;
}

EncodePlan plan_encode(const AttentionArgs& args, const DeviceLimits& device) {
  const uint64_t hd = static_cast<uint64_t>(args.head_dim);
  const ZwAttentionParams params{u32(args.seq_q), u32(args.seq_kv),   u32(args.heads), u32(args.kv_heads),
                                 u32(hd),         args.scale,
                                 (args.causal ? abi::kCausal : 0u) | (args.kv_type == DType::f16 ? abi::kKvF16 : 0u)};
  PipelineLimits limits;
  EncodePlan plan = start("attention", Kernel::attention, device,
                          {{0, args.q}, {1, args.k}, {2, args.v}, {3, args.out}}, 4, params, &limits);
  // Simdgroups per (query, head): enough to share a long KV cache, each with
  // its own head_dim accumulator in threadgroup memory.
  const uint64_t width = limits.simd_width;
  uint64_t simdgroups = std::min<uint64_t>({8, std::max<uint64_t>(1, static_cast<uint64_t>(args.seq_kv) / 16),
                                            std::max<uint64_t>(1, limits.max_threads / width)});
  auto memory_bytes = [&](uint64_t s) { return round_up_to((hd * (1 + s) + 2 * s) * 4, 16); };
  while (simdgroups > 1 && memory_bytes(simdgroups) > device.max_threadgroup_memory) --simdgroups;
  if (memory_bytes(simdgroups) > device.max_threadgroup_memory) {
    throw Error("Metal: attention head_dim " + std::to_string(hd) +
                " needs more threadgroup memory than the device has (" +
                std::to_string(device.max_threadgroup_memory) + " bytes)");
  }
  plan.threads = u32(simdgroups * width);
  plan.threadgroup_memory = u32(memory_bytes(simdgroups));
  plan.groups = {u32(args.heads), u32(args.seq_q), 1};
  return plan;
}

EncodePlan plan_encode(const GatherArgs& args, const DeviceLimits& device) {
  const uint64_t n = static_cast<uint64_t>(args.n);
  const uint64_t dim = static_cast<uint64_t>(args.dim);
  const ZwGatherParams params{u32(n), u32(dim), u32(args.table_row_bytes), u32(args.rows)};
  PipelineLimits limits;
  EncodePlan plan = start("gather", with_dtype(Kernel::gather_f32, args.type), device,
                          {{0, args.table}, {1, args.ids}, {2, args.out}}, 3, params, &limits);
  plan.threads = threads_for(limits, std::min<uint64_t>(dim, 256));
  plan.groups = {u32(ceil_div(dim, plan.threads)), u32(n), 1};
  return plan;
}

}  // namespace mtl
}  // namespace zw
