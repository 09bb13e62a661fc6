// Runs zerowasm's Metal kernels on the CPU, as a test oracle where no Apple
// GPU exists (built by checks.cmake; tests/test_metal_kernels_emulated.py
// drives it against float64 references).
//
// The shader text compiled here is the combined source embed_shaders.cmake
// embeds in the library (ZW_SHADER_SOURCE names it), so the very text Metal
// compiles is what runs. Each op is planned by encode_plan.cpp, as the
// executor plans it, for the device limits given on the command line, and the
// plan is run as is: its kernel, grid, threadgroup shape (one OS thread per
// GPU thread, simdgroups of the plan's width), threadgroup memory, buffers
// and parameter block.
//
// Usage:
//   kernel_driver [limits] <op> <memory file> <output file> <numbers...>
//   kernel_driver --list-kernels
// limits: --simd-width W --max-threads T --threadgroup-memory B
//         --stride-groups G --simdgroup-matrix 0|1 (defaults: DeviceLimits'
//         and PipelineLimits' defaults, an Apple GPU's values).
// The memory file plays the linear memory: operands are byte offsets into it,
// as in the zw ABI, validated as the op table validates them (a rejected
// operand exits 3 too); the result is the whole memory after the op. Prints the
// plan ("kernel zwk_... groups X Y Z threads T simd_width W
// threadgroup_memory B") on stdout; a plan the limits cannot run exits 3.
#include "emulator_prelude.h"

#include ZW_SHADER_SOURCE

// The shader keywords end here; ordinary C++ follows.
#undef kernel
#undef device
#undef constant
#undef threadgroup
#undef thread
#undef half

#include "backend/metal/encode_plan.hpp"
#include "ops/validate.hpp"

