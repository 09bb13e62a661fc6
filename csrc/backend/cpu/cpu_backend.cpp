// The CPU backend: kernels run synchronously, in the calling thread plus the
// shared pool, directly on the instance's linear memory (base + offset). No
// staging copies exist, so copies() is 0 and sync() has nothing to wait for.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "backend/backend.hpp"
#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/thread_pool.hpp"

#if defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace zw {
namespace {

class CpuExecutor final : public Executor {
 public:
  explicit CpuExecutor(LinearMemory& memory) : memory_(memory) {}

  void run(const MatmulArgs& a) override {
    cpu::matmul(f32(a.a), bytes(a.b), a.b_type, f32(a.c), a.m, a.n, a.k, a.accumulate);
  }
  void run(const ElementwiseArgs& a) override {
    if (a.op == Elementwise::to_f16) return cpu::to_f16(f32(a.a), bytes(a.out), static_cast<size_t>(a.n));
    bool binary = a.op == Elementwise::add || a.op == Elementwise::mul;
    cpu::elementwise(a.op, f32(a.a), binary ? f32(a.b) : nullptr, f32(a.out),
                     static_cast<size_t>(a.n), a.s);
  }
  void run(const NormArgs& a) override {
    if (a.rms)
      cpu::rmsnorm(f32(a.x), f32(a.gamma), f32(a.out), a.rows, a.cols, a.eps);
    else
      cpu::layernorm(f32(a.x), f32(a.gamma), f32(a.beta), f32(a.out), a.rows, a.cols, a.eps);
  }
  void run(const SoftmaxArgs& a) override {
    cpu::softmax(f32(a.x), f32(a.out), a.rows, a.cols, a.scale, a.causal);
  }
  void run(const RopeArgs& a) override {
    cpu::rope(f32(a.x), f32(a.out), a.rows, a.heads, a.head_dim, a.pos0, a.theta, a.adjacent,
              a.has_factors ? f32(a.factors) : nullptr);
  }
  void run(const AttentionArgs& a) override {
    cpu::attention(f32(a.q), bytes(a.k), bytes(a.v), f32(a.out), a.seq_q, a.seq_kv, a.heads,
                   a.kv_heads, a.head_dim, a.scale, a.causal, a.kv_type == DType::f16);
  }
  void run(const GatherArgs& a) override {
    const auto* ids = reinterpret_cast<const int32_t*>(bytes(a.ids));
    cpu::gather(bytes(a.table), a.rows, a.type, ids, f32(a.out), a.n, a.dim);
  }
  void sync() override {}
  uint64_t device_address(Offset off) const override {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(memory_.base())) + off;
  }

 private:
  // base() is re-read per op: it never moves, but reading it is as cheap as caching it.
  uint8_t* bytes(const Operand& o) const { return memory_.base() + o.offset; }
  float* f32(const Operand& o) const { return reinterpret_cast<float*>(bytes(o)); }

  LinearMemory& memory_;
};

std::string cpu_model_name() {
#if defined(__APPLE__)
  char buf[256];
  size_t len = sizeof(buf);
  if (sysctlbyname("machdep.cpu.brand_string", buf, &len, nullptr, 0) == 0) return buf;
#elif defined(__linux__)
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
#endif
  return "CPU";
}

class CpuBackend final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  bool can_map_files() const override { return true; }  // kernels read base + offset, nothing cached
  std::string device() const override {
    return cpu_model_name() + " (" + std::to_string(cpu::ThreadPool::instance().size()) +
           " threads, " + cpu::kernel_isa() + " kernels)";
  }
  std::unique_ptr<Executor> make_executor(LinearMemory& memory) override {
    return std::make_unique<CpuExecutor>(memory);
  }
};

}  // namespace

std::shared_ptr<Backend> make_cpu_backend() { return std::make_shared<CpuBackend>(); }

}  // namespace zw
