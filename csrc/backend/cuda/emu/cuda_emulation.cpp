// CPU execution of CUDA-style kernels (see cuda_emulation.hpp).
#include "backend/cuda/emu/cuda_emulation.hpp"

#include <stdexcept>
#include <string>
#include <thread>

namespace zw_emu {

void launch(dim3 grid, dim3 block, size_t dynamic_shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block.x * block.y * block.z;
  if (block.y != 1 || block.z != 1 || threads == 0 || threads % 32 != 0 || threads > 1024)
    throw std::invalid_argument("emulated launch: block must be (32k, 1, 1) with k in 1..32, got " +
                                std::to_string(block.x) + "x" + std::to_string(block.y) + "x" +
                                std::to_string(block.z));
  Launch l;
  l.block_barrier = std::make_unique<std::barrier<>>(threads);
  for (unsigned w = 0; w < threads / 32; ++w) l.warp_barriers.push_back(std::make_unique<std::barrier<>>(32));
  l.shuffle_slots.assign(threads, 0);
  // Garbage, not zeros: kernels must not rely on shared memory starting cleared.
  l.dynamic_shared.assign(dynamic_shared_bytes, 0xA5);

  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      tls.launch = &l;
      tls.thread_idx = {t, 0, 0};
      tls.block_dim = block;
      tls.grid_dim = grid;
      for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
          for (unsigned bx = 0; bx < grid.x; ++bx) {
            tls.block_idx = {bx, by, bz};
            body();
            l.block_barrier->arrive_and_wait();  // the block's shared memory is reused next
          }
      tls.launch = nullptr;
    });
  }
  for (std::thread& th : pool) th.join();
}

}  // namespace zw_emu