namespace {

using zw::mtl::EncodePlan;
using zw::mtl::Kernel;

[[noreturn]] void fail(const std::string& message, int code = 2) {
  std::fprintf(stderr, "kernel_driver: %s\n", message.c_str());
  std::exit(code);
}

// What a kernel invocation sees through its attributes.
struct ThreadInfo {
  uint3 group;         // threadgroup_position_in_grid
  unsigned tid;        // thread_index_in_threadgroup (1-D threadgroups)
  unsigned threads;    // threads_per_threadgroup.x
  unsigned lane;       // thread_index_in_simdgroup
  unsigned simdgroup;  // simdgroup_index_in_threadgroup
  unsigned simdgroups; // simdgroups_per_threadgroup
  unsigned simd_width; // threads_per_simdgroup
  unsigned grid_x;     // thread_position_in_grid.x
  unsigned grid_threads_x;  // threads_per_grid.x
  float* tg_memory;    // [[threadgroup(0)]]
};

// Runs body on every thread of every threadgroup of the plan's grid, one
// threadgroup at a time, each GPU thread on its own OS thread.
void dispatch(const EncodePlan& plan, const std::function<void(const ThreadInfo&)>& body) {
  const unsigned threads = plan.threads, width = plan.simd_width;
  if (threads == 0 || width == 0) fail("plan without threads");
  const unsigned simdgroups = (threads + width - 1) / width;
  if (simdgroups > 64) fail("more simdgroups than the emulator's reduction slots");
  for (unsigned gz = 0; gz < plan.groups[2]; ++gz) {
    for (unsigned gy = 0; gy < plan.groups[1]; ++gy) {
      for (unsigned gx = 0; gx < plan.groups[0]; ++gx) {
        // Garbage until written, and one float past the end.
        std::vector<float> tg_memory(plan.threadgroup_memory / sizeof(float) + 1, std::nanf(""));
        std::barrier<> group_sync(threads);
        std::vector<std::unique_ptr<std::barrier<>>> simd_syncs;
        std::vector<zw_emu::SimdGroupState> simd(simdgroups);
        for (unsigned s = 0; s < simdgroups; ++s) {
          const unsigned lanes = std::min(width, threads - s * width);
          simd_syncs.push_back(std::make_unique<std::barrier<>>(lanes));
          simd[s].sync = simd_syncs.back().get();
          simd[s].lanes = lanes;
        }
        zw_emu::ThreadgroupState group{&group_sync, simd.data()};
        std::vector<std::thread> workers;
        workers.reserve(threads);
        for (unsigned t = 0; t < threads; ++t) {
          workers.emplace_back([&, t] {
            zw_emu::t_group = &group;
            zw_emu::t_simdgroup = t / width;
            zw_emu::t_lane = t % width;
            ThreadInfo info{uint3(gx, gy, gz), t,  threads,           t % width,
                            t / width,         simdgroups, width, gx * threads + t,
                            plan.groups[0] * threads, tg_memory.data()};
            body(info);
          });
        }
        for (std::thread& w : workers) w.join();
      }
    }
  }
}

// Arguments of one kernel call: the plan's buffers in argument order.
struct Bound {
  const EncodePlan& plan;
  std::vector<uint8_t>& memory;
  template <typename T>
  T* buffer(unsigned i) const {
    return reinterpret_cast<T*>(memory.data() + plan.buffers[i].operand.offset);
  }
  template <typename P>
  P params() const {
    if (plan.params_size != sizeof(P)) fail("parameter block size mismatch");
    return plan.params_as<P>();
  }
};

// One overload per kernel signature (the [[buffer]] arguments in order, then
// the attributes each family takes).
using Ew = ZwElementwiseParams;
void invoke(void (*f)(const float*, const float*, float*, const Ew&, uint, uint), const Bound& b) {
  const Ew p = b.params<Ew>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), b.buffer<float>(2), p, t.grid_x, t.grid_threads_x);
  });
}
void invoke(void (*f)(const float*, float*, const Ew&, uint, uint), const Bound& b) {
  const Ew p = b.params<Ew>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), p, t.grid_x, t.grid_threads_x);
  });
}
void invoke(void (*f)(const float*, ushort*, const Ew&, uint, uint), const Bound& b) {  // zwk_to_f16
  const Ew p = b.params<Ew>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<ushort>(1), p, t.grid_x, t.grid_threads_x);
  });
}
void invoke(void (*f)(const float*, const float*, const float*, float*, const ZwNormParams&, float*, uint, uint,
                      uint, uint, uint, uint),
            const Bound& b) {
  const ZwNormParams p = b.params<ZwNormParams>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), b.buffer<float>(2), b.buffer<float>(3), p, t.tg_memory, t.group.x,
      t.tid, t.threads, t.lane, t.simdgroup, t.simdgroups);
  });
}
void invoke(void (*f)(const float*, const float*, float*, const ZwNormParams&, float*, uint, uint, uint, uint,
                      uint, uint),
            const Bound& b) {
  const ZwNormParams p = b.params<ZwNormParams>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), b.buffer<float>(2), p, t.tg_memory, t.group.x, t.tid, t.threads,
      t.lane, t.simdgroup, t.simdgroups);
  });
}
void invoke(void (*f)(const float*, float*, const ZwSoftmaxParams&, float*, uint, uint, uint, uint, uint, uint),
            const Bound& b) {
  const ZwSoftmaxParams p = b.params<ZwSoftmaxParams>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), p, t.tg_memory, t.group.x, t.tid, t.threads, t.lane, t.simdgroup,
      t.simdgroups);
  });
}
void invoke(void (*f)(const float*, float*, const ZwRopeParams&, const float*, const float*, uint, uint),
            const Bound& b) {
  const ZwRopeParams p = b.params<ZwRopeParams>();
  if (b.plan.constants.empty()) fail("rope plan without its frequency buffer");
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<float>(1), p, b.plan.constants.data(), b.buffer<float>(2), t.grid_x,
      t.grid_threads_x);
  });
}
void invoke(void (*f)(const float*, const uchar*, const uchar*, float*, const ZwAttentionParams&, float*, uint2,
                      uint, uint, uint, uint, uint),
            const Bound& b) {
  const ZwAttentionParams p = b.params<ZwAttentionParams>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<uchar>(1), b.buffer<uchar>(2), b.buffer<float>(3), p, t.tg_memory,
      uint2(t.group.x, t.group.y), t.tid, t.lane, t.simdgroup, t.simdgroups, t.simd_width);
  });
}
void invoke(void (*f)(const uchar*, const int*, float*, const ZwGatherParams&, uint2), const Bound& b) {
  const ZwGatherParams p = b.params<ZwGatherParams>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<uchar>(0), b.buffer<int>(1), b.buffer<float>(2), p, uint2(t.grid_x, t.group.y));
  });
}
using Mm = ZwMatmulParams;
void invoke(void (*f)(const float*, const uchar*, float*, const Mm&, uint, uint, uint, uint, uint), const Bound& b) {
  const Mm p = b.params<Mm>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<uchar>(1), b.buffer<float>(2), p, t.group.x, t.lane, t.simdgroup, t.simdgroups,
      t.simd_width);
  });
}
void invoke(void (*f)(const float*, const uchar*, float*, const Mm&, float*, uint2, uint), const Bound& b) {
  const Mm p = b.params<Mm>();
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<uchar>(1), b.buffer<float>(2), p, t.tg_memory, uint2(t.group.x, t.group.y),
      t.tid);
  });
}
void invoke(void (*f)(const float*, const uchar*, float*, const Mm&, float*, uint2, uint, uint), const Bound& b) {
  const Mm p = b.params<Mm>();
  if (b.plan.simd_width != 32) fail("the simd matmul kernels assume 32-wide simdgroups");
  dispatch(b.plan, [&](const ThreadInfo& t) {
    f(b.buffer<float>(0), b.buffer<uchar>(1), b.buffer<float>(2), p, t.tg_memory, uint2(t.group.x, t.group.y),
      t.tid, t.simdgroup);
  });
}

