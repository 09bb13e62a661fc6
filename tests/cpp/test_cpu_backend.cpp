// The CPU backend below the op table (CTest `cpu_backend`, and
// `cpu_backend_generic` with ZEROWASM_CPU_ISA=generic): the executor's
// contract, kernels called directly with ids no validation has seen, instances
// sharing the thread pool, and the pool's exception handling.
//
// Op results are not checked here: tests/test_ops.py checks every op against
// numpy float64, on the default kernels and on the generic ones
// (tests/test_op_suites.py).
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "harness.hpp"

using namespace zw;
using namespace zwtest;

namespace {

// Ids outside [0, rows) (a guest rewriting them after validation) must not
// read out of bounds: those rows come out zero, the others as for valid ids.
void test_gather_out_of_range_ids() {
  for (DType t : {DType::f32, DType::f16, DType::q8_0, DType::q4_1}) {
    const int rows = 4, dim = 64;
    std::vector<uint8_t> table = random_weights(t, rows, dim);
    const std::vector<int32_t> valid = {1, 3};
    std::vector<float> want(valid.size() * dim, 7.0f);
    cpu::gather(table.data(), rows, t, valid.data(), want.data(), 2, dim);

    const std::vector<int32_t> ids = {1, -1, rows, 1 << 30, 3, INT32_MIN};
    std::vector<float> out(ids.size() * dim, 7.0f);
    cpu::gather(table.data(), rows, t, ids.data(), out.data(), static_cast<int>(ids.size()), dim);
    bool ok = std::memcmp(&out[0], &want[0], dim * 4) == 0 && std::memcmp(&out[4 * dim], &want[dim], dim * 4) == 0;
    for (int i : {1, 2, 3, 5})
      for (int c = 0; c < dim; ++c) ok = ok && out[i * dim + c] == 0.0f && !std::signbit(out[i * dim + c]);
    check(ok, "gather zero-fills out-of-range ids, dtype " + std::to_string(static_cast<int>(t)));
  }
}

void test_executor_contract(LinearMemory& mem, Executor& ex) {
  uint64_t base = reinterpret_cast<uintptr_t>(mem.base());
  check(ex.device_address(0) == base && ex.device_address(4096) == base + 4096,
        "device_address is base + offset");
  check(ex.copies() == 0, "cpu executor makes no copies");
  ex.sync();
  check(true, "sync returns");
}

// Several instances computing at once share the pool (contenders run inline):
// each gets, every time, exactly the result the same matmul gives alone.
void test_concurrent_instances(Backend& backend) {
  constexpr int kThreads = 3, m = 40, n = 200, k = 300;
  std::vector<float> a = randn(m * k), b = randn(n * k);
  std::vector<float> alone;
  {
    LinearMemory mem(make_host_region(16 << 20), 16 << 20, 16 << 20);
    auto ex = backend.make_executor(mem);
    Arena ar(mem);
    Offset oa = ar.put(a), ob = ar.put(b), oc = ar.alloc(m * n * 4);
    const MatmulArgs matmul{{oa, a.size() * 4}, {ob, b.size() * 4}, {oc, m * n * 4}, m, n, k, DType::f32, k * 4, false};
    ex->run(matmul);
    ex->sync();
    alone = ar.get<float>(oc, m * n);
  }
  int failures[kThreads] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      LinearMemory mem(make_host_region(64 << 20), 16 << 20, 64 << 20);
      auto ex = backend.make_executor(mem);
      Arena ar(mem);
      Offset oa = ar.put(a), ob = ar.put(b), oc = ar.alloc(m * n * 4);
      const MatmulArgs matmul{{oa, a.size() * 4}, {ob, b.size() * 4}, {oc, m * n * 4}, m, n, k, DType::f32, k * 4,
                              false};
      for (int rep = 0; rep < 30; ++rep) {
        std::memset(ar.at<float>(oc), 0xff, m * n * 4);  // NaN: unwritten elements show
        ex->run(matmul);
        ex->sync();
        if (std::memcmp(ar.at<float>(oc), alone.data(), m * n * 4) != 0) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    check(failures[t] == 0, "concurrent instance " + std::to_string(t) + " results, " +
                                std::to_string(failures[t]) + " of 30 runs differ from the matmul run alone");
}

// A chunk that throws must neither terminate the process (worker thread) nor
// unwind the caller while other chunks still run: every chunk completes and
// the first exception reaches the caller; the pool stays usable.
void test_pool_exceptions() {
  zw::cpu::ThreadPool& pool = zw::cpu::ThreadPool::instance();
  for (size_t bad : {size_t{0}, size_t{37}, size_t{63}}) {
    std::atomic<int> ran{0};
    bool caught = false;
    try {
      pool.parallel_for(64, 1, [&](size_t b, size_t e) {
        for (size_t i = b; i < e; ++i) {
          std::this_thread::sleep_for(std::chrono::microseconds(50));
          ran.fetch_add(1);
          if (i == bad) throw std::runtime_error("chunk " + std::to_string(i));
        }
      });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "chunk " + std::to_string(bad);
    }
    check(caught, "parallel_for rethrows the failing chunk's exception (chunk " + std::to_string(bad) + ")");
    if (pool.size() > 1)  // inline (one thread) the throw simply ends the loop
      check(ran.load() == 64, "parallel_for runs every chunk despite a throw");
  }
  std::atomic<int> after{0};
  pool.parallel_for(64, 1, [&](size_t b, size_t e) { after.fetch_add(static_cast<int>(e - b)); });
  check(after.load() == 64, "pool usable after an exception");
}

}  // namespace

int main() {
  std::shared_ptr<Backend> backend = make_cpu_backend();
  LinearMemory mem(make_host_region(size_t{1} << 24), 1 << 20, size_t{1} << 24);
  std::unique_ptr<Executor> ex = backend->make_executor(mem);
  std::printf("backend: %s, device: %s, isa: %s, threads: %d\n", backend->name(), backend->device().c_str(),
              cpu::kernel_isa(), cpu::ThreadPool::instance().size());
  test_executor_contract(mem, *ex);
  test_gather_out_of_range_ids();
  test_concurrent_instances(*backend);
  test_pool_exceptions();
  return report();
}
