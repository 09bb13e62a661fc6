// Standalone harness for the CPU backend: every op through CpuExecutor on a
// LinearMemory, against naive double-precision references written here.
// Run via tests/cpp/build_and_run.sh; `--bench` runs the micro-benchmarks.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "backend/cpu/cpu_kernels.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "harness.hpp"
#include "reference.hpp"

using namespace zw;
using namespace zwtest;

int run_bench(Arena& arena, Executor& ex, const std::string& only);  // cpu_bench.cpp
void test_scalar_math();                    // test_kernel_math.cpp

namespace {

constexpr double kTol = 1e-5;  // f32 ops: max|err| / max|ref|
const DType kTypes[] = {DType::f32, DType::f16, DType::q8_0, DType::q4_1};
const char* type_name(DType t) {
  static const char* names[] = {"f32", "f16", "q8_0", "q4_1"};
  return names[static_cast<int>(t)];
}

void test_matmul(Arena& ar, Executor& ex) {
  struct Shape { int m, n, k; };
  const Shape shapes[] = {{1, 1, 1},    {1, 576, 576}, {2, 17, 33},    {3, 40, 64},
                          {4, 33, 100}, {5, 16, 96},   {6, 16, 256},   {7, 33, 300},
                          {13, 50, 257}, {64, 96, 512}, {100, 70, 1000}, {37, 129, 4096},
                          {150, 1100, 64}};
  for (DType t : kTypes) {
    for (Shape s : shapes) {
      int k = is_block_quantized(t) ? (s.k + 31) / 32 * 32 : s.k;
      for (bool acc : {false, true}) {
        ar.reset();
        std::vector<float> a = randn(static_cast<size_t>(s.m) * k);
        Weights b = random_weights(t, s.n, k);
        std::vector<float> c0 = randn(static_cast<size_t>(s.m) * s.n);
        Offset oa = ar.put(a), ob = ar.put(b.bytes), oc = ar.put(c0);
        ex.run(MatmulArgs{{oa, a.size() * 4}, {ob, b.bytes.size()}, {oc, c0.size() * 4}, s.m, s.n, k, t,
                          b.bytes.size() / s.n, acc});
        ex.sync();
        std::vector<double> ref = ref_matmul(a, b.values, acc ? &c0 : nullptr, s.m, s.n, k);
        check_close(ar.get<float>(oc, ref.size()), ref, kTol,
                    std::string("matmul ") + type_name(t) + " m=" + std::to_string(s.m) +
                        " n=" + std::to_string(s.n) + " k=" + std::to_string(k) +
                        (acc ? " acc" : ""));
      }
    }
  }
}

void test_elementwise(Arena& ar, Executor& ex) {
  const Elementwise ops[] = {Elementwise::add, Elementwise::mul, Elementwise::scale,
                             Elementwise::gelu, Elementwise::silu};
  for (int n : {1, 7, 8, 1000, 100003, 300000}) {
    for (Elementwise op : ops) {
      bool binary = op == Elementwise::add || op == Elementwise::mul;
      for (int alias = 0; alias < (binary ? 3 : 2); ++alias) {  // 0 none, 1 out=a, 2 out=b
        ar.reset();
        std::vector<float> a = randn(n, 3.0f), b = randn(n, 3.0f);
        float s = -1.75f;
        Offset oa = ar.put(a), ob = ar.put(b);
        Offset out = alias == 1 ? oa : alias == 2 ? ob : ar.alloc(n * 4);
        const uint64_t bytes = uint64_t(n) * 4;
        ex.run(ElementwiseArgs{op, {oa, bytes}, {binary ? ob : oa, bytes}, {out, bytes}, n, s});
        std::vector<double> ref = ref_elementwise(op, a, b, s);
        check_close(ar.get<float>(out, n), ref, kTol,
                    "elementwise op=" + std::to_string(static_cast<int>(op)) +
                        " n=" + std::to_string(n) + " alias=" + std::to_string(alias));
      }
    }
  }
}

void test_norms(Arena& ar, Executor& ex) {
  struct Shape { int rows, cols; };
  for (Shape s : {Shape{1, 1}, Shape{3, 7}, Shape{4, 384}, Shape{2, 4096}, Shape{257, 576}}) {
    for (bool rms : {false, true}) {
      for (bool alias : {false, true}) {
        ar.reset();
        size_t n = static_cast<size_t>(s.rows) * s.cols;
        std::vector<float> x = randn(n), g = randn(s.cols), b = randn(s.cols);
        for (float& v : x) v += 3.0f;  // a mean far from 0 exposes naive variance formulas
        float eps = rms ? 1e-5f : 1e-12f;
        Offset ox = ar.put(x), og = ar.put(g), ob = ar.put(b);
        Offset out = alias ? ox : ar.alloc(n * 4);
        const uint64_t row = uint64_t(s.cols) * 4;
        ex.run(NormArgs{rms, {ox, n * 4}, {og, row}, rms ? Operand{} : Operand{ob, row}, {out, n * 4}, s.rows,
                        s.cols, eps});
        std::vector<double> ref = ref_norm(rms, x, g, b, s.rows, s.cols, eps);
        check_close(ar.get<float>(out, n), ref, kTol,
                    std::string(rms ? "rmsnorm" : "layernorm") + " " + std::to_string(s.rows) +
                        "x" + std::to_string(s.cols) + (alias ? " alias" : ""));
      }
    }
  }
}

void test_softmax(Arena& ar, Executor& ex) {
  struct Shape { int rows, cols; };
  for (Shape s : {Shape{1, 1}, Shape{1, 10}, Shape{4, 4}, Shape{3, 8}, Shape{8, 3},
                  Shape{64, 1000}, Shape{2, 4096}}) {
    for (float scale : {1.0f, 0.125f, -2.0f}) {
      for (bool causal : {false, true}) {
        ar.reset();
        size_t n = static_cast<size_t>(s.rows) * s.cols;
        std::vector<float> x = randn(n, 4.0f);
        Offset ox = ar.put(x);
        Offset out = causal ? ox : ar.alloc(n * 4);  // alias on half the cases
        ex.run(SoftmaxArgs{{ox, n * 4}, {out, n * 4}, s.rows, s.cols, scale, causal});
        std::vector<double> ref = ref_softmax(x, s.rows, s.cols, scale, causal);
        check_close(ar.get<float>(out, n), ref, kTol,
                    "softmax " + std::to_string(s.rows) + "x" + std::to_string(s.cols) +
                        " scale=" + std::to_string(scale) + (causal ? " causal" : ""));
      }
    }
  }
}

void test_rope(Arena& ar, Executor& ex) {
  for (int rows : {1, 5, 17}) {
    for (int heads : {1, 3}) {
      for (int d : {2, 8, 64}) {
        for (int pos0 : {0, 7, 5000}) {
          for (bool adjacent : {false, true}) {
            ar.reset();
            float theta = adjacent ? 100000.0f : 10000.0f;
            size_t n = static_cast<size_t>(rows) * heads * d;
            std::vector<float> x = randn(n);
            Offset ox = ar.put(x);
            Offset out = pos0 == 7 ? ox : ar.alloc(n * 4);
            ex.run(RopeArgs{{ox, n * 4}, {out, n * 4}, rows, heads, d, pos0, theta, adjacent});
            std::vector<double> ref = ref_rope(x, rows, heads, d, pos0, theta, adjacent);
            check_close(ar.get<float>(out, n), ref, kTol,
                        "rope rows=" + std::to_string(rows) + " heads=" + std::to_string(heads) +
                            " d=" + std::to_string(d) + " pos0=" + std::to_string(pos0) +
                            (adjacent ? " adjacent" : " halves"));
          }
        }
      }
    }
  }
}

void test_attention(Arena& ar, Executor& ex) {
  struct Shape { int sq, skv, h, kvh, d; };
  for (Shape s : {Shape{1, 1, 1, 1, 8}, Shape{1, 37, 9, 3, 64}, Shape{5, 5, 4, 2, 32},
                  Shape{7, 20, 6, 3, 16}, Shape{20, 7, 2, 1, 8}, Shape{128, 128, 12, 12, 32},
                  Shape{3, 1500, 2, 2, 64}}) {
    for (bool causal : {false, true}) {
      ar.reset();
      std::vector<float> q = randn(static_cast<size_t>(s.sq) * s.h * s.d);
      std::vector<float> k = randn(static_cast<size_t>(s.skv) * s.kvh * s.d);
      std::vector<float> v = randn(static_cast<size_t>(s.skv) * s.kvh * s.d);
      float scale = 1.0f / std::sqrt(static_cast<float>(s.d));
      Offset oq = ar.put(q), ok = ar.put(k), ov = ar.put(v), out = ar.alloc(q.size() * 4);
      ex.run(AttentionArgs{{oq, q.size() * 4}, {ok, k.size() * 4}, {ov, v.size() * 4}, {out, q.size() * 4},
                           s.sq, s.skv, s.h, s.kvh, s.d, scale, causal});
      std::vector<double> ref = ref_attention(q, k, v, s.sq, s.skv, s.h, s.kvh, s.d, scale, causal);
      check_close(ar.get<float>(out, q.size()), ref, kTol,
                  "attention sq=" + std::to_string(s.sq) + " skv=" + std::to_string(s.skv) +
                      " h=" + std::to_string(s.h) + "/" + std::to_string(s.kvh) +
                      " d=" + std::to_string(s.d) + (causal ? " causal" : ""));
    }
  }
}

void test_gather(Arena& ar, Executor& ex) {
  for (DType t : kTypes) {
    for (int dim : {32, 64, 576}) {
      ar.reset();
      int rows = 50, n = 23;
      Weights w = random_weights(t, rows, dim);
      std::vector<int32_t> ids(n);
      for (int32_t& id : ids) id = randint(0, rows - 1);
      ids[0] = 0, ids[1] = rows - 1, ids[2] = ids[3];
      Offset ot = ar.put(w.bytes), oi = ar.put(ids), out = ar.alloc(static_cast<size_t>(n) * dim * 4);
      ex.run(GatherArgs{{ot, w.bytes.size()}, rows, {oi, ids.size() * 4}, {out, uint64_t(n) * dim * 4}, n, dim,
                        t, w.bytes.size() / rows});
      std::vector<double> ref;
      for (int32_t id : ids)
        ref.insert(ref.end(), w.values.begin() + static_cast<long>(id) * dim,
                   w.values.begin() + static_cast<long>(id + 1) * dim);
      check_close(ar.get<float>(out, ref.size()), ref, 0.0,
                  std::string("gather ") + type_name(t) + " dim=" + std::to_string(dim));
    }
  }
}

// Ids outside [0, rows) (a guest rewriting them after validation) must not
// read out of bounds: those rows come out zero.
void test_gather_out_of_range_ids() {
  Weights w = random_weights(DType::q4_1, 4, 64);
  std::vector<int32_t> ids = {1, -1, 4, 1 << 30, 3};
  std::vector<float> out(ids.size() * 64, 7.0f);
  cpu::gather(w.bytes.data(), 4, DType::q4_1, ids.data(), out.data(), 5, 64);
  bool ok = true;
  for (int i = 0; i < 5; ++i)
    for (int c = 0; c < 64; ++c) {
      double want = (i == 0 || i == 4) ? w.values[ids[i] * 64 + c] : 0.0;
      ok = ok && out[i * 64 + c] == want;
    }
  check(ok, "gather zero-fills out-of-range ids");
}

void test_executor_contract(LinearMemory& mem, Executor& ex) {
  uint64_t base = reinterpret_cast<uintptr_t>(mem.base());
  check(ex.device_address(0) == base && ex.device_address(4096) == base + 4096,
        "device_address is base + offset");
  check(ex.copies() == 0, "cpu executor makes no copies");
  ex.sync();
  check(true, "sync returns");
}

// Several instances computing at once share the pool (contenders run inline).
void test_concurrent_instances(Backend& backend) {
  constexpr int kThreads = 3;
  int failures[kThreads] = {};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      LinearMemory mem(make_host_region(64 << 20), 16 << 20, 64 << 20);
      auto ex = backend.make_executor(mem);
      Arena ar(mem);
      std::mt19937 local(77 + t);
      std::normal_distribution<float> nd;
      int m = 40, n = 200, k = 300;
      std::vector<float> a(m * k), b(n * k);
      for (float& x : a) x = nd(local);
      for (float& x : b) x = nd(local);
      std::vector<double> bd(b.begin(), b.end());
      std::vector<double> ref = ref_matmul(a, bd, nullptr, m, n, k);
      Offset oa = ar.put(a), ob = ar.put(b), oc = ar.alloc(m * n * 4);
      for (int rep = 0; rep < 30; ++rep) {
        ex->run(MatmulArgs{{oa, a.size() * 4}, {ob, b.size() * 4}, {oc, uint64_t(m) * n * 4}, m, n, k, DType::f32,
                           uint64_t(k) * 4, false});
        if (rel_err(ar.get<float>(oc, m * n), ref) > kTol) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t)
    check(failures[t] == 0, "concurrent instance " + std::to_string(t) + " results");
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

int main(int argc, char** argv) {
  std::shared_ptr<Backend> backend = make_cpu_backend();
  LinearMemory mem(make_host_region(size_t{1} << 30), 1 << 20, size_t{1} << 30);
  std::unique_ptr<Executor> ex = backend->make_executor(mem);
  Arena arena(mem);
  std::printf("backend: %s, device: %s\n", backend->name(), backend->device().c_str());
  if (argc > 1 && std::string(argv[1]) == "--bench") return run_bench(arena, *ex, argc > 2 ? argv[2] : "");

  test_scalar_math();
  test_executor_contract(mem, *ex);
  test_matmul(arena, *ex);
  test_elementwise(arena, *ex);
  test_norms(arena, *ex);
  test_softmax(arena, *ex);
  test_rope(arena, *ex);
  test_attention(arena, *ex);
  test_gather(arena, *ex);
  test_gather_out_of_range_ids();
  test_concurrent_instances(*backend);
  test_pool_exceptions();
  std::printf("%d passed, %d failed\n", tally().passed, tally().failed);
  return tally().failed == 0 ? 0 : 1;
}