// Runs the kernel the plan names, through the one kernel list.
void run_plan(const EncodePlan& plan, std::vector<uint8_t>& memory) {
  for (unsigned i = 0; i < plan.buffer_count; ++i) {
    const zw::mtl::BufferBinding& binding = plan.buffers[i];
    if (binding.operand.end() > memory.size()) {
      fail("buffer(" + std::to_string(binding.index) + ") lies outside the memory file");
    }
  }
  const Bound bound{plan, memory};
  switch (plan.kernel) {
#define ZW_EMULATE_KERNEL(id, function) \
  case Kernel::id:                      \
    invoke(function, bound);            \
    return;
    ZW_METAL_KERNELS(ZW_EMULATE_KERNEL)
#undef ZW_EMULATE_KERNEL
    case Kernel::count:
      break;
  }
  fail("plan without a kernel");
}

struct Numbers {
  std::vector<double> values;
  size_t next = 0;
  double number() {
    if (next >= values.size()) fail("too few numeric arguments");
    return values[next++];
  }
  uint32_t ptr() { return static_cast<uint32_t>(number()); }
  int32_t i32() { return static_cast<int32_t>(number()); }
  float f() { return static_cast<float>(number()); }
  bool flag() { return number() != 0; }
};

// The op's typed arguments as the op table builds them (ops/op_table.cpp):
// every operand's byte range comes from the validation routine
// (ArgChecker::span, against the memory file's size), then the op is planned.
EncodePlan plan_op(const std::string& op, Numbers& a, uint64_t memory_size, const zw::mtl::DeviceLimits& device) {
  using zw::Elementwise;
  auto u64 = [](int32_t v) { return static_cast<uint64_t>(v); };
  zw::ArgChecker ck(op.c_str(), memory_size);
  const std::pair<const char*, Elementwise> elementwise[] = {{"add", Elementwise::add},     {"mul", Elementwise::mul},
                                                             {"scale", Elementwise::scale}, {"gelu", Elementwise::gelu},
                                                             {"silu", Elementwise::silu},
                                                             {"gelu_tanh", Elementwise::gelu_tanh}};
  if (op == "to_f16") {
    const uint32_t px = a.ptr(), pout = a.ptr();
    zw::ElementwiseArgs args{};
    args.op = Elementwise::to_f16;
    args.n = ck.dim("n", a.i32());
    args.a = ck.span("x", px, u64(args.n), 4, 4);
    args.b = args.a;
    args.out = ck.span("out", pout, u64(args.n), 2, 2);
    return zw::mtl::plan_encode(args, device);
  }
  for (const auto& [name, kind] : elementwise) {
    if (op != name) continue;
    const bool binary = kind == Elementwise::add || kind == Elementwise::mul;
    const uint32_t pa = a.ptr(), pb = binary ? a.ptr() : 0, pout = a.ptr();
    zw::ElementwiseArgs args{};
    args.op = kind;
    args.n = ck.dim("n", a.i32());
    args.a = ck.span("a", pa, u64(args.n), 4, 4);
    args.b = binary ? ck.span("b", pb, u64(args.n), 4, 4) : args.a;
    args.out = ck.span("out", pout, u64(args.n), 4, 4);
    args.s = kind == Elementwise::scale ? a.f() : 0.0f;
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "layernorm" || op == "rmsnorm") {
    const bool rms = op == "rmsnorm";
    const uint32_t px = a.ptr(), pg = a.ptr(), pb = rms ? 0 : a.ptr(), pout = a.ptr();
    zw::NormArgs args{};
    args.rms = rms;
    args.rows = ck.dim("rows", a.i32());
    args.cols = ck.dim("cols", a.i32());
    args.eps = a.f();
    const uint64_t elems = ck.product("rows*cols", {u64(args.rows), u64(args.cols)});
    args.x = ck.span("x", px, elems, 4, 4);
    args.gamma = ck.span("gamma", pg, u64(args.cols), 4, 4);
    if (!rms) args.beta = ck.span("beta", pb, u64(args.cols), 4, 4);
    args.out = ck.span("out", pout, elems, 4, 4);
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "softmax") {
    const uint32_t px = a.ptr(), pout = a.ptr();
    zw::SoftmaxArgs args{};
    args.rows = ck.dim("rows", a.i32());
    args.cols = ck.dim("cols", a.i32());
    args.scale = a.f();
    args.causal = a.flag();
    const uint64_t elems = ck.product("rows*cols", {u64(args.rows), u64(args.cols)});
    args.x = ck.span("x", px, elems, 4, 4);
    args.out = ck.span("out", pout, elems, 4, 4);
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "rope" || op == "rope_factors") {
    const uint32_t px = a.ptr(), pout = a.ptr();
    zw::RopeArgs args{};
    args.rows = ck.dim("rows", a.i32());
    args.heads = ck.dim("heads", a.i32());
    args.head_dim = ck.dim("head_dim", a.i32(), 2);
    args.pos0 = a.i32();
    args.theta = a.f();
    args.adjacent = a.flag();
    const uint64_t elems = ck.product("rows*heads*head_dim", {u64(args.rows), u64(args.heads), u64(args.head_dim)});
    args.x = ck.span("x", px, elems, 4, 4);
    args.out = ck.span("out", pout, elems, 4, 4);
    if (op == "rope_factors") {
      args.has_factors = true;
      args.factors = ck.span("factors", a.ptr(), u64(args.head_dim / 2), 4, 4);
    }
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "attention") {
    const uint32_t pq = a.ptr(), pk = a.ptr(), pv = a.ptr(), pout = a.ptr();
    zw::AttentionArgs args{};
    args.seq_q = ck.dim("seq_q", a.i32());
    args.seq_kv = ck.dim("seq_kv", a.i32());
    args.heads = ck.dim("heads", a.i32());
    args.kv_heads = ck.dim("kv_heads", a.i32());
    args.head_dim = ck.dim("head_dim", a.i32());
    args.scale = a.f();
    const uint32_t flags = static_cast<uint32_t>(a.i32());  // ZW_CAUSAL | ZW_KV_F16, as the guest passes them
    args.causal = flags & zw::abi::kCausal;
    args.kv_type = (flags & zw::abi::kKvF16) ? zw::DType::f16 : zw::DType::f32;
    const uint64_t kv_size = args.kv_type == zw::DType::f16 ? 2 : 4;
    const uint64_t q_elems = ck.product("q", {u64(args.seq_q), u64(args.heads), u64(args.head_dim)});
    const uint64_t kv_elems = ck.product("kv", {u64(args.seq_kv), u64(args.kv_heads), u64(args.head_dim)});
    args.q = ck.span("q", pq, q_elems, 4, 4);
    args.k = ck.span("k", pk, kv_elems, kv_size, kv_size);
    args.v = ck.span("v", pv, kv_elems, kv_size, kv_size);
    args.out = ck.span("out", pout, q_elems, 4, 4);
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "gather") {
    zw::GatherArgs args{};
    args.type = ck.dtype("type", a.ptr());
    const uint32_t ptable = a.ptr();
    args.rows = ck.dim("rows", a.i32());
    const uint32_t pids = a.ptr(), pout = a.ptr();
    args.n = ck.dim("n", a.i32());
    args.dim = ck.dim("dim", a.i32());
    args.table_row_bytes = zw::row_bytes(args.type, u64(args.dim));
    args.table = ck.span("table", ptable, u64(args.rows), args.table_row_bytes, zw::dtype_align(args.type));
    args.ids = ck.span("ids", pids, u64(args.n), 4, 4);
    args.out = ck.span("out", pout, ck.product("n*dim", {u64(args.n), u64(args.dim)}), 4, 4);
    return zw::mtl::plan_encode(args, device);
  }
  if (op == "matmul") {
    zw::MatmulArgs args{};
    args.b_type = ck.dtype("b_type", a.ptr());
    const uint32_t pa = a.ptr(), pb = a.ptr(), pc = a.ptr();
    args.m = ck.dim("m", a.i32());
    args.n = ck.dim("n", a.i32());
    args.k = ck.dim("k", a.i32());
    args.accumulate = a.flag();
    args.b_row_bytes = zw::row_bytes(args.b_type, u64(args.k));
    args.a = ck.span("a", pa, ck.product("m*k", {u64(args.m), u64(args.k)}), 4, 4);
    args.b = ck.span("b", pb, u64(args.n), args.b_row_bytes, zw::dtype_align(args.b_type));
    args.c = ck.span("c", pc, ck.product("m*n", {u64(args.m), u64(args.n)}), 4, 4);
    return zw::mtl::plan_encode(args, device);
  }
  fail("unknown op " + op);
}

