// Micro-benchmarks for the CPU backend (not a test; built with the native
// tests: <build>/tests/cpp/zw_cpu_bench [f32|matmul]): matmul GFLOP/s at the
// project's reference shapes, and per-op cost of small and mid-sized ops
// through the executor. Prints best-of-N timings. `f32` / `matmul` stop after
// those sections.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "harness.hpp"

using namespace zw;
using namespace zwtest;

namespace {

// Best time per call (seconds) over `reps` rounds of `iters` calls.
// ZW_BENCH_REPS raises the rounds on a noisy (shared) machine.
int bench_reps() {
  const char* env = std::getenv("ZW_BENCH_REPS");
  return env ? std::max(1, std::atoi(env)) : 7;
}

template <class F>
double best_time(F&& f, int iters, int reps = bench_reps()) {
  f();  // warm caches, pool and page tables
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) f();
    std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    best = std::min(best, dt.count() / iters);
  }
  return best;
}

void bench_matmul(Arena& ar, Executor& ex, int m, int k, int n, DType t, const char* label) {
  ar.reset();
  std::vector<float> a = randn(static_cast<size_t>(m) * k);
  std::vector<uint8_t> w = random_weights(t, n, k);
  Offset oa = ar.put(a), ob = ar.put(w), oc = ar.alloc(static_cast<size_t>(m) * n * 4);
  double flops = 2.0 * m * n * k;
  int iters = std::max(1, static_cast<int>(3e8 / flops));
  const MatmulArgs args{{oa, a.size() * 4}, {ob, w.size()}, {oc, uint64_t(m) * n * 4}, m, n, k, t,
                        w.size() / n, false};
  double s = best_time([&] { ex.run(args); }, iters);
  std::printf("matmul %-5s m=%-4d k=%-5d n=%-5d %9.1f us %8.1f GFLOP/s\n", label, m, k, n,
              s * 1e6, flops / s * 1e-9);
}

int run_bench(Arena& ar, Executor& ex, const std::string& only) {
  std::printf("threads=%d isa=%s\n", cpu::ThreadPool::instance().size(), cpu::kernel_isa());
  struct Shape { int m, k, n; };
  const Shape shapes[] = {{1, 576, 576},    {128, 384, 1536}, {512, 1536, 384},
                          {128, 1536, 384}, {512, 384, 1536}, {1, 576, 1536},
                          {1, 1536, 576},   {128, 576, 1536}, {4, 576, 576}};
  for (Shape s : shapes) bench_matmul(ar, ex, s.m, s.k, s.n, DType::f32, "f32");
  if (only == "f32") return 0;
  for (DType t : {DType::f16, DType::q8_0, DType::q4_1}) {
    const char* name = t == DType::f16 ? "f16" : t == DType::q8_0 ? "q8_0" : "q4_1";
    bench_matmul(ar, ex, 1, 576, 1536, t, name);
    bench_matmul(ar, ex, 1, 1536, 576, t, name);
    bench_matmul(ar, ex, 128, 576, 1536, t, name);
  }
  if (only == "matmul") return 0;

  ar.reset();
  std::vector<float> x = randn(128 * 1536);
  Offset ox = ar.put(x), oy = ar.put(x), ov = ar.put(x), oz = ar.alloc(x.size() * 4);
  Offset og = ar.put(randn(1536));
  auto report = [](const char* what, double s) { std::printf("%-40s %10.1f ns\n", what, s * 1e9); };
  auto f32s = [](Offset off, uint64_t count) { return Operand{off, count * 4}; };
  report("add n=16 (per op, through executor)",
         best_time([&] { ex.run(ElementwiseArgs{Elementwise::add, f32s(ox, 16), f32s(oy, 16), f32s(oz, 16), 16, 0}); }, 1000000));
  report("add n=4096",
         best_time([&] { ex.run(ElementwiseArgs{Elementwise::add, f32s(ox, 4096), f32s(oy, 4096), f32s(oz, 4096), 4096, 0}); }, 100000));
  report("add n=196608",
         best_time([&] { ex.run(ElementwiseArgs{Elementwise::add, f32s(ox, 196608), f32s(oy, 196608), f32s(oz, 196608), 196608, 0}); }, 2000));
  report("gelu n=196608 (128x1536)",
         best_time([&] { ex.run(ElementwiseArgs{Elementwise::gelu, f32s(ox, 196608), f32s(ox, 196608), f32s(oz, 196608), 196608, 0}); }, 500));
  report("silu n=1536",
         best_time([&] { ex.run(ElementwiseArgs{Elementwise::silu, f32s(ox, 1536), f32s(ox, 1536), f32s(oz, 1536), 1536, 0}); }, 100000));
  report("rmsnorm 1x576",
         best_time([&] { ex.run(NormArgs{true, f32s(ox, 576), f32s(og, 576), {}, f32s(oz, 576), 1, 576, 1e-5f}); }, 100000));
  report("layernorm 128x384",
         best_time([&] { ex.run(NormArgs{false, f32s(ox, 128 * 384), f32s(og, 384), f32s(og, 384), f32s(oz, 128 * 384), 128, 384, 1e-12f}); }, 5000));
  report("softmax 1536x128 (12 heads x 128 rows)",
         best_time([&] { ex.run(SoftmaxArgs{f32s(ox, 1536 * 128), f32s(oz, 1536 * 128), 1536, 128, 0.17f, false}); }, 2000));
  report("rope 1x9x64 pos 100",
         best_time([&] { ex.run(RopeArgs{f32s(ox, 9 * 64), f32s(oz, 9 * 64), 1, 9, 64, 100, 1e5f, true, false, {}}); }, 100000));
  report("attention decode q=1 kv=256 9/3 heads d=64",
         best_time([&] { ex.run(AttentionArgs{f32s(ox, 9 * 64), f32s(oy, 256 * 3 * 64), f32s(ov, 256 * 3 * 64),
                                                 f32s(oz, 9 * 64), 1, 256, 9, 3, 64, 0.125f, true, DType::f32}); },
                   20000));
  report("attention prefill 128x128 12 heads d=32",
         best_time([&] { ex.run(AttentionArgs{f32s(ox, 128 * 12 * 32), f32s(oy, 128 * 12 * 32),
                                                 f32s(ov, 128 * 12 * 32), f32s(oz, 128 * 12 * 32), 128, 128, 12,
                                                 12, 32, 0.17f, false, DType::f32}); },
                   500));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::shared_ptr<Backend> backend = make_cpu_backend();
  LinearMemory mem(make_host_region(size_t{1} << 30), 1 << 20, size_t{1} << 30);
  std::unique_ptr<Executor> ex = backend->make_executor(mem);
  Arena arena(mem);
  std::printf("backend: %s, device: %s\n", backend->name(), backend->device().c_str());
  return run_bench(arena, *ex, argc > 1 ? argv[1] : "");
}
