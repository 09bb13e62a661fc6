// A/B of the CPU's decode GEMV (one row of A, zw::cpu::gemm::row_dots_avx2) between two
// versions of csrc/backend/cpu/gemv_x86.cpp, single thread, in-process best-of-N: the
// shared 2-core machine is too noisy for runs minutes apart to compare.
//
//   git show <old-commit>:csrc/backend/cpu/gemv_x86.cpp > /tmp/gemv_old.cpp
//   for v in old new; do src=/tmp/gemv_old.cpp; [ $v = new ] && src=csrc/backend/cpu/gemv_x86.cpp
//     g++ -std=gnu++20 -O3 -Icsrc -Icsrc/include bench/quant_gemv_ab.cpp $src -o /tmp/gemv_$v; done
//   /tmp/gemv_old 6 640 2048 300; /tmp/gemv_new 6 640 2048 300   # dtype code, n, k, reps
//
// B holds random bytes (scales included): timing only, the values are not checked.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/gemm_internal.hpp"

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s dtype_code n k reps\n", argv[0]);
    return 2;
  }
  const int code = std::atoi(argv[1]), n = std::atoi(argv[2]), k = std::atoi(argv[3]), reps = std::atoi(argv[4]);
  const auto type = static_cast<zw::DType>(code);
  const size_t row = zw::row_bytes(type, static_cast<uint64_t>(k));
  std::vector<uint8_t> b(row * static_cast<size_t>(n));
  std::mt19937 rng(1);
  for (auto& byte : b) byte = static_cast<uint8_t>(rng());
  std::vector<float> a(static_cast<size_t>(k)), c(static_cast<size_t>(n));
  for (auto& x : a) x = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
  const auto row_dots = zw::cpu::gemm::row_dots_avx2();
  if (!row_dots) return 1;
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    row_dots(a.data(), static_cast<size_t>(k), 1, b.data(), row, type, n, k, c.data(), static_cast<size_t>(n), false);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::printf("dtype %d n %d k %d: best %.1f us, %.2f GB/s of weights\n", code, n, k, best * 1e6,
              static_cast<double>(row) * n / best / 1e9);
  return 0;
}
