// A/B of the CPU's decode GEMV (zw::cpu::gemm::row_dots_avx2) between two
// versions of csrc/backend/cpu/gemv_x86.cpp, one thread (or two), both linked into
// one binary and alternated call by call, best-of-N each: the shared 2-core
// machine is too noisy for runs even seconds apart to compare.
//
//   d=/tmp/gemv_old_src; mkdir -p $d/backend/cpu
//   git show <old-commit>:csrc/backend/cpu/gemv_x86.cpp > $d/gemv_x86.cpp
//   git show <old-commit>:csrc/backend/cpu/x86_simd.hpp > $d/backend/cpu/x86_simd.hpp  # found first by
//   for v in old new; do src=$d/gemv_x86.cpp; [ $v = new ] && src=csrc/backend/cpu/gemv_x86.cpp  # its #include
//     g++ -std=gnu++20 -O3 -Icsrc -Icsrc/include -Drow_dots_avx2=row_dots_$v -c $src -o /tmp/gemv_$v.o; done
//   g++ -std=gnu++20 -O3 -Icsrc -Icsrc/include -pthread bench/quant_gemv_ab.cpp /tmp/gemv_{old,new}.o -o /tmp/gemv_ab
//   /tmp/gemv_ab 5 2048 640 300      # dtype code (ZW_DTYPE_*), n, k, reps [, rows of A (default 1) [, threads]]
//
// B holds random bytes (scales included): timing only, the values are not checked.
// threads = 2 splits B's rows in two halves, the second on a worker thread
// that spins on a call counter (as the thread pool's workers do), the way
// matmul_row_dots runs a decode GEMV on two threads.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "backend/cpu/gemm_internal.hpp"

namespace zw::cpu::gemm {
RowDots row_dots_old();
RowDots row_dots_new();
}  // namespace zw::cpu::gemm

int main(int argc, char** argv) {
  if (argc < 5 || argc > 7) {
    std::fprintf(stderr, "usage: %s dtype_code n k reps [rows_a [threads]]\n", argv[0]);
    return 2;
  }
  const int code = std::atoi(argv[1]), n = std::atoi(argv[2]), k = std::atoi(argv[3]), reps = std::atoi(argv[4]);
  const int m = argc >= 6 ? std::atoi(argv[5]) : 1, threads = argc == 7 ? std::atoi(argv[6]) : 1;
  const auto type = static_cast<zw::DType>(code);
  const size_t row = zw::row_bytes(type, static_cast<uint64_t>(k));
  std::vector<uint8_t> b(row * static_cast<size_t>(n));
  std::mt19937 rng(1);
  for (auto& byte : b) byte = static_cast<uint8_t>(rng());
  std::vector<float> a(static_cast<size_t>(k) * m), c(static_cast<size_t>(n) * m);
  for (auto& x : a) x = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
  const zw::cpu::gemm::RowDots kernels[2] = {zw::cpu::gemm::row_dots_old(), zw::cpu::gemm::row_dots_new()};
  if (!kernels[0] || !kernels[1]) return 1;
  // Rows [begin, end) of B with kernel v.
  auto part = [&](int v, int begin, int end) {
    kernels[v](a.data(), static_cast<size_t>(k), m, b.data() + row * begin, row, type, end - begin, k,
               c.data() + begin, static_cast<size_t>(n), false);
  };
  const int half = threads == 2 ? n / 2 : n;
  std::atomic<int> posted{0}, done{0}, kernel{0};
  std::thread worker;
  if (threads == 2)
    worker = std::thread([&] {
      for (int seen = 0;;) {
        int p;
        while ((p = posted.load(std::memory_order_acquire)) == seen) std::this_thread::yield();
        if (p < 0) return;
        seen = p;
        part(kernel.load(), half, n);
        done.store(p, std::memory_order_release);
      }
    });
  double best[2] = {1e30, 1e30};
  int calls = 0;
  for (int r = 0; r < reps; ++r)
    for (int v = 0; v < 2; ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      if (threads == 2) {
        kernel.store(v);
        posted.store(++calls, std::memory_order_release);
      }
      part(v, 0, half);
      if (threads == 2)
        while (done.load(std::memory_order_acquire) != calls) std::this_thread::yield();
      best[v] = std::min(best[v], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  if (threads == 2) {
    posted.store(-1, std::memory_order_release);
    worker.join();
  }
  std::printf("dtype %d n %d k %d m %d threads %d: old %.1f us, new %.1f us (%.2fx), new %.2f GB/s of weights\n", code,
              n, k, m, threads, best[0] * 1e6, best[1] * 1e6, best[0] / best[1],
              static_cast<double>(row) * n / best[1] / 1e9);
  return 0;
}