std::vector<uint8_t> read_file(const char* path) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) fail(std::string("cannot open ") + path);
  std::vector<uint8_t> bytes;
  uint8_t buffer[65536];
  size_t got;
  while ((got = std::fread(buffer, 1, sizeof(buffer), f)) > 0) bytes.insert(bytes.end(), buffer, buffer + got);
  std::fclose(f);
  return bytes;
}

void write_file(const char* path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path, "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) fail(std::string("cannot write ") + path);
  std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
  int arg = 1;
  if (argc == 2 && std::string(argv[1]) == "--list-kernels") {
    for (int k = 0; k < zw::mtl::kKernelCount; ++k) std::printf("%s\n", zw::mtl::kernel_name(static_cast<Kernel>(k)));
    return 0;
  }
  zw::mtl::DeviceLimits device;
  zw::mtl::PipelineLimits pipeline;  // every emulated pipeline has the same limits
  for (; arg + 1 < argc && std::strncmp(argv[arg], "--", 2) == 0; arg += 2) {
    const std::string name = argv[arg];
    const unsigned long value = std::strtoul(argv[arg + 1], nullptr, 10);
    if (name == "--simd-width") pipeline.simd_width = static_cast<uint32_t>(value);
    else if (name == "--max-threads") pipeline.max_threads = static_cast<uint32_t>(value);
    else if (name == "--threadgroup-memory") device.max_threadgroup_memory = value;
    else if (name == "--stride-groups") device.max_stride_groups = value;
    else if (name == "--simdgroup-matrix") device.simdgroup_matrix = value != 0;
    else fail("unknown option " + name);
  }
  device.pipeline = [&](Kernel) { return pipeline; };
  if (argc - arg < 3) fail("usage: kernel_driver [limits] <op> <memory file> <output file> <numbers...>");
  const std::string op = argv[arg];
  std::vector<uint8_t> memory = read_file(argv[arg + 1]);
  Numbers numbers;
  for (int i = arg + 3; i < argc; ++i) numbers.values.push_back(std::strtod(argv[i], nullptr));

  EncodePlan plan;
  try {
    plan = plan_op(op, numbers, memory.size(), device);
  } catch (const std::exception& e) {
    fail(e.what(), 3);
  }
  std::printf("kernel %s groups %u %u %u threads %u simd_width %u threadgroup_memory %u\n",
              zw::mtl::kernel_name(plan.kernel), plan.groups[0], plan.groups[1], plan.groups[2], plan.threads,
              plan.simd_width, plan.threadgroup_memory);
  std::fflush(stdout);
  run_plan(plan, memory);
  write_file(argv[arg + 2], memory);
  return 0;
}
