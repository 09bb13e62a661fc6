// A/B of the CPU's decode GEMV (zw::cpu::gemm::row_dots_avx2) between two
// versions of csrc/backend/cpu/gemv_x86.cpp, single thread, both linked into
// one binary and alternated call by call, best-of-N each: the shared 2-core
// machine is too noisy for runs even seconds apart to compare.
//
//   d=/tmp/gemv_old_src; mkdir -p $d/backend/cpu
//   git show <old-commit>:csrc/backend/cpu/gemv_x86.cpp > $d/gemv_x86.cpp
//   git show <old-commit>:csrc/backend/cpu/x86_simd.hpp > $d/backend/cpu/x86_simd.hpp  # found first by
//   for v in old new; do src=$d/gemv_x86.cpp; [ $v = new ] && src=csrc/backend/cpu/gemv_x86.cpp  # its #include
//     g++ -std=gnu++20 -O3 -Icsrc -Icsrc/include -Drow_dots_avx2=row_dots_$v -c $src -o /tmp/gemv_$v.o; done
//   g++ -std=gnu++20 -O3 -Icsrc -Icsrc/include bench/quant_gemv_ab.cpp /tmp/gemv_old.o /tmp/gemv_new.o -o /tmp/gemv_ab
//   /tmp/gemv_ab 5 2048 640 300      # dtype code (ZW_DTYPE_*), n, k, reps [, rows of A (default 1)]
//
// B holds random bytes (scales included): timing only, the values are not checked.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/gemm_internal.hpp"

namespace zw::cpu::gemm {
RowDots row_dots_old();
RowDots row_dots_new();
}  // namespace zw::cpu::gemm

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::fprintf(stderr, "usage: %s dtype_code n k reps [rows_a]\n", argv[0]);
    return 2;
  }
  const int code = std::atoi(argv[1]), n = std::atoi(argv[2]), k = std::atoi(argv[3]), reps = std::atoi(argv[4]);
  const int m = argc == 6 ? std::atoi(argv[5]) : 1;
  const auto type = static_cast<zw::DType>(code);
  const size_t row = zw::row_bytes(type, static_cast<uint64_t>(k));
  std::vector<uint8_t> b(row * static_cast<size_t>(n));
  std::mt19937 rng(1);
  for (auto& byte : b) byte = static_cast<uint8_t>(rng());
  std::vector<float> a(static_cast<size_t>(k) * m), c(static_cast<size_t>(n) * m);
  for (auto& x : a) x = static_cast<float>(rng() % 1000) / 500.0f - 1.0f;
  const zw::cpu::gemm::RowDots kernels[2] = {zw::cpu::gemm::row_dots_old(), zw::cpu::gemm::row_dots_new()};
  if (!kernels[0] || !kernels[1]) return 1;
  double best[2] = {1e30, 1e30};
  for (int r = 0; r < reps; ++r)
    for (int v = 0; v < 2; ++v) {
      const auto t0 = std::chrono::steady_clock::now();
      kernels[v](a.data(), static_cast<size_t>(k), m, b.data(), row, type, n, k, c.data(), static_cast<size_t>(n),
                 false);
      best[v] = std::min(best[v], std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  std::printf("dtype %d n %d k %d m %d: old %.1f us, new %.1f us (%.2fx), new %.2f GB/s of weights\n", code, n, k, m,
              best[0] * 1e6, best[1] * 1e6, best[0] / best[1], static_cast<double>(row) * n / best[1] / 1e9);
  return 0;
}
