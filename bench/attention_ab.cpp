// A/B of the CPU's decode attention (zw::cpu::attention with one query row) between two
// versions of csrc/backend/cpu/attention.cpp, as a model runs it: one call per layer
// over `layers` separate K/V caches, so K/V stream from memory instead of sitting in
// cache, binary16 as the llm guest keeps them (ZW_KV_F16). Reports the best of `reps`
// passes over all layers, wall and process CPU time (the shared machine is noisy: run
// both binaries interleaved).
//
//   git show <old>:csrc/backend/cpu/attention.cpp > /tmp/attention_old.cpp
//   CPU=csrc/backend/cpu; for v in old new; do src=/tmp/attention_old.cpp; [ $v = new ] && src=$CPU/attention.cpp
//     g++ -std=gnu++20 -O3 -ftree-vectorize -fno-trapping-math -Icsrc -Icsrc/include bench/attention_ab.cpp $src
//       $CPU/{row_ops,thread_pool,gemm,gemm_x86,gemv_x86,elementwise,attention_x86}.cpp -lpthread -o /tmp/attn_$v; done
//   /tmp/attn_old 9 3 64 2048 30 20; /tmp/attn_new 9 3 64 2048 30 20  # heads kv_heads d seq_kv layers reps
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "backend/cpu/cpu_kernels.hpp"
#include "kernels/kernel_math.h"

static double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: %s heads kv_heads head_dim seq_kv layers reps\n", argv[0]);
    return 2;
  }
  const int heads = std::atoi(argv[1]), kv_heads = std::atoi(argv[2]), d = std::atoi(argv[3]);
  const int seq_kv = std::atoi(argv[4]), layers = std::atoi(argv[5]), reps = std::atoi(argv[6]);
  const size_t kv = static_cast<size_t>(seq_kv) * kv_heads * d;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<std::vector<uint16_t>> k(layers, std::vector<uint16_t>(kv)), v(layers, std::vector<uint16_t>(kv));
  for (int l = 0; l < layers; ++l)
    for (size_t i = 0; i < kv; ++i) k[l][i] = zw_f32_to_f16(normal(rng)), v[l][i] = zw_f32_to_f16(normal(rng));
  std::vector<float> q(static_cast<size_t>(heads) * d), out(q.size());
  for (auto& x : q) x = normal(rng);
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  double best_wall = 1e30, best_cpu = 1e30, checksum = 0;
  for (int r = 0; r < reps; ++r) {
    const double c0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    for (int l = 0; l < layers; ++l)
      zw::cpu::attention(q.data(), reinterpret_cast<const uint8_t*>(k[l].data()),
                         reinterpret_cast<const uint8_t*>(v[l].data()), out.data(), 1, seq_kv, heads, kv_heads, d,
                         scale, true, true);
    best_wall = std::min(best_wall, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    best_cpu = std::min(best_cpu, cpu_seconds() - c0);
    checksum += out[0];
  }
  std::printf("heads %d/%d d %d seq_kv %d x %d layers: best %.3f ms wall, %.3f ms CPU (checksum %.6f)\n", heads,
              kv_heads, d, seq_kv, layers, 1e3 * best_wall, 1e3 * best_cpu, checksum / reps);
}
